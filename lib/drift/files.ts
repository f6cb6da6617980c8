// Files a drift run leaves for others to read (the report, the metrics, the
// history): written to a temp file in the same directory then renamed, so a
// reader (node_exporter, a dashboard, a person) never sees half a file.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConvergeError } from '../errors.js';
import type { DriftReport } from './report.js';

/** Writes `content` to `path` atomically (temp + fsync + rename); creates the directory. */
export function writeAtomic(path: string, content: string, mode = 0o644): void {
  const dir = dirname(path);
  // A hidden name that matches no *.prom / *.json glob of a reader.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const fd = openSync(tmp, 'w', mode);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the directory itself is the problem: nothing was created
    }
    throw new ConvergeError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).message}`, {
      where: path,
      hint: `check that ${dir} exists or can be created and is writable by ${process.env.USER ?? 'this user'}`,
    });
  }
}

const HISTORY_NAME = /^drift-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z(-\d+)?\.json$/;

/** drift-2026-11-26T15-41-30.123Z.json: sorts by time, no colons. */
export function historyName(timestamp: string): string {
  return `drift-${timestamp.replace(/:/g, '-')}.json`;
}

/** The history's report files, oldest first. */
export function historyFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => HISTORY_NAME.test(n)).sort().map((n) => join(dir, n));
}

/** Earlier reports, newest first (unreadable or foreign files are skipped). */
export function earlierReports(files: string[]): DriftReport[] {
  const out: DriftReport[] = [];
  for (const f of [...files].reverse()) {
    try {
      const doc = JSON.parse(readFileSync(f, 'utf8')) as DriftReport;
      if (doc.kind === 'converge-drift' && Array.isArray(doc.hosts)) out.push(doc);
    } catch {
      // not a report (or being replaced): ignore
    }
  }
  return out;
}

/** Adds the report to the history and removes the oldest beyond `keep`. Returns the file written. */
export function saveHistory(dir: string, report: DriftReport, text: string, keep: number): string {
  let file = join(dir, historyName(report.timestamp));
  for (let i = 1; historyFiles(dir).includes(file); i++) file = join(dir, historyName(report.timestamp).replace(/\.json$/, `-${i}.json`));
  writeAtomic(file, text, 0o640);
  const files = historyFiles(dir);
  for (const old of files.slice(0, Math.max(0, files.length - keep))) rmSync(old, { force: true });
  return file;
}
