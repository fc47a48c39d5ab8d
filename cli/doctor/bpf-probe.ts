/**
 * The host as the BPF side sees it: privileges (uid, effective
 * capabilities), the kernel release, kernel BTF and the tracepoints
 * bpf/pageloop.bpf.c attaches to, tracefs, the bpf() syscall and JIT, perf
 * events and bpffs. Parsers are pure; probeBpfFacts reads through a HostReader.
 */
import { PATHS, numberOrNull, type CheckStatus, type HostReader, type MountEntry } from './host.js';

// Capability bits (include/uapi/linux/capability.h).
export const CAP_SYS_PTRACE = 19;
export const CAP_SYS_ADMIN = 21;
export const CAP_SYS_NICE = 23;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

export interface TracepointSpec {
  /** The tracefs subsystem directory (events/<subsystem>/<name>). */
  readonly subsystem: string;
  /** The tracepoint name; tp_btf/<name> attaches through the BTF type btf_trace_<name>. */
  readonly name: string;
  readonly mustHave: boolean;
  /** What goes without it (trace event families). */
  readonly usedBy: string;
}

/** The tracepoints bpf/pageloop.bpf.c attaches to (SEC("tp_btf/...")). */
export const TRACEPOINTS: readonly TracepointSpec[] = [
  { subsystem: 'exceptions', name: 'page_fault_user', mustHave: true, usedBy: 'fault, promotion' },
  { subsystem: 'kmem', name: 'mm_page_alloc', mustHave: true, usedBy: 'promotion' },
  { subsystem: 'huge_memory', name: 'mm_collapse_huge_page', mustHave: true, usedBy: 'collapse' },
  { subsystem: 'compaction', name: 'mm_compaction_begin', mustHave: true, usedBy: 'compaction' },
  { subsystem: 'compaction', name: 'mm_compaction_end', mustHave: true, usedBy: 'compaction' },
  { subsystem: 'compaction', name: 'mm_compaction_defer_compaction', mustHave: true, usedBy: 'compaction' },
  { subsystem: 'compaction', name: 'mm_compaction_deferred', mustHave: true, usedBy: 'compaction' },
  { subsystem: 'compaction', name: 'mm_compaction_wakeup_kcompactd', mustHave: true, usedBy: 'compaction' },
  { subsystem: 'kmem', name: 'rss_stat', mustHave: true, usedBy: 'swap (--swap-entries)' },
  { subsystem: 'vmscan', name: 'mm_vmscan_write_folio', mustHave: true, usedBy: 'swap' },
  { subsystem: 'vmscan', name: 'mm_vmscan_direct_reclaim_begin', mustHave: true, usedBy: 'swap' },
  { subsystem: 'vmscan', name: 'mm_vmscan_direct_reclaim_end', mustHave: true, usedBy: 'swap' },
  { subsystem: 'raw_syscalls', name: 'sys_enter', mustHave: false, usedBy: 'the ring-buffer benchmark' },
];

export interface ProcessIdentity {
  /** Effective uid. */
  readonly uid: number;
  /** Effective capability set (CapEff). */
  readonly capEff: bigint;
}

/** The Uid and CapEff lines of /proc/PID/status. */
export function parseProcStatus(text: string): ProcessIdentity | null {
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(text)?.[1];
  const cap = /^CapEff:\s+([0-9a-fA-F]+)/m.exec(text)?.[1];
  if (uid === undefined || cap === undefined) return null;
  return { uid: Number(uid), capEff: BigInt('0x' + cap) };
}

export function hasCap(capEff: bigint, bit: number): boolean {
  return ((capEff >> BigInt(bit)) & 1n) === 1n;
}

