// The project's own files (templates, remote scripts, the default inventory),
// found from here rather than from each module: compiled modules sit in
// dist/lib/ and the CLI's bundle in dist/bundle/, both two levels below the
// project root, so only this one relative path has to hold for both.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** A path inside the project, e.g. projectPath('templates', 'nginx/site.conf'). */
export const projectPath = (...parts: string[]): string => join(PROJECT_ROOT, ...parts);
