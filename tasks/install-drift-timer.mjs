#!/usr/bin/env zx
// Entry point: `npx zx tasks/install-drift-timer.mjs --help`. All logic lives in lib/ (compiled to dist/).
import { main } from '../dist/lib/cli/install-timer.js';
import { runTask } from '../dist/lib/cli/parser.js';
import { scriptArgs } from '../dist/lib/cli/argv.js';

process.exitCode = await runTask('install-drift-timer', main, scriptArgs(import.meta.url));
