/**
 * Targets: which processes the probes report on. Resolved and checked in user
 * space (a pid that exists, a cgroup v2 directory), then written into the BPF
 * target maps, where they can change while the probes run.
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { parseProcStat } from '../lib/procfs.js';

export interface TargetSpec {
  /** Process ids (thread group ids). Empty with no cgroups = every process. */
  readonly pids: readonly number[];
  /** cgroup v2 paths: absolute filesystem paths or paths under the cgroup2 mount. */
  readonly cgroups: readonly string[];
}

export interface ResolvedTargets {
  readonly mode: 'all' | 'pids' | 'cgroups';
  readonly pids: readonly number[];
  /** cgroup ids (the cgroup directory's inode number, as bpf_get_current_cgroup_id gives). */
  readonly cgroupIds: readonly bigint[];
  readonly cgroupPaths: readonly string[];
}

/** Where cgroup2 is mounted, from a /proc/self/mounts text (hybrid hosts mount it at .../unified). */
export function cgroup2MountPoint(mountsText: string): string | undefined {
  for (const line of mountsText.split('\n')) {
    const [, mountPoint, fsType] = line.split(' ');
    if (fsType === 'cgroup2' && mountPoint) return mountPoint.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** USER_HZ: /proc/PID/stat counts start times in these ticks on every Linux ABI. */
const TICKS_PER_SECOND = 100;

/**
 * Whether the process (pid, start time in boot-clock ns as the probes record
 * it) has exited: its pid is gone, is a zombie (its memory is released), or
 * now names a later process. startNs 0 (unknown) checks the pid only.
 */
export function processGone(pid: number, startNs: number): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  const stat = parseProcStat(text);
  if (stat.state === 'Z' || stat.state === 'X') return true;
  // Ticks are 10 ms: allow one of rounding either way.
  return startNs > 0 && Math.abs(Math.floor(startNs / (1e9 / TICKS_PER_SECOND)) - stat.startTicks) > 1;
}

export function processExists(pid: number): boolean {
  try {
    statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

function resolveCgroupPath(path: string, mountPoint: string): string {
  if (!isAbsolute(path)) return join(mountPoint, path);
  return path.startsWith(mountPoint + '/') || path === mountPoint ? path : join(mountPoint, path);
}

/** Checks each target and turns it into what the BPF maps hold. Errors name the bad target. */
export function resolveTargets(spec: TargetSpec, mountsText = readFileSync('/proc/self/mounts', 'utf8')): ResolvedTargets {
  if (spec.pids.length > 0 && spec.cgroups.length > 0) {
    throw new UsageError('targets: give pids or cgroups, not both');
  }
  for (const pid of spec.pids) {
    if (!Number.isInteger(pid) || pid <= 0) throw new UsageError(`targets.pids: '${pid}' is not a process id`);
    if (!processExists(pid)) throw new UsageError(`targets.pids: no process with pid ${pid}`);
  }
  const cgroupIds: bigint[] = [];
  const cgroupPaths: string[] = [];
  if (spec.cgroups.length > 0) {
    const mountPoint = cgroup2MountPoint(mountsText);
    if (!mountPoint) throw new UsageError('targets.cgroups: this host has no cgroup v2 mount, so cgroups cannot be targeted');
    for (const raw of spec.cgroups) {
      const path = resolve(resolveCgroupPath(raw, mountPoint));
      let ino: bigint;
      try {
        const st = statSync(path, { bigint: true });
        if (!st.isDirectory()) throw new Error('not a directory');
        statSync(join(path, 'cgroup.procs'));
        ino = st.ino;
      } catch {
        throw new UsageError(`targets.cgroups: '${raw}' is not a cgroup v2 directory (looked at ${path}; cgroup2 is mounted at ${mountPoint})`);
      }
      cgroupIds.push(ino);
      cgroupPaths.push(path);
    }
  }
  const mode = spec.pids.length > 0 ? 'pids' : spec.cgroups.length > 0 ? 'cgroups' : 'all';
  return { mode, pids: [...spec.pids], cgroupIds, cgroupPaths };
}
