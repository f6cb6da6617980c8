// ansible_ssh_common_args / ansible_ssh_extra_args: ssh options Ansible adds
// to its command line. An inventory puts its bastion there (`-o
// ProxyJump=ops@bastion`, `-J ops@bastion`): converge reads that as ssh_jump.
// Any other option is refused, naming it, rather than silently ignored.

export class SshArgsError extends Error {}

/**
 * The ProxyJump the options set: the jump, null for `none`, undefined when
 * they set none. Throws SshArgsError for any other option, or a chain of
 * jumps (converge goes through one bastion).
 */
export function jumpFromSshArgs(variable: string, value: unknown): string | null | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new SshArgsError(`${variable} must be a string of ssh options, got ${JSON.stringify(value)}`);
  const words = shellWords(value, variable);
  let jump: string | null | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    let option: string | undefined;
    if (w === '-J' || w === '-o') option = w === '-J' ? `proxyjump=${words[++i] ?? ''}` : words[++i];
    else if (w.startsWith('-J')) option = `proxyjump=${w.slice(2)}`;
    else if (w.startsWith('-o')) option = w.slice(2);
    const m = option === undefined ? null : /^\s*([A-Za-z]+)\s*(?:=|\s)\s*(.*?)\s*$/.exec(option);
    if (!m || m[1].toLowerCase() !== 'proxyjump') {
      throw new SshArgsError(`${variable}: converge reads only a ProxyJump (-J HOST, -o ProxyJump=HOST) from it, and \`${option ?? w}\` is not one`);
    }
    // ssh itself refuses some orders of two (-o ProxyJump=a -J b) and ignores the second in others.
    if (jump !== undefined) throw new SshArgsError(`${variable} gives more than one ProxyJump: keep one`);
    if (m[2] === '') throw new SshArgsError(`${variable}: a ProxyJump without a host`);
    if (m[2].includes(',')) throw new SshArgsError(`${variable}: ProxyJump ${m[2]} is a chain of bastions; converge goes through one`);
    jump = m[2].toLowerCase() === 'none' ? null : m[2];
  }
  return jump;
}

/** A string split into words as a POSIX shell would: quotes and backslashes, no expansion. */
function shellWords(text: string, variable: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'" || c === '"') {
      // In double quotes a backslash keeps \ " $ ` literal, so \" does not close them.
      let end = i + 1;
      while (end < text.length && text[end] !== c) end += c === '"' && text[end] === '\\' ? 2 : 1;
      if (end >= text.length) throw new SshArgsError(`${variable}: a ${c} is never closed`);
      const inside = text.slice(i + 1, end);
      word = (word ?? '') + (c === '"' ? inside.replace(/\\([\\"$`])/g, '$1') : inside);
      i = end;
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else word = (word ?? '') + c;
  }
  if (word !== null) words.push(word);
  return words;
}
