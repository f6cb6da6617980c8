// What a drift check notices that no file diff shows, read on the host over
// the check's own connection (RunOptions.inspect): the certificate nginx
// serves is about to expire, and files on disk are newer than the
// configuration nginx is running (edited, or renewed, and never reloaded).
// One privileged round trip; paths travel as arguments, nothing is written.
import { forHost, RemoteCommandError } from '../errors.js';
import { dumpSections, type HostFacts } from '../gather.js';
import type { Finding } from '../hostrun.js';
import type { HostConfig } from '../inventory.js';
import { privilegedRun, type Remote } from '../remote.js';
import { certificatePaths } from '../tls.js';
import { deployHookPath } from '../desired.js';

/**
 * $1 pid file (empty: nginx's compiled-in one), $2 nginx command, $3 the
 * certificate to read the expiry of (empty: none), then the files whose
 * modification times are compared with the start of nginx's current workers.
 * Prints: clock, pidfile, master (or nomaster), worker lines, one mtime line
 * per file (in order), cert.
 */
const INSPECT = `
pidfile=$1 nginx_cmd=$2 chain=$3; shift 3
echo "clock $(date +%s.%N) $(cut -d' ' -f1 /proc/uptime) $(getconf CLK_TCK 2>/dev/null || echo 100)"
if [ -z "$pidfile" ]; then
  v=$(eval "$nginx_cmd -V" 2>&1)
  pidfile=$(printf '%s\\n' "$v" | tr ' ' '\\n' | sed -n 's/^--pid-path=//p' | head -n 1)
  [ -n "$pidfile" ] || pidfile=/run/nginx.pid
  case $pidfile in
    /*) ;;
    *) prefix=$(printf '%s\\n' "$v" | tr ' ' '\\n' | sed -n 's/^--prefix=//p' | head -n 1)
       pidfile=\${prefix:-/usr/share/nginx}/$pidfile ;;
  esac
fi
echo "pidfile $(printf '%s' "$pidfile" | base64 -w0)"
master=$(tr -dc 0-9 < "$pidfile" 2>/dev/null)
if [ -n "$master" ] && [ -r "/proc/$master/stat" ] && tr '\\0' ' ' < "/proc/$master/cmdline" | grep -q '^nginx: master process'; then
  echo "master $master $(sed 's/.*) //' "/proc/$master/stat" | cut -d' ' -f20)"
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v m="$master" '{ pid = $1; sub(/.*\\) /, ""); if ($2 == m) print pid, $20 }' |
  while read -r pid start; do
    echo "worker $pid $start $(tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)"
  done
else
  echo "nomaster"
fi
for p in "$@"; do
  echo "mtime $(stat -c %y -- "$p" 2>/dev/null | tr ' ' _ || true) $(stat -L -c %y -- "$p" 2>/dev/null | tr ' ' _ || true)"
done
if [ -n "$chain" ] && [ -e "$chain" ]; then
  out=$(openssl x509 -noout -enddate -in "$chain" 2>&1); code=$?
  echo "cert $code $(printf '%s' "$out" | base64 -w0)"
else
  echo "cert none"
fi
`;

/** Times on the host's clock, in seconds since the epoch. */
export interface InspectFacts {
  pidFile: string;
  /** null: no nginx master process behind the pid file. */
  master: { pid: number; started: number } | null;
  /** Workers serving the current configuration (not those winding down). */
  workers: { pid: number; started: number }[];
  /** Per file asked about, in order: the later of the link's and the target's mtime; null if absent. */
  mtimes: (number | null)[];
  /** The host's clock when it answered. */
  now: number;
  cert: { code: number; output: string } | null;
}

/** `stat -c %y` (spaces replaced by _): "2026-11-26_15:44:06.957437567_+0000" -> seconds. */
export function parseStatTime(text: string): number | null {
  const m = /^(\d{4})-(\d\d)-(\d\d)_(\d\d):(\d\d):(\d\d)(?:\.(\d+))?_([+-])(\d\d)(\d\d)$/.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = '0', sign, oh, om] = m;
  const utc = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) / 1000;
  const offset = (sign === '-' ? -1 : 1) * (+oh * 3600 + +om * 60);
  return utc - offset + Number(`0.${frac}`);
}

