/**
 * The feedback agent's decisions as small pure functions over plain data:
 * which process a hint may touch, whether it is the process the hint means,
 * whether the region is really there, and what the kernel is asked to do.
 * Each returns a reason when it says no; the reason goes on the action record.
 */
import type { ProcessId } from '../schemas/identity.js';
import type { Hint, HintActionKind } from '../schemas/derived.js';
import { HINT_MAP_ACTION } from '../bpf/hint-map.js';
import { mappingContaining, type Vma } from './mappings.js';
import type { AllowList } from './config.js';

export type Verdict = { ok: true } | { ok: false; reason: string };
const OK: Verdict = { ok: true };
const no = (reason: string): Verdict => ({ ok: false, reason });

/** Regions in the hint map are 2^21 bytes (the probes' region_shift, a PMD). */
export const REGION_SHIFT = 21;
export const REGION_BYTES = 2 ** REGION_SHIFT;
/** USER_HZ: /proc/PID/stat counts start time in these ticks per second. */
export const USER_HZ = 100;
/** PF_KTHREAD in /proc/PID/stat's flags (field 9). */
export const PF_KTHREAD = 0x00200000;

/** madvise advice numbers (include/uapi/asm-generic/mman-common.h). */
export const MADV = { COLD: 20, PAGEOUT: 21, COLLAPSE: 25 } as const;
/** The page size MADV_COLLAPSE builds: a PMD, on x86-64 and arm64 with 4 KiB base pages. */
export const PMD_PAGE_KB = 2048;

// ---------------------------------------------------------------------------
// Record keys of pageloop.hints.v1: HOST|PID|START_NS|REGION_START
// ---------------------------------------------------------------------------

export interface HintKey {
  host: string;
  pid: number;
  startNs: number;
  regionStart: number;
}

export function hintKeyOf(h: Hint): string {
  return `${h.process.host}|${h.process.pid}|${h.process.startNs}|${h.region?.start ?? 0}`;
}

const UINT = /^(0|[1-9][0-9]*)$/;

/** The key's parts, or a reason. The host is returned whenever there is one, so others' keys can be ignored. */
export function parseHintKey(key: string): { ok: true; key: HintKey } | { ok: false; host: string; reason: string } {
  const parts = key.split('|');
  const host = parts[0] ?? '';
  if (parts.length !== 4) return { ok: false, host, reason: `key '${key}' is not HOST|PID|START_NS|REGION_START` };
  const nums = parts.slice(1).map((p) => (UINT.test(p) ? Number(p) : NaN));
  if (nums.some((n) => !Number.isSafeInteger(n))) return { ok: false, host, reason: `key '${key}' has a part that is not a whole number` };
  return { ok: true, key: { host, pid: nums[0]!, startNs: nums[1]!, regionStart: nums[2]! } };
}

// ---------------------------------------------------------------------------
// Hint fields the wire decoder leaves to us
// ---------------------------------------------------------------------------

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** What a decoded hint must also be before anything looks at the process; never guessed at. */
export function checkHintFields(h: Hint): Verdict {
  if (h.expiresNs === 0) return no('expiresNs: missing (0); a hint must say when it stops applying');
  if (h.action === 'reclaim_cgroup') {
    if (!h.cgroup.startsWith('/') || h.cgroup.split('/').includes('..')) return no(`cgroup: '${h.cgroup}' is not a cgroup path ('/...', no '..')`);
    if (!(h.bytes > 0)) return no('bytes: reclaim_cgroup needs bytes > 0');
    return OK;
  }
  const r = h.region!;
  if (h.process.pid === 0) return no('process.pid: 0 (only reclaim_cgroup hints name no process)');
  if (!(r.length > 0)) return no('region.length: 0');
  if (!Number.isSafeInteger(r.start + r.length)) return no(`region: start ${r.start} + length ${r.length} is past the address space`);
  if (h.action === 'promote' && (!isPowerOfTwo(h.pageSizeKb) || h.pageSizeKb < 8)) {
    return no(`pageSizeKb: promote wants a page size in KiB, a power of two >= 8, got ${h.pageSizeKb}`);
  }
  return OK;
}

/** The key names the same hint as the value: a record whose two halves disagree is malformed. */
export function checkKeyMatches(k: HintKey, h: Hint): Verdict {
  const v = { host: h.process.host, pid: h.process.pid, startNs: h.process.startNs, regionStart: h.region?.start ?? 0 };
  for (const f of ['host', 'pid', 'startNs', 'regionStart'] as const) {
    if (k[f] !== v[f]) return no(`key and value disagree on ${f}: key ${String(k[f])}, value ${String(v[f])}`);
  }
  return OK;
}

// ---------------------------------------------------------------------------
// The process
// ---------------------------------------------------------------------------

/** What /proc says about a process, read once per hint. */
export interface ProcessFacts {
  pid: number;
  comm: string;
  /** Start time in USER_HZ ticks since boot (/proc/PID/stat field 22). */
  startTicks: number;
  /** /proc/PID/stat field 9. */
  flags: number;
  /** /proc/PID/exe, or '' when it cannot be read (kernel threads have none). */
  exe: string;
  /** The process's cgroup path in each hierarchy (v2 '0::' and any v1 ones). */
  cgroups: string[];
}

/** Processes never touched whatever a hint or allow-list says. */
export function checkProtected(pid: number, selfPid: number): Verdict {
  if (pid === 1) return no('pid 1 (init) is never touched');
  if (pid <= 0) return no(`pid ${pid} is not a process`);
  if (pid === selfPid) return no(`pid ${pid} is pageloop itself, which is never touched`);
  return OK;
}

export function checkKernelThread(f: ProcessFacts): Verdict {
  if ((f.flags & PF_KTHREAD) !== 0) return no(`pid ${f.pid} (${f.comm}) is a kernel thread, which is never touched`);
  return OK;
}

