/**
 * Every process the chaos run starts, in one place, so one cleanup path can
 * end them all: on a normal end, on an error, and on SIGTERM/SIGINT (a test
 * runner's timeout, a person's ^C). Before this, a killed harness left the
 * sink, the processors, the agent (with its BPF programs) and the broker's
 * JVMs running.
 *
 * The pageloop services run detached, each in its own process group, so a
 * signal reaches the group (worker threads are in the process; anything
 * a service forks is in its group). The broker's nodes are detached by
 * deploy/kafka and outlive their starter by design: their pids are recorded
 * after every start and killed by pid. memtouch and the canary are plain
 * children, killed by pid.
 */

const groups = new Set<number>();
const pids = new Set<number>();

/** A detached child: its pid is its process group. */
export function trackGroup(pgid: number): void {
  groups.add(pgid);
}
export function untrackGroup(pgid: number): void {
  groups.delete(pgid);
}
/** A process that is not a group leader (or not ours to group): killed by pid. */
export function trackPid(pid: number): void {
  pids.add(pid);
}
export function untrackPid(pid: number): void {
  pids.delete(pid);
}

function send(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    // ESRCH: gone already
  }
}

/**
 * SIGKILL to every tracked group and pid, synchronously (usable from an
 * 'exit' handler). SIGCONT first: a process stopped by a stop-* fault would
 * otherwise keep the kill pending until it is continued.
 */
export function killAllNow(): number {
  let n = 0;
  for (const g of groups) {
    send(-g, 'SIGCONT');
    send(-g, 'SIGKILL');
    n++;
  }
  for (const p of pids) {
    send(p, 'SIGCONT');
    send(p, 'SIGKILL');
    n++;
  }
  groups.clear();
  pids.clear();
  return n;
}

/** What is still tracked (for the report and the harness's own test). */
export function tracked(): { groups: number[]; pids: number[] } {
  return { groups: [...groups], pids: [...pids] };
}

/**
 * On SIGTERM or SIGINT: run `cleanup` (the harness's one cleanup path: stop
 * the services, the broker, remove the work dirs) for at most `graceMs`,
 * then SIGKILL whatever is still tracked and exit 128+signal. A second
 * signal skips the grace. The 'exit' hook is the last resort for any other
 * way out (process.exit from an error path).
 */
export function installSignalCleanup(cleanup: () => Promise<void>, graceMs = 20_000, log: (line: string) => void = () => undefined): void {
  let signalled = false;
  const on = (sig: NodeJS.Signals): void => {
    const code = 128 + (sig === 'SIGINT' ? 2 : 15);
    if (signalled) {
      killAllNow();
      process.exit(code);
    }
    signalled = true;
    log(`${sig}: cleaning up`);
    const timer = setTimeout(() => {
      killAllNow();
      process.exit(code);
    }, graceMs);
    cleanup()
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        killAllNow();
        process.exit(code);
      });
  };
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
  process.on('exit', () => {
    killAllNow();
  });
}
