// Stands in for the `string-width` package in the CLI's bundle (package.json's
// build: --alias). string-width builds an Intl.Segmenter and compiles Unicode
// property regexes (RGI_Emoji) as soon as it is imported: 50-100 ms of every
// start-up, yet yargs and listr2, which import it, only call it to lay out
// --help and the terminal view. Here it is loaded on the first call instead.
// esbuild bundles the require below as a module initialised when first
// required; the path is a file, not the package name, so the alias does not
// send it back here. Only the bundle uses this file (plain ESM has no require).
type StringWidth = (text: string, options?: { ambiguousIsNarrow?: boolean; countAnsiEscapeCodes?: boolean }) => number;

let real: StringWidth | undefined;

export default function stringWidth(text: string, options?: Parameters<StringWidth>[1]): number {
  real ??= (require('../../../node_modules/string-width/index.js') as { default: StringWidth }).default;
  return real(text, options);
}
