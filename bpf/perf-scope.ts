/**
 * Where the perf-event programs (sampled faults, major faults) count: the
 * kernel filters perf events by task and cgroup before any program runs, so
 * targets are turned into the events' scope instead of a check in BPF.
 *   every process -> one event per CPU;
 *   cgroups       -> one event per CPU per cgroup (its descendants included);
 *   pids          -> one event per thread of each process, inherited by the
 *                    threads it creates later (not by processes it forks).
 * A thread created between listing a process's threads and attaching to its
 * creator is not counted: attaching goes oldest thread first, which the
 * others are usually created by.
 */
import { readdirSync } from 'node:fs';
import type { NativeAddon, NativeBpfObject, PerfEventScope } from './native.js';
import { errnoOf } from './native.js';
import type { ResolvedTargets } from './targets.js';

export const PERF_TYPE_SOFTWARE = 1;
/** include/uapi/linux/perf_event.h: raised as a completed minor fault is accounted (minflt). */
export const PERF_COUNT_SW_PAGE_FAULTS_MIN = 5;
export const PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6;

export interface PerfProgram {
  readonly program: string;
  readonly config: number;
  readonly samplePeriod: number;
}

/** The threads of a process, oldest (lowest tid, the main thread first) first; [] when it is gone. */
export function threadsOf(pid: number, procRoot = '/proc'): number[] {
  try {
    return readdirSync(`${procRoot}/${pid}/task`)
      .map(Number)
      .filter((t) => Number.isInteger(t) && t > 0)
      .sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
  } catch {
    return [];
  }
}

export type ScopeSpec = { kind: 'cpus' } | { kind: 'cgroup'; path: string } | { kind: 'thread'; pid: number; tid: number };

/** The scopes for a set of targets (pure but for listing threads). */
export function scopesFor(targets: ResolvedTargets, listThreads: (pid: number) => number[] = threadsOf): ScopeSpec[] {
  if (targets.mode === 'cgroups') return targets.cgroupPaths.map((path) => ({ kind: 'cgroup' as const, path }));
  if (targets.mode === 'pids') return targets.pids.flatMap((pid) => listThreads(pid).map((tid) => ({ kind: 'thread' as const, pid, tid })));
  return [{ kind: 'cpus' }];
}

const ESRCH = 3;

/**
 * Attaches each program in each scope; returns the link ids per program. A
 * thread that exited meanwhile is skipped (its process's other threads count).
 */
export function attachScoped(obj: NativeBpfObject, addon: NativeAddon, programs: readonly PerfProgram[], scopes: readonly ScopeSpec[]): Map<string, number[]> {
  const links = new Map<string, number[]>(programs.map((p) => [p.program, []]));
  try {
    for (const scope of scopes) {
      let fd = -1;
      let native: PerfEventScope | undefined;
      if (scope.kind === 'cgroup') {
        fd = addon.openDirectory(scope.path);
        native = { cgroupFd: fd };
      } else if (scope.kind === 'thread') native = { tid: scope.tid };
      try {
        for (const p of programs) {
          try {
            links.get(p.program)!.push(...obj.attachPerfEvent(p.program, PERF_TYPE_SOFTWARE, p.config, p.samplePeriod, native));
          } catch (err) {
            if (scope.kind === 'thread' && errnoOf(err) === ESRCH) continue;
            throw err;
          }
        }
      } finally {
        // The perf event holds the cgroup itself; the directory fd is not needed after.
        if (fd >= 0) addon.closeFd(fd);
      }
    }
  } catch (err) {
    obj.detachLinks([...links.values()].flat());
    throw err;
  }
  return links;
}
