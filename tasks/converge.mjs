#!/usr/bin/env zx
// Entry point: `npx zx tasks/converge.mjs --help`. All logic lives in lib/ (compiled to dist/lib, bundled into dist/bundle by `npm run build`).
import { main } from '../dist/bundle/converge.js';
import { runTask } from '../dist/bundle/parser.js';
import { scriptArgs } from '../dist/bundle/argv.js';

process.exitCode = await runTask('converge', main, scriptArgs(import.meta.url));
