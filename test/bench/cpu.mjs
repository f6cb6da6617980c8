// CPU time, from /proc, in ms: the whole machine's (every process and the
// kernel's own work, such as loopback TCP) and this process's waited-for
// children's (a converge run the benchmark spawned). Both count in clock
// ticks (10 ms here): the benchmark averages them over its runs.
import { readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux whatever the kernel's HZ

/** The machine's busy CPU time (all CPUs, ms): /proc/stat's cpu line less idle and iowait. */
function machineBusy() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

/** CPU time (ms) of this process's children that have been waited for: fields 16 and 17 of /proc/self/stat. */
function childrenCpu() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS; // fields 3.. start at index 0
}

/** Processes (and threads) the machine has started since boot: /proc/stat's processes line. */
function started() {
  return Number(/^processes (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? NaN);
}

/**
 * Starts counting; the returned function gives the CPU time used since,
 * { machine, own } in ms, and the processes started since, machine-wide.
 */
export function cpuSince() {
  const m0 = machineBusy();
  const c0 = childrenCpu();
  const p0 = started();
  return () => ({ machine: machineBusy() - m0, own: childrenCpu() - c0, processes: started() - p0 });
}
