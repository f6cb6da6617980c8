#!/usr/bin/env zx
// Entry point: `npx zx tasks/install-drift-timer.mjs --help`. All logic lives in lib/ (compiled to dist/lib, bundled into dist/bundle by `npm run build`).
import { main } from '../dist/bundle/install-timer.js';
import { runTask } from '../dist/bundle/parser.js';
import { scriptArgs } from '../dist/bundle/argv.js';

process.exitCode = await runTask('install-drift-timer', main, scriptArgs(import.meta.url));