export interface KernelRelease {
  readonly release: string;
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** "6.18.44-fc-v595" → 6, 18, 44. */
export function parseKernelRelease(text: string): KernelRelease | null {
  const release = text.trim();
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) return null;
  return { release, major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function kernelAtLeast(k: KernelRelease, major: number, minor: number): boolean {
  return k.major > major || (k.major === major && k.minor >= minor);
}

const BTF_MAGIC = 0xeb9f;

/**
 * The string section of a raw BTF blob (struct btf_header: magic u16, version
 * u8, flags u8, hdr_len, type_off, type_len, str_off, str_len u32), or null
 * when it is not BTF. Searching only there keeps binary type data from matching.
 */
export function btfStringSection(btf: Uint8Array): Uint8Array | null {
  if (btf.byteLength < 24) return null;
  const dv = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  const le = dv.getUint16(0, true) === BTF_MAGIC;
  if (!le && dv.getUint16(0, false) !== BTF_MAGIC) return null;
  const hdrLen = dv.getUint32(4, le);
  const strOff = dv.getUint32(16, le);
  const strLen = dv.getUint32(20, le);
  const start = hdrLen + strOff;
  if (start + strLen > btf.byteLength) return null;
  return btf.subarray(start, start + strLen);
}

/**
 * Whether a BTF string section holds exactly `name`. Strings are
 * NUL-terminated and the section starts with the empty string, so a whole
 * name is always found between two NULs (no prefix matches).
 */
export function btfHasName(strings: Uint8Array, name: string): boolean {
  return Buffer.from(strings.buffer, strings.byteOffset, strings.byteLength).indexOf(`\0${name}\0`, 0, 'latin1') >= 0;
}

/**
 * A tracepoint's status: BTF decides (tp_btf needs btf_trace_<name>), tracefs
 * is the witness when BTF cannot be read (the btf check then reports that).
 */
export function tracepointStatus(spec: TracepointSpec, inBtf: boolean | null, inTracefs: boolean | null): CheckStatus {
  if (inBtf === true) return 'ok';
  if (inBtf === null && inTracefs === true) return 'warn';
  return spec.mustHave ? 'missing' : 'warn';
}

export interface TracepointFact extends TracepointSpec {
  /** btf_trace_<name> in kernel BTF; null when BTF is unreadable. */
  readonly inBtf: boolean | null;
  /** events/<subsystem>/<name> in tracefs; null when tracefs is not mounted. */
  readonly inTracefs: boolean | null;
}

export interface BpfFacts {
  readonly kernel: KernelRelease | null;
  readonly uid: number | null;
  /** CapEff as hex, as /proc shows it. */
  readonly capEff: string | null;
  readonly btfBytes: number | null;
  /** Where tracefs is readable (its events/ directory is visible). */
  readonly tracefs: string | null;
  /** Where tracefs is mounted per mountinfo; differs from `tracefs` when mounted but unreadable (mode 700, not root). */
  readonly tracefsMount: string | null;
  readonly tracepoints: TracepointFact[];
  readonly bpfStatsPresent: boolean;
  readonly bpfJitEnabled: number | null;
  readonly perfEventParanoid: number | null;
  readonly softwarePmu: boolean;
  readonly bpffs: string | null;
}

/**
 * The BPF-side facts. `btf` is the raw kernel BTF (read once by the caller:
 * the memory probe looks up DAMON names in it too), `mounts` the parsed mountinfo.
 */
export function probeBpfFacts(r: HostReader, btf: Uint8Array | null, mounts: readonly MountEntry[]): BpfFacts {
  const kernelText = r.readText(PATHS.osrelease);
  const status = r.readText(PATHS.status);
  const ident = status === null ? null : parseProcStatus(status);
  const btfStrings = btf === null ? null : btfStringSection(btf);
  const tracefs = PATHS.tracefsRoots.find((root) => r.exists(`${root}/events`)) ?? null;
  const tracefsMount = mounts.find((m) => m.fsType === 'tracefs' && (PATHS.tracefsRoots as readonly string[]).includes(m.mountPoint))?.mountPoint ?? null;
  const tracepoints = TRACEPOINTS.map(
    (tp): TracepointFact => ({
      ...tp,
      inBtf: btfStrings === null ? null : btfHasName(btfStrings, `btf_trace_${tp.name}`),
      inTracefs: tracefs === null ? null : r.exists(`${tracefs}/events/${tp.subsystem}/${tp.name}`),
    }),
  );
  return {
    kernel: kernelText === null ? null : parseKernelRelease(kernelText),
    uid: ident?.uid ?? null,
    capEff: ident === null ? null : ident.capEff.toString(16).padStart(16, '0'),
    btfBytes: btf?.byteLength ?? null,
    tracefs,
    tracefsMount,
    tracepoints,
    bpfStatsPresent: r.exists(PATHS.bpfStats),
    bpfJitEnabled: numberOrNull(r.readText(PATHS.bpfJit)),
    perfEventParanoid: numberOrNull(r.readText(PATHS.perfParanoid)),
    softwarePmu: r.exists(PATHS.softwarePmu),
    bpffs: mounts.find((m) => m.fsType === 'bpf' && m.mountPoint === PATHS.bpffs)?.mountPoint ?? null,
  };
}
