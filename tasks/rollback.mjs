#!/usr/bin/env zx
// Entry point: `npx zx tasks/rollback.mjs --help`. All logic lives in lib/ (compiled to dist/).
import { main } from '../dist/lib/cli/rollback.js';
import { runTask } from '../dist/lib/cli/parser.js';
import { scriptArgs } from '../dist/lib/cli/argv.js';

process.exitCode = await runTask('rollback', main, scriptArgs(import.meta.url));
