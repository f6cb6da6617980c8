#!/usr/bin/env zx
// Entry point: `npx zx tasks/converge.mjs --help`. All logic lives in lib/ (compiled to dist/).
import { fileURLToPath } from 'node:url';
import { main } from '../dist/lib/cli/converge.js';

// Under zx, argv holds zx's own path before this script's: keep what follows the script.
const self = fileURLToPath(import.meta.url);
const at = process.argv.findIndex((a) => a === self || a.endsWith('tasks/converge.mjs'));
process.exitCode = await main(process.argv.slice(at + 1));
