/**
 * The kernel's own counters, read the way the tests and the agent compare
 * against them: /proc/PID/stat, /proc/vmstat, /proc/PID/smaps, mTHP stats.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  minflt: number;
  majflt: number;
  /** Start time in clock ticks since boot (field 22). */
  startTicks: number;
  /** CPU time in user and kernel mode, clock ticks (fields 14 and 15). */
  cpuTicks: number;
}

/** Parses /proc/PID/stat; comm may hold spaces and parentheses, so split at the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/PID/stat line: '${text.slice(0, 80)}'`);
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const field = (n: number) => Number(rest[n - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    minflt: field(10),
    majflt: field(12),
    startTicks: field(22),
    cpuTicks: field(14) + field(15),
  };
}

export function readProcStat(pid: number): ProcStat {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

export function parseVmstat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

export function readVmstat(): Map<string, number> {
  return parseVmstat(readFileSync('/proc/vmstat', 'utf8'));
}

/** b - a for each named counter. */
export function vmstatDelta(a: Map<string, number>, b: Map<string, number>, names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, (b.get(n) ?? 0) - (a.get(n) ?? 0)]));
}

export interface SmapsEntry {
  start: number;
  end: number;
  perms: string;
  offset: number;
  path: string;
  /** Fields in kB (Rss, AnonHugePages, Swap, ...). */
  fields: Record<string, number>;
}

export function parseSmaps(text: string): SmapsEntry[] {
  const entries: SmapsEntry[] = [];
  let current: SmapsEntry | undefined;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      current = {
        start: parseInt(header[1]!, 16),
        end: parseInt(header[2]!, 16),
        perms: header[3]!,
        offset: parseInt(header[4]!, 16),
        path: header[5] ?? '',
        fields: {},
      };
      entries.push(current);
      continue;
    }
    const field = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (field && current) current.fields[field[1]!] = Number(field[2]);
  }
  return entries;
}

export function readSmaps(pid: number): SmapsEntry[] {
  return parseSmaps(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
}

/** Sum of a smaps field (kB) over the mappings inside [start, end). */
export function smapsFieldInRange(entries: readonly SmapsEntry[], field: string, start: number, end: number): number {
  let kb = 0;
  for (const e of entries) if (e.start >= start && e.end <= end) kb += e.fields[field] ?? 0;
  return kb;
}

/** Per mTHP size (kB): the counters under hugepages-<size>kB/stats. */
export function readMthpStats(root = '/sys/kernel/mm/transparent_hugepage'): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  for (const dir of readdirSync(root)) {
    const m = /^hugepages-(\d+)kB$/.exec(dir);
    if (!m) continue;
    const stats: Record<string, number> = {};
    try {
      for (const name of readdirSync(`${root}/${dir}/stats`)) {
        stats[name] = Number(readFileSync(`${root}/${dir}/stats/${name}`, 'utf8').trim());
      }
    } catch {
      continue;
    }
    out.set(Number(m[1]), stats);
  }
  return out;
}

/** The boot id: with pid and start time, it names a process for good. */
export function readBootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/**
 * The pid a pidfd names, from /proc/self/fdinfo (no permission needed, unlike
 * signal 0): -1 once its process has been reaped and the pid is free again.
 */
export function pidOfPidfd(pidfd: number): number {
  const info = readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8');
  const m = /^Pid:\s*(-?\d+)$/m.exec(info);
  if (!m) throw new Error(`/proc/self/fdinfo/${pidfd} has no Pid: line (fd ${pidfd} is not a pidfd)`);
  return Number(m[1]);
}