/** openssl's `notAfter=Dec  8 10:00:00 2026 GMT` -> seconds. */
export function parseNotAfter(text: string): number | null {
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const m = /notAfter=(\w{3})\s+(\d{1,2})\s+(\d\d):(\d\d):(\d\d)(?:\.\d+)?\s+(\d{4})\s+GMT/.exec(text);
  if (!m || !MONTHS.includes(m[1])) return null;
  return Date.UTC(+m[6], MONTHS.indexOf(m[1]), +m[2], +m[3], +m[4], +m[5]) / 1000;
}

export function parseInspectOutput(stdout: string, fileCount: number): InspectFacts {
  const lines = stdout.split('\n');
  const fields = (prefix: string) => lines.find((l) => l.startsWith(`${prefix} `) || l === prefix)?.split(' ').slice(1);
  const clock = fields('clock');
  if (!clock || clock.length < 3) throw new Error(`unexpected answer: ${stdout.slice(0, 200)}`);
  const [now, uptime, hz] = clock.map(Number);
  // Process start times count clock ticks since boot: boot = now - uptime.
  const boot = now - uptime;
  const at = (ticks: string) => boot + Number(ticks) / (hz || 100);
  const masterLine = fields('master');
  const workers = lines
    .filter((l) => l.startsWith('worker '))
    .map((l) => l.split(' '))
    .filter((f) => f.slice(3).join(' ').trim() === 'nginx: worker process')
    .map((f) => ({ pid: Number(f[1]), started: at(f[2]) }));
  const mtimes = lines
    .filter((l) => l.startsWith('mtime '))
    .map((l) => {
      const times = l.split(' ').slice(1).map(parseStatTime).filter((t): t is number => t !== null);
      return times.length ? Math.max(...times) : null;
    });
  if (mtimes.length !== fileCount) throw new Error(`expected ${fileCount} file times, got ${mtimes.length}`);
  const certLine = fields('cert') ?? ['none'];
  return {
    pidFile: Buffer.from(fields('pidfile')?.[0] ?? '', 'base64').toString('utf8'),
    master: masterLine ? { pid: Number(masterLine[0]), started: at(masterLine[1]) } : null,
    workers,
    mtimes,
    now,
    cert: certLine[0] === 'none' ? null : { code: Number(certLine[0]), output: Buffer.from(certLine[1] ?? '', 'base64').toString('utf8') },
  };
}

/** Every file nginx loaded for `nginx -T` (its "# configuration file X:" headers). */
export function configFiles(dump: string): string[] {
  return [...new Set(dumpSections(dump).map((s) => s.file))];
}

/** The `pid` directive of an `nginx -T` dump; null when nginx uses its compiled-in default. */
export function pidDirective(dump: string): string | null {
  const m = /^\s*pid\s+("([^"]+)"|'([^']+)'|[^\s;]+)\s*;/m.exec(dump.replace(/(^|\s)#.*$/gm, '$1'));
  if (!m) return null;
  return m[2] ?? m[3] ?? m[1];
}

const DAY = 86_400;
/** Timer resolution of process start times and of /proc/uptime, with margin. */
const CLOCK_SLACK = 0.05;

const iso = (t: number) => new Date(Math.round(t) * 1000).toISOString().replace('.000Z', 'Z');

export interface EvaluateInput {
  files: string[];
  /** Certificate files: a newer one means a renewal nginx has not picked up. */
  certFiles: string[];
  chain: string;
  warnDays: number;
  deployHook: string;
}

