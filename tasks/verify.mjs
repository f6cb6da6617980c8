#!/usr/bin/env zx
// Entry point: `npx zx tasks/verify.mjs --help`. All logic lives in lib/ (compiled to dist/).
import { main } from '../dist/lib/cli/verify.js';
import { runTask } from '../dist/lib/cli/parser.js';
import { scriptArgs } from '../dist/lib/cli/argv.js';

process.exitCode = await runTask('verify', main, scriptArgs(import.meta.url));
