#!/usr/bin/env zx
// Entry point: `npx zx tasks/drift.mjs --help`. All logic lives in lib/ (compiled to dist/).
import { main } from '../dist/lib/cli/drift.js';
import { runTask } from '../dist/lib/cli/parser.js';
import { scriptArgs } from '../dist/lib/cli/argv.js';

process.exitCode = await runTask('drift', main, scriptArgs(import.meta.url));
