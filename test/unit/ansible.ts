// Ansible's own code, for the tests that check that converge reads an
// inventory and a host pattern as Ansible does (ansible-core, installed by
// test/lab/install.sh). Its home and temp files stay in a temporary directory.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../tempdir.js';

const home = tempDir('converge-ansible-');
const env = { ...process.env, HOME: home, ANSIBLE_LOCAL_TEMP: join(home, 'tmp') };
let written = 0;

/** A file in the temporary directory holding `text` (an inventory). */
export function ansibleFile(text: string, name = `inventory-${++written}`): string {
  const file = join(home, name);
  writeFileSync(file, text);
  return file;
}

/** `ansible-inventory -i FILE ARGS...`: its stdout. */
export function ansibleInventory(file: string, ...args: string[]): string {
  return execFileSync('ansible-inventory', ['-i', file, ...args], { encoding: 'utf8', env });
}

// Patterns go through Ansible's InventoryManager.get_hosts, which `ansible
// PATTERN` and --limit use: one Python process for them all (the CLI costs
// 0.4 s a pattern). Ansible's interpreter is the one its scripts name.
const PATTERNS = `
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import InventoryManager
inventory = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
for pattern in json.load(sys.stdin):
    try:
        print(json.dumps(sorted(h.name for h in inventory.get_hosts(pattern=pattern))))
    except Exception as e:
        print(json.dumps({"error": str(e)}))
`;

/** The hosts Ansible selects with each pattern, sorted by name, or the error it raises. */
export function ansibleSelects(file: string, patterns: string[]): (string[] | { error: string })[] {
  const script = execFileSync('sh', ['-c', 'command -v ansible-inventory'], { encoding: 'utf8' }).trim();
  const python = readFileSync(script, 'utf8').split('\n')[0].replace(/^#!\s*/, '').split(/\s+/);
  const out = execFileSync(python[0], [...python.slice(1), '-c', PATTERNS, file], { encoding: 'utf8', env, input: JSON.stringify(patterns) });
  return out.trim().split('\n').map((line) => JSON.parse(line) as string[] | { error: string });
}