/** The findings from what the host said (pure). */
export function evaluate(facts: InspectFacts, input: EvaluateInput): Finding[] {
  const findings: Finding[] = [];
  if (!facts.master) {
    findings.push({
      path: facts.pidFile,
      reason: 'no nginx master process is running (its pid file is missing, stale or not nginx\'s): the gateway is down; start nginx (e.g. systemctl start nginx) and check its error log',
    });
  } else {
    // The configuration nginx runs was read when its current workers started (reload or start).
    const loaded = facts.workers.length ? Math.min(...facts.workers.map((w) => w.started)) : facts.master.started;
    const all = [...input.files, ...input.certFiles];
    all.forEach((path, i) => {
      const mtime = facts.mtimes[i];
      if (mtime === null || mtime === undefined || mtime <= loaded + CLOCK_SLACK) return;
      const when = `modified ${iso(mtime)}, after nginx last loaded its configuration (${iso(loaded)})`;
      findings.push({
        path,
        reason: input.certFiles.includes(path)
          ? `${when}: nginx still serves the previous certificate; the renewal hook ${input.deployHook} should have reloaded it — run \`nginx -t\` then reload nginx`
          : `${when}: this change is not live yet — review it, run \`nginx -t\`, then reload nginx (or run converge)`,
      });
    });
  }
  if (facts.cert) {
    const notAfter = facts.cert.code === 0 ? parseNotAfter(facts.cert.output) : null;
    if (notAfter === null) {
      throw new RemoteCommandError(`cannot read the certificate's expiry date with openssl (exit ${facts.cert.code})`, {
        where: input.chain,
        detail: facts.cert.output,
        hint: 'install openssl on the host (apt-get install openssl); if the file is not a PEM certificate, run converge to obtain a new one',
      });
    }
    const days = (notAfter - facts.now) / DAY;
    if (days <= 0) {
      findings.push({ path: input.chain, reason: `the certificate expired on ${iso(notAfter)} (${Math.floor(-days)} day(s) ago): clients get TLS errors — run \`certbot renew\` and check certbot.timer and /var/log/letsencrypt` });
    } else if (days <= input.warnDays) {
      findings.push({ path: input.chain, reason: `the certificate expires on ${iso(notAfter)}, in ${Math.floor(days)} day(s) (cert_warn_days: ${input.warnDays}): renewal has not happened — check \`certbot renew --dry-run\`, certbot.timer and /var/log/letsencrypt` });
    }
  }
  return findings;
}

/** RunOptions.inspect for drift checks. */
export async function inspectHost(r: Remote, host: HostConfig, facts: HostFacts): Promise<Finding[]> {
  const v = host.vars;
  const findings: Finding[] = [];
  let files: string[] = [];
  // HostRun never gives inspection a cached dump: it needs the text.
  const dump = facts.dump;
  if (!dump) throw new Error('inspection needs the host read with its nginx -T dump');
  if (dump.code === 0) {
    files = configFiles(dump.text);
  } else {
    const first = dump.text.split('\n').find((l) => /\[(emerg|alert|crit)\]/.test(l)) ?? dump.text.trim().split('\n')[0] ?? '';
    findings.push({ path: v.nginx_conf, reason: `\`${v.nginx_command} -T\` fails (${first.trim()}): the configuration on disk would not load — a reload or restart would fail; fix it before anything reloads nginx` });
  }
  const cert = certificatePaths(v);
  const haveCert = Boolean(facts.exists.get(cert.chain) && facts.exists.get(cert.key));
  const certFiles = haveCert ? [cert.chain, cert.key] : [];
  // A dump that failed says nothing: nginx.conf itself usually holds the pid directive.
  const conf = facts.files.get(v.nginx_conf)?.content?.toString('utf8') ?? '';
  const pid = (dump.code === 0 ? pidDirective(dump.text) : null) ?? pidDirective(conf);
  const res = await privilegedRun(r, INSPECT, [pid ?? '', v.nginx_command, haveCert ? cert.chain : '', ...files, ...certFiles], undefined, { what: 'inspecting nginx and the certificate' });
  let answer: InspectFacts;
  try {
    if (res.code !== 0) throw new Error(`exit ${res.code}`);
    answer = parseInspectOutput(res.stdout.toString('utf8'), files.length + certFiles.length);
  } catch (err) {
    throw new RemoteCommandError(`reading nginx's processes, file times and certificate failed (${(err as Error).message})`, {
      host: host.name,
      where: r.transport.description,
      detail: res.stderr,
      hint: 'the host needs /proc, GNU stat, base64, awk and openssl; see the message above',
    });
  }
  try {
    findings.push(...evaluate(answer, { files, certFiles, chain: cert.chain, warnDays: v.cert_warn_days, deployHook: deployHookPath(v) }));
  } catch (err) {
    throw err instanceof RemoteCommandError ? forHost(err, host.name) : err;
  }
  return findings;
}
