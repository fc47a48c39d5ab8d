/**
 * Proactive reclaim of a cgroup through cgroup v2's memory.reclaim. On a
 * host whose cgroup v2 hierarchy has no memory controller (hybrid layouts,
 * where memory lives on cgroup v1) there is no such file, and the answer is
 * a refusal that says so, not a guess.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The cgroup v2 mount point from /proc/self/mountinfo text, if there is one. */
export function findCgroup2Root(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    // ... mount-point ... - fstype source options
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const fstype = line.slice(dash + 3).split(' ')[0];
    if (fstype !== 'cgroup2') continue;
    const mountPoint = line.slice(0, dash).split(' ')[4];
    if (mountPoint) return mountPoint.replace(/\\040/g, ' ');
  }
  return undefined;
}

export function cgroup2Root(configured: string): string | undefined {
  if (configured !== '') return configured;
  try {
    return findCgroup2Root(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

export type ReclaimResult =
  | { outcome: 'applied'; bytes: number; file: string }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'failed'; reason: string; errno: number };

/** Where memory.reclaim for `cgroup` would be, or why there is none. */
export function reclaimFile(root: string | undefined, cgroup: string): { ok: true; file: string } | { ok: false; reason: string } {
  if (root === undefined) return { ok: false, reason: 'memory.reclaim is unavailable: this host has no cgroup v2 hierarchy mounted' };
  const dir = join(root, cgroup);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return { ok: false, reason: `cgroup ${cgroup} does not exist under ${root}` };
  const file = join(dir, 'memory.reclaim');
  if (existsSync(file)) return { ok: true, file };
  let controllers = '';
  try {
    controllers = readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim();
  } catch {
    // Without the list the reason below is still right, just less specific.
  }
  const why = controllers.split(/\s+/).includes('memory')
    ? `the memory controller is not enabled for ${cgroup} (add +memory to its parent's cgroup.subtree_control)`
    : `the cgroup v2 hierarchy at ${root} has no memory controller (controllers: ${controllers || 'none'}); on a hybrid host memory is on cgroup v1, which has no memory.reclaim`;
  return { ok: false, reason: `memory.reclaim is unavailable for ${cgroup}: ${why}` };
}

/** Writes `bytes` to memory.reclaim. The kernel answers EAGAIN when it could not reclaim that much. */
export function reclaimCgroup(root: string | undefined, cgroup: string, bytes: number): ReclaimResult {
  const where = reclaimFile(root, cgroup);
  if (!where.ok) return { outcome: 'refused', reason: where.reason };
  try {
    writeFileSync(where.file, String(bytes));
    return { outcome: 'applied', bytes, file: where.file };
  } catch (err) {
    const code = err && typeof err === 'object' && 'errno' in err && typeof err.errno === 'number' ? Math.abs(err.errno) : 0;
    const msg = err instanceof Error ? err.message : String(err);
    return { outcome: 'failed', errno: code, reason: `writing ${bytes} to ${where.file}: ${msg}` };
  }
}
