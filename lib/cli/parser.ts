// The only importer of yargs: the options every task shares (inventory,
// selection, output), so converge, verify, drift and rollback agree on them.
import yargs, { type Argv } from 'yargs';
import { describeError, InputError } from '../errors.js';
import { redact } from '../secrets.js';
import { loadInventory, type HostConfig } from '../inventory.js';
import { selectHosts, withLimitFiles } from '../limit.js';
import { projectPath } from '../paths.js';

export const DEFAULT_INVENTORY = projectPath('inventory/production.yml');

export interface CommonArgs {
  inventory: string;
  limit?: string;
  json: boolean;
}

/** A parser with the shared options; callers add theirs and call parseAsync(). */
export function baseParser(argv: string[], script: string, description: string): Argv<CommonArgs> {
  return yargs(argv)
    .scriptName(`npx zx tasks/${script}`)
    .usage(`$0 [options]\n\n${description}`)
    .option('inventory', { alias: 'i', type: 'string', default: DEFAULT_INVENTORY, defaultDescription: 'inventory/production.yml', describe: 'inventory file (YAML, Ansible layout)' })
    .option('limit', { alias: 'l', type: 'string', coerce: joinRepeats, describe: 'hosts or groups to run on: names, globs, ~regex, a,b lists, &intersections, !exclusions, @FILE of names (may be repeated)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON report on stdout; progress goes to stderr' })
    .strict()
    .check(onceEach)
    .help()
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw new InputError(err?.message ?? msg, { hint: 'see --help' });
    }) as Argv<CommonArgs>;
}

/**
 * A list option given more than once (`--limit a --limit b`, `--tags maps
 * --tags vhost`, as Ansible allows) means the a,b list of its values. yargs
 * would hand the code an array where it expects a string.
 */
export function joinRepeats(value: string | string[]): string {
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * yargs check: any other option given twice is refused, naming both values,
 * rather than one silently winning (`-i a.yml -i b.yml` reads one inventory,
 * not both) or an array reaching code that expects one value.
 */
function onceEach(argv: Record<string, unknown>): true {
  for (const [key, value] of Object.entries(argv)) {
    // yargs also stores each option under its alias and its camelCase name: name it once, long.
    if (key === '_' || key.length === 1 || /[A-Z]/.test(key) || !Array.isArray(value)) continue;
    throw new InputError(`--${key} was given ${value.length} times (${value.join(', ')}): give it once`);
  }
  return true;
}

/**
 * The number an option was given, or an error that quotes what was typed
 * (yargs' number type turns "abc" into NaN and forgets it). Declare such an
 * option without a type and with requiresArg: yargs then parses digits as a
 * number and leaves anything else as the string typed. A count is a whole
 * number from 1; seconds, any number from 0.
 */
export function numberArg(option: string, value: unknown, kind: 'count' | 'seconds'): number {
  const n = typeof value === 'number' ? value : NaN;
  const ok = kind === 'count' ? Number.isInteger(n) && n >= 1 : Number.isFinite(n) && n >= 0;
  if (!ok) throw new InputError(`--${option} must be ${kind === 'count' ? 'a positive integer' : 'a number of seconds'}, got ${JSON.stringify(value)}`);
  return n;
}

/** The inventory's hosts that --limit selects (errors before any connection). */
export function selectedHosts(args: CommonArgs): HostConfig[] {
  return selectHosts(loadInventory(args.inventory), withLimitFiles(args.limit));
}

/**
 * Runs a task's main and turns any error escaping it (bad options included)
 * into one clear line on stderr and exit code 1: never a stack trace.
 */
export async function runTask(name: string, main: (argv: string[]) => Promise<number>, argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    const secret = process.env.IA_ENSO_OLLAMA_BEARER_TOKEN;
    process.stderr.write(`${name}: ${redact(describeError(err), secret ? [secret] : [])}\n`);
    return 1;
  }
}
