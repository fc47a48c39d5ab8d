/**
 * How `pageloop doctor` reads the host, and what every probe shares: the
 * finding type, the injected reader (so decisions are testable with literal
 * file contents), the files read, and the parsers more than one probe uses.
 * Nothing here writes to the host.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';

export type CheckStatus = 'ok' | 'missing' | 'warn';

/**
 * One finding. `missing` is reserved for must-haves (pageloop cannot run
 * without them); an optional feature that is absent is a `warn`.
 */
export interface Check {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  readonly mustHave: boolean;
  readonly detail: string;
  /** What to do about it, in words; only set when status is not ok. */
  readonly fix?: string;
}

/** How the probe sees the host. Every method answers null/false instead of throwing. */
export interface HostReader {
  /** The file's text, or null when absent or unreadable. */
  readText(path: string): string | null;
  /** The file's bytes, or null when absent or unreadable. */
  readBytes(path: string): Uint8Array | null;
  /** Entry names, or null when not a readable directory. */
  listDir(path: string): string[] | null;
  exists(path: string): boolean;
}

export const realHostReader: HostReader = {
  readText(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  },
  readBytes(path) {
    try {
      return readFileSync(path);
    } catch {
      return null;
    }
  },
  listDir(path) {
    try {
      return readdirSync(path);
    } catch {
      return null;
    }
  },
  exists: (path) => existsSync(path),
};

export const PATHS = {
  status: '/proc/self/status',
  osrelease: '/proc/sys/kernel/osrelease',
  btf: '/sys/kernel/btf/vmlinux',
  bpfStats: '/proc/sys/kernel/bpf_stats_enabled',
  bpfJit: '/proc/sys/net/core/bpf_jit_enable',
  tracefsRoots: ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'],
  perfParanoid: '/proc/sys/kernel/perf_event_paranoid',
  softwarePmu: '/sys/bus/event_source/devices/software',
  thp: '/sys/kernel/mm/transparent_hugepage',
  damonAdmin: '/sys/kernel/mm/damon/admin',
  damonDebugfs: '/sys/kernel/debug/damon',
  swaps: '/proc/swaps',
  block: '/sys/block',
  zramControl: '/sys/class/zram-control',
  numaBalancing: '/proc/sys/kernel/numa_balancing',
  nodes: '/sys/devices/system/node',
  psiMemory: '/proc/pressure/memory',
  mountinfo: '/proc/self/mountinfo',
  bpffs: '/sys/fs/bpf',
} as const;

/** The bracketed choice of a sysfs selector: "always [madvise] never" → "madvise". */
export function parseSelected(text: string): string | null {
  const m = /\[([^\]\s]+)\]/.exec(text);
  return m?.[1] ?? null;
}

/** The kernel escapes space, tab, newline and backslash in paths as \ooo. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: string[];
}

/**
 * /proc/self/mountinfo: "id parent maj:min root mountpoint opts [optional...] - fstype source superopts".
 * The optional fields vary in number, so split at the " - " separator.
 */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    const fsType = right[0];
    if (mountPoint === undefined || fsType === undefined) continue;
    out.push({
      mountPoint: unescapeOctal(mountPoint),
      fsType,
      source: unescapeOctal(right[1] ?? ''),
      superOptions: (right[2] ?? '').split(',').filter((o) => o.length > 0),
    });
  }
  return out;
}

/** A number from a one-value file ("1\n"), or null when absent, empty or not a number. */
export function numberOrNull(text: string | null): number | null {
  if (text === null || text.trim() === '') return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}
