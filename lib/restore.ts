// tasks/rollback.mjs: the desired state is a kept backup run instead of the
// templates. Paths the run replaced get their saved copy back; paths it
// created are removed. The usual plan/apply/validate/reload/verify follows.
import { deployHookPath, mapsPath, siteLinkPath, type FileSpec, type Stage } from './desired.js';
import { InputError } from './errors.js';
import { listBackups, type Manifest } from './backups.js';
import { gather } from './gather.js';
import type { Remote } from './remote.js';
import type { HostVars } from './variables.js';

function stageOf(v: HostVars, path: string): Stage {
  if (path === deployHookPath(v)) return 'tls';
  if (path === mapsPath(v)) return 'maps';
  if (path === siteLinkPath(v)) return 'enable';
  return 'vhost';
}

export async function chooseBackup(r: Remote, v: HostVars, run: string | null): Promise<Manifest> {
  const all = await listBackups(r, v.backup_dir);
  // A run that died half-way changed files too: undoing it is what its backup is for.
  const candidates = all.filter((m) => m.state === 'applied' || m.state === 'interrupted');
  const pick = run ? all.find((m) => m.run === run) : candidates[candidates.length - 1];
  if (!pick) {
    throw new InputError(run ? `no backup run ${run} on the host` : 'no backup run to restore on the host', {
      host: r.host,
      where: v.backup_dir,
      hint: all.length > 0 ? `kept runs: ${all.map((m) => `${m.run} (${m.state})`).join(', ')}` : 'backups are made by converge runs that change files',
    });
  }
  return pick;
}

/** The files as they were before the chosen run, read from its backup directory. */
export async function restoreSpecs(r: Remote, v: HostVars, m: Manifest): Promise<FileSpec[]> {
  const saved = m.entries.filter((e) => e.backup).map((e) => e.backup!);
  const facts = (await gather(r, v.nginx_command, saved)).files;
  return m.entries.map((e): FileSpec => {
    // As desiredFiles() marks them: the renewal hook is not nginx's, so restoring
    // it alone needs no nginx -t or reload, and does not rule out the scratch test.
    const base = { stage: stageOf(v, e.path), path: e.path, secret: e.path === mapsPath(v), outsideNginx: e.path === deployHookPath(v) };
    if (!e.existed) return { ...base, absent: true, mode: 0, owner: 'root', group: 'root' };
    const f = facts.get(e.backup!);
    if (!f || f.kind === 'absent') {
      throw new InputError(`the backup copy of ${e.path} is missing`, { host: r.host, where: e.backup!, hint: 'choose another run with --to' });
    }
    const owner = { mode: f.mode ?? 0o644, owner: f.owner ?? 'root', group: f.group ?? 'root' };
    return f.kind === 'link' ? { ...base, ...owner, linkTo: f.linkTo } : { ...base, ...owner, content: f.content!.toString('utf8') };
  });
}

