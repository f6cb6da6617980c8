// The only importer of yargs: the options every task shares (inventory,
// selection, output), so converge, verify, drift and rollback agree on them.
import yargs, { type Argv } from 'yargs';
import { describeError, InputError } from '../errors.js';
import { redact } from '../secrets.js';
import { loadInventory, type HostConfig } from '../inventory.js';
import { selectHosts } from '../limit.js';
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
    .option('limit', { alias: 'l', type: 'string', describe: 'hosts or groups to run on: names, globs, a,b lists, !exclusions' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON report on stdout; progress goes to stderr' })
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw new InputError(err?.message ?? msg, { hint: 'see --help' });
    }) as Argv<CommonArgs>;
}

/** The inventory's hosts that --limit selects (errors before any connection). */
export function selectedHosts(args: CommonArgs): HostConfig[] {
  return selectHosts(loadInventory(args.inventory), args.limit);
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
