#!/usr/bin/env zx
// Entry point: `npx zx tasks/converge.mjs --help`. All logic lives in lib/ (compiled to dist/).
import { main } from '../dist/lib/cli/converge.js';
import { runTask } from '../dist/lib/cli/parser.js';
import { scriptArgs } from '../dist/lib/cli/argv.js';

process.exitCode = await runTask('converge', main, scriptArgs(import.meta.url));
