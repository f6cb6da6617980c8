#!/usr/bin/env zx
// Entry point: `npx zx tasks/rollback.mjs --help`. All logic lives in lib/ (compiled to dist/lib, bundled into dist/bundle by `npm run build`).
import { main } from '../dist/bundle/rollback.js';
import { runTask } from '../dist/bundle/parser.js';
import { scriptArgs } from '../dist/bundle/argv.js';

process.exitCode = await runTask('rollback', main, scriptArgs(import.meta.url));
