/** Reads the /proc facts the policy decides on (feedback/policy.ts ProcessFacts). */
import { readFileSync, readlinkSync } from 'node:fs';
import { parseProcStat } from '../lib/procfs.js';
import type { ProcessFacts } from './policy.js';

/** Field 9 of /proc/PID/stat (flags), which lib/procfs does not keep. */
export function statFlags(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  return Number(rest[9 - 3]);
}

/** The path in every hierarchy of /proc/PID/cgroup ('0::/a/b', '4:memory:/x'). */
export function parseCgroupFile(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    out.push(line.slice(second + 1));
  }
  return out;
}

/** Throws ENOENT (via fs) when the process is gone. */
export function readProcessFacts(pid: number, procRoot = '/proc'): ProcessFacts {
  const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  const s = parseProcStat(stat);
  let exe = '';
  try {
    exe = readlinkSync(`${procRoot}/${pid}/exe`);
  } catch {
    // Kernel threads have no exe; a process exiting loses it: '' never matches an allow-list entry.
  }
  let cgroups: string[] = [];
  try {
    cgroups = parseCgroupFile(readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8'));
  } catch {
    // Gone meanwhile: no cgroup matches, and the act itself will fail on the pidfd.
  }
  return { pid: s.pid, comm: s.comm, startTicks: s.startTicks, flags: statFlags(stat), exe, cgroups };
}