export function startTicksOf(startNs: number, hz = USER_HZ): number {
  return Math.floor(startNs / (1e9 / hz));
}

/**
 * The hint names this process: same boot, and the pid's start time is the
 * hint's (a pid reused since the hint was made starts later).
 */
export function checkIdentity(p: ProcessId, f: ProcessFacts, bootId: string): Verdict {
  if (p.bootId !== bootId) return no(`boot id ${p.bootId} is not this boot (${bootId}): the process is from before a reboot`);
  const want = startTicksOf(p.startNs);
  if (f.startTicks !== want) {
    return no(`pid ${f.pid} started at tick ${f.startTicks}, the hint's process at tick ${want}: the pid was reused (or the hint is wrong)`);
  }
  return OK;
}

export function isAllowListEmpty(a: AllowList): boolean {
  return a.cgroups.length === 0 && a.executables.length === 0 && a.comms.length === 0;
}

/** '/a/b' is under '/a' and '/' but not under '/a/bc'. */
export function cgroupUnder(path: string, allowed: string): boolean {
  if (allowed === '/') return path.startsWith('/');
  const a = allowed.endsWith('/') ? allowed.slice(0, -1) : allowed;
  return path === a || path.startsWith(`${a}/`);
}

/** Whether the allow-list lets this process be touched, and by which entry. */
export function matchAllowList(a: AllowList, f: ProcessFacts): { ok: true; by: string } | { ok: false; reason: string } {
  if (isAllowListEmpty(a)) return { ok: false, reason: 'the allow-list is empty: nothing is touched' };
  if (a.comms.includes(f.comm)) return { ok: true, by: `comm ${f.comm}` };
  if (f.exe !== '' && a.executables.includes(f.exe)) return { ok: true, by: `executable ${f.exe}` };
  for (const allowed of a.cgroups) {
    const hit = f.cgroups.find((c) => cgroupUnder(c, allowed));
    if (hit !== undefined) return { ok: true, by: `cgroup ${allowed}` };
  }
  const exe = f.exe === '' ? 'unreadable' : f.exe;
  return { ok: false, reason: `pid ${f.pid} (comm ${f.comm}, exe ${exe}) is not on the allow-list` };
}

/** A cgroup-wide hint: its cgroup must be allowed by allow.cgroups. */
export function matchAllowedCgroup(a: AllowList, cgroup: string): Verdict {
  if (isAllowListEmpty(a)) return no('the allow-list is empty: nothing is touched');
  if (a.cgroups.some((allowed) => cgroupUnder(cgroup, allowed))) return OK;
  return no(`cgroup ${cgroup} is not on the allow-list`);
}

// ---------------------------------------------------------------------------
// The region
// ---------------------------------------------------------------------------

/** Mappings with these names are the kernel's, not the program's memory. */
const SPECIAL = /^\[(vdso|vvar|vvar_vclock|vsyscall|uprobes)\]$/;

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** [start, start + length) lies inside one current mapping of the process. */
export function checkRange(vmas: readonly Vma[], start: number, length: number): { ok: true; vma: Vma } | { ok: false; reason: string } {
  const vma = mappingContaining(vmas, start, length);
  if (!vma) return { ok: false, reason: `region ${hex(start)}+${length} is not inside one current mapping of the process` };
  if (SPECIAL.test(vma.path)) return { ok: false, reason: `region ${hex(start)}+${length} lies in ${vma.path}, which is the kernel's` };
  return { ok: true, vma };
}

/** Indexes of the hint-map regions [start, start + length) touches. */
export function regionIndexes(start: number, length: number): number[] {
  const first = Math.floor(start / REGION_BYTES);
  const last = Math.floor((start + length - 1) / REGION_BYTES);
  const out: number[] = [];
  for (let r = first; r <= last; r++) out.push(r);
  return out;
}

// ---------------------------------------------------------------------------
// What the kernel is asked to do
// ---------------------------------------------------------------------------

export const MAP_ACTION_OF: Readonly<Record<Exclude<HintActionKind, 'unspecified'>, number>> = {
  promote: HINT_MAP_ACTION.promote,
  keep_base_pages: HINT_MAP_ACTION.keep_base_pages,
  mark_cold: HINT_MAP_ACTION.mark_cold,
  page_out: HINT_MAP_ACTION.page_out,
  reclaim_cgroup: HINT_MAP_ACTION.reclaim_cgroup,
};

export type Enforcement =
  | { kind: 'madvise'; advice: number; adviceName: string }
  | { kind: 'map-only'; why: string }
  | { kind: 'reclaim' };

/** How a stock kernel carries out an action. */
export function enforcementOf(action: Exclude<HintActionKind, 'unspecified'>, pageSizeKb: number): Enforcement {
  switch (action) {
    case 'promote':
      if (pageSizeKb === PMD_PAGE_KB) return { kind: 'madvise', advice: MADV.COLLAPSE, adviceName: 'MADV_COLLAPSE' };
      return { kind: 'map-only', why: `no stock-kernel call builds ${pageSizeKb} KiB pages (MADV_COLLAPSE builds ${PMD_PAGE_KB} KiB): left to a fault-time hook reading the hint map` };
    case 'keep_base_pages':
      return { kind: 'map-only', why: 'process_madvise cannot set MADV_NOHUGEPAGE: left to a fault-time hook reading the hint map' };
    case 'mark_cold':
      return { kind: 'madvise', advice: MADV.COLD, adviceName: 'MADV_COLD' };
    case 'page_out':
      return { kind: 'madvise', advice: MADV.PAGEOUT, adviceName: 'MADV_PAGEOUT' };
    case 'reclaim_cgroup':
      return { kind: 'reclaim' };
  }
}
