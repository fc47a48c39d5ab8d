/**
 * What this host offers pageloop: privileges, kernel BTF and the tracepoints
 * the BPF programs attach to, perf events, THP/mTHP, DAMON, swap and zram,
 * NUMA balancing, PSI, cgroups and bpffs. Everything is read from /proc and
 * /sys through an injected reader, so the decisions are testable with
 * literal file contents; nothing here writes to the host.
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

// ---------------------------------------------------------------- parsers

/** The bracketed choice of a sysfs selector: "always [madvise] never" → "madvise". */
export function parseSelected(text: string): string | null {
  const m = /\[([^\]\s]+)\]/.exec(text);
  return m?.[1] ?? null;
}

/** The kernel escapes space, tab, newline and backslash in paths as \ooo. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export interface SwapDevice {
  readonly path: string;
  /** partition or file */
  readonly type: string;
  readonly sizeKb: number;
  readonly usedKb: number;
  readonly priority: number;
}

/** /proc/swaps: a header line, then one whitespace-separated row per device. */
export function parseSwaps(text: string): SwapDevice[] {
  const out: SwapDevice[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[0] === '') continue;
    out.push({
      path: unescapeOctal(f[0]!),
      type: f[1]!,
      sizeKb: Number(f[2]),
      usedKb: Number(f[3]),
      priority: Number(f[4]),
    });
  }
  return out;
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

export interface CgroupLayout {
  readonly version: 'v1' | 'v2' | 'hybrid' | 'none';
  /** Where cgroup2 (the unified hierarchy) is mounted, if anywhere. */
  readonly unifiedMount: string | null;
  /** Controllers bound to v1 hierarchies (they cannot be used in v2 at the same time). */
  readonly v1Controllers: string[];
}

// Super options of a v1 cgroup mount that are not controller names.
const V1_NON_CONTROLLER = /^(rw|ro|xattr|noprefix|clone_children|cpuset_v2_mode|favordynmods|name=.*|release_agent=.*)$/;

export function cgroupLayout(mounts: readonly MountEntry[]): CgroupLayout {
  const v2 = mounts.find((m) => m.fsType === 'cgroup2');
  const v1 = mounts.filter((m) => m.fsType === 'cgroup');
  const v1Controllers = [...new Set(v1.flatMap((m) => m.superOptions.filter((o) => !V1_NON_CONTROLLER.test(o))))].sort();
  const version = v2 && v1.length > 0 ? 'hybrid' : v2 ? 'v2' : v1.length > 0 ? 'v1' : 'none';
  return { version, unifiedMount: v2?.mountPoint ?? null, v1Controllers };
}

export interface PsiLine {
  readonly avg10: number;
  readonly avg60: number;
  readonly avg300: number;
  /** Total stall time in microseconds. */
  readonly totalUs: number;
}

export interface Psi {
  readonly some: PsiLine;
  readonly full: PsiLine | null;
}

/** /proc/pressure/<resource>: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and a "full" line. */
export function parsePsi(text: string): Psi | null {
  const lines = new Map<string, PsiLine>();
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const v = new Map(pairs.map((p) => p.split('=') as [string, string]));
    const num = (k: string) => Number(v.get(k));
    const parsed = { avg10: num('avg10'), avg60: num('avg60'), avg300: num('avg300'), totalUs: num('total') };
    if (Object.values(parsed).some((n) => !Number.isFinite(n))) continue;
    lines.set(kind, parsed);
  }
  const some = lines.get('some');
  return some ? { some, full: lines.get('full') ?? null } : null;
}

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

/** DAMON's avail_operations: one operations-set name per line. */
export function parseDamonOperations(text: string): string[] {
  return text.split(/\s+/).filter((s) => s.length > 0);
}

/** The hugepages-<N>kB directory names under transparent_hugepage, as sizes in kB, ascending. */
export function mthpSizesKb(entries: readonly string[]): number[] {
  return entries
    .map((e) => /^hugepages-(\d+)kB$/.exec(e)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
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

// ---------------------------------------------------------------- the probe

export interface MthpSize {
  readonly sizeKb: number;
  /** The anonymous-memory setting, or null when the size has no `enabled` file (shmem-only sizes). */
  readonly enabled: string | null;
  /** `inherit` resolved against the top-level mode. */
  readonly effective: string | null;
  readonly shmemEnabled: string | null;
}

export interface ThpFacts {
  readonly enabled: string | null;
  readonly defrag: string | null;
  readonly shmemEnabled: string | null;
  readonly pmdSizeKb: number | null;
  readonly sizes: MthpSize[];
  /** khugepaged's numeric settings and counters, by file name; null when absent. */
  readonly khugepaged: Record<string, number> | null;
}

export interface TracepointFact extends TracepointSpec {
  /** btf_trace_<name> in kernel BTF; null when BTF is unreadable. */
  readonly inBtf: boolean | null;
  /** events/<subsystem>/<name> in tracefs; null when tracefs is not mounted. */
  readonly inTracefs: boolean | null;
}

export interface KdamondFact {
  readonly id: string;
  readonly state: string | null;
  readonly pid: number | null;
  readonly operations: string[];
}

export interface DamonFacts {
  readonly interface: 'sysfs' | 'debugfs' | 'none';
  /** Operations sets the kernel has (vaddr, fvaddr, paddr). */
  readonly operations: string[];
  /** Where `operations` came from: a context's avail_operations, or DAMON function names in BTF. */
  readonly operationsSource: 'sysfs' | 'btf' | 'none';
  readonly kdamonds: KdamondFact[];
  readonly aggregatedTracepoint: boolean | null;
}

export interface ZramDevice {
  readonly name: string;
  readonly disksizeBytes: number | null;
  readonly compAlgorithm: string | null;
  readonly swap: boolean;
}

export interface HostFacts {
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
  readonly thp: ThpFacts | null;
  readonly damon: DamonFacts;
  readonly swaps: SwapDevice[];
  readonly zram: ZramDevice[];
  readonly zramControl: boolean;
  readonly numaBalancing: number | null;
  readonly numaNodes: number | null;
  readonly psiMemory: Psi | null;
  readonly cgroup: CgroupLayout & { readonly v2Controllers: string[] | null };
}

export interface HostReport {
  /** False when any must-have is missing. */
  readonly ok: boolean;
  readonly checks: Check[];
  readonly host: HostFacts;
}

function numberOrNull(text: string | null): number | null {
  if (text === null || text.trim() === '') return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

function selectedOf(r: HostReader, path: string): string | null {
  const t = r.readText(path);
  return t === null ? null : parseSelected(t);
}

function probeThp(r: HostReader): ThpFacts | null {
  const entries = r.listDir(PATHS.thp);
  if (entries === null) return null;
  const enabled = selectedOf(r, `${PATHS.thp}/enabled`);
  const sizes = mthpSizesKb(entries).map((sizeKb): MthpSize => {
    const dir = `${PATHS.thp}/hugepages-${sizeKb}kB`;
    const own = selectedOf(r, `${dir}/enabled`);
    return {
      sizeKb,
      enabled: own,
      effective: own === 'inherit' ? enabled : own,
      shmemEnabled: selectedOf(r, `${dir}/shmem_enabled`),
    };
  });
  const pmd = numberOrNull(r.readText(`${PATHS.thp}/hpage_pmd_size`));
  let khugepaged: Record<string, number> | null = null;
  const khEntries = r.listDir(`${PATHS.thp}/khugepaged`);
  if (khEntries !== null) {
    khugepaged = {};
    for (const name of [...khEntries].sort()) {
      const n = numberOrNull(r.readText(`${PATHS.thp}/khugepaged/${name}`));
      if (n !== null) khugepaged[name] = n;
    }
  }
  return {
    enabled,
    defrag: selectedOf(r, `${PATHS.thp}/defrag`),
    shmemEnabled: selectedOf(r, `${PATHS.thp}/shmem_enabled`),
    pmdSizeKb: pmd === null ? null : pmd / 1024,
    sizes,
    khugepaged,
  };
}

const numericNames = (names: string[] | null): string[] =>
  (names ?? []).filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));

function probeDamon(r: HostReader, btfStrings: Uint8Array | null): DamonFacts {
  const iface = r.exists(PATHS.damonAdmin) ? 'sysfs' : r.exists(PATHS.damonDebugfs) ? 'debugfs' : 'none';
  const kdamonds: KdamondFact[] = [];
  let avail: string[] | null = null;
  const kdRoot = `${PATHS.damonAdmin}/kdamonds`;
  for (const id of numericNames(r.listDir(kdRoot))) {
    const dir = `${kdRoot}/${id}`;
    const operations: string[] = [];
    for (const ctx of numericNames(r.listDir(`${dir}/contexts`))) {
      const op = r.readText(`${dir}/contexts/${ctx}/operations`)?.trim();
      if (op) operations.push(op);
      // avail_operations only exists inside a context; creating one would write to the host.
      const a = r.readText(`${dir}/contexts/${ctx}/avail_operations`);
      if (a !== null && avail === null) avail = parseDamonOperations(a);
    }
    kdamonds.push({
      id,
      state: r.readText(`${dir}/state`)?.trim() ?? null,
      pid: numberOrNull(r.readText(`${dir}/pid`)),
      operations,
    });
  }
  let operations: string[] = [];
  let source: DamonFacts['operationsSource'] = 'none';
  if (avail !== null) {
    operations = avail;
    source = 'sysfs';
  } else if (btfStrings !== null && iface !== 'none') {
    // Without a context to ask, the operations sets' own functions in BTF tell which were built in.
    const probes: Array<[string, string]> = [
      ['vaddr', 'damon_va_check_accesses'],
      ['paddr', 'damon_pa_check_accesses'],
    ];
    operations = probes.filter(([, fn]) => btfHasName(btfStrings, fn)).map(([op]) => op);
    source = 'btf';
  }
  return {
    interface: iface,
    operations,
    operationsSource: source,
    kdamonds,
    aggregatedTracepoint: btfStrings === null ? null : btfHasName(btfStrings, 'btf_trace_damon_aggregated'),
  };
}

/** Gathers the facts; `checksFor` turns them into verdicts. */
export function probeFacts(r: HostReader = realHostReader): HostFacts {
  const kernelText = r.readText(PATHS.osrelease);
  const status = r.readText(PATHS.status);
  const ident = status === null ? null : parseProcStatus(status);
  const btf = r.readBytes(PATHS.btf);
  const btfStrings = btf === null ? null : btfStringSection(btf);
  const tracefs = PATHS.tracefsRoots.find((root) => r.exists(`${root}/events`)) ?? null;
  const mountinfo = r.readText(PATHS.mountinfo);
  const mounts = mountinfo === null ? [] : parseMountinfo(mountinfo);
  const tracefsMount = mounts.find((m) => m.fsType === 'tracefs' && (PATHS.tracefsRoots as readonly string[]).includes(m.mountPoint))?.mountPoint ?? null;
  const tracepoints = TRACEPOINTS.map(
    (tp): TracepointFact => ({
      ...tp,
      inBtf: btfStrings === null ? null : btfHasName(btfStrings, `btf_trace_${tp.name}`),
      inTracefs: tracefs === null ? null : r.exists(`${tracefs}/events/${tp.subsystem}/${tp.name}`),
    }),
  );
  const layout = cgroupLayout(mounts);
  const v2ControllersText = layout.unifiedMount === null ? null : r.readText(`${layout.unifiedMount}/cgroup.controllers`);
  const swapsText = r.readText(PATHS.swaps);
  const swaps = swapsText === null ? [] : parseSwaps(swapsText);
  const zram = (r.listDir(PATHS.block) ?? [])
    .filter((n) => /^zram\d+$/.test(n))
    .sort()
    .map((name): ZramDevice => {
      const alg = r.readText(`${PATHS.block}/${name}/comp_algorithm`);
      return {
        name,
        disksizeBytes: numberOrNull(r.readText(`${PATHS.block}/${name}/disksize`)),
        compAlgorithm: alg === null ? null : parseSelected(alg),
        swap: swaps.some((s) => s.path === `/dev/${name}`),
      };
    });
  const nodes = r.listDir(PATHS.nodes);
  const psiText = r.readText(PATHS.psiMemory);
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
    thp: probeThp(r),
    damon: probeDamon(r, btfStrings),
    swaps,
    zram,
    zramControl: r.exists(PATHS.zramControl),
    numaBalancing: numberOrNull(r.readText(PATHS.numaBalancing)),
    numaNodes: nodes === null ? null : nodes.filter((n) => /^node\d+$/.test(n)).length,
    psiMemory: psiText === null ? null : parsePsi(psiText),
    cgroup: {
      ...layout,
      v2Controllers: v2ControllersText === null ? null : v2ControllersText.trim().split(/\s+/).filter((c) => c.length > 0),
    },
  };
}

function check(
  id: string,
  title: string,
  mustHave: boolean,
  good: boolean,
  detail: string,
  fix: string,
): Check {
  // Only must-haves are ever 'missing'; an absent optional feature is a warning.
  return good ? { id, title, status: 'ok', mustHave, detail } : { id, title, status: mustHave ? 'missing' : 'warn', mustHave, detail, fix };
}

const yesNo = (b: boolean | null, what: string): string => (b === null ? `${what}: unknown` : `${what}: ${b ? 'yes' : 'no'}`);

function kb(n: number): string {
  return n >= 1024 * 1024 ? `${n / 1024 / 1024} GiB` : n >= 1024 ? `${n / 1024} MiB` : `${n} KiB`;
}

/** Groups mTHP sizes by their effective anonymous setting: "2048kB: inherit (madvise); 16-1024kB: never". */
function describeMthp(sizes: readonly MthpSize[]): string {
  const groups = new Map<string, number[]>();
  for (const s of sizes) {
    const label = s.enabled === null ? 'shmem only' : s.enabled === 'inherit' ? `inherit (${s.effective ?? '?'})` : s.enabled;
    groups.set(label, [...(groups.get(label) ?? []), s.sizeKb]);
  }
  return [...groups].map(([label, kbs]) => `${kbs.join(', ')}kB: ${label}`).join('; ');
}

/** Turns facts into verdicts: the kernel version, then the must-haves, then the rest. Pure. */
export function checksFor(h: HostFacts): Check[] {
  const checks: Check[] = [];
  const caps = h.capEff === null ? null : BigInt('0x' + h.capEff);
  const cap = (bit: number) => caps !== null && hasCap(caps, bit);

  // The version first: it explains most of what follows. Not a must-have by itself.
  checks.push(kernelCheck(h));

  // ---- must-haves
  {
    const names = [
      ['CAP_SYS_ADMIN', CAP_SYS_ADMIN],
      ['CAP_BPF', CAP_BPF],
      ['CAP_PERFMON', CAP_PERFMON],
    ] as const;
    const held = names.filter(([, bit]) => cap(bit)).map(([n]) => n);
    // CAP_SYS_ADMIN still implies BPF and perf rights (kernels before 5.8 know nothing else).
    const good = cap(CAP_SYS_ADMIN) || (cap(CAP_BPF) && cap(CAP_PERFMON));
    const who = h.uid === null ? 'uid unknown' : h.uid === 0 ? 'root (uid 0)' : `uid ${h.uid}`;
    const detail = caps === null ? 'cannot read /proc/self/status' : `${who}, effective capabilities: ${held.join(', ') || 'none of CAP_SYS_ADMIN/CAP_BPF/CAP_PERFMON'}`;
    checks.push(
      check('privileges', 'BPF privileges', true, good, detail,
        'run pageloop as root, or give it CAP_BPF and CAP_PERFMON (e.g. systemd AmbientCapabilities=CAP_BPF CAP_PERFMON)'),
    );
  }
  checks.push(
    check('btf', 'Kernel BTF', true, h.btfBytes !== null,
      h.btfBytes === null ? '/sys/kernel/btf/vmlinux is missing or unreadable' : `/sys/kernel/btf/vmlinux (${(h.btfBytes / 1024 / 1024).toFixed(1)} MiB)`,
      'boot a kernel built with CONFIG_DEBUG_INFO_BTF=y: tp_btf programs attach by BTF type'),
  );
  checks.push(bpfSyscallCheck(h));
  for (const tp of h.tracepoints) {
    const status = tracepointStatus(tp, tp.inBtf, tp.inTracefs);
    const where = [
      tp.inBtf === null ? 'BTF unreadable' : tp.inBtf ? `btf_trace_${tp.name} in BTF` : `no btf_trace_${tp.name} in BTF`,
      tp.inTracefs === null ? 'tracefs not mounted' : tp.inTracefs ? 'in tracefs' : 'not in tracefs',
    ].join('; ');
    const base = { id: `tp:${tp.subsystem}/${tp.name}`, title: `tracepoint ${tp.subsystem}:${tp.name}`, mustHave: tp.mustHave };
    checks.push(
      status === 'ok'
        ? { ...base, status, detail: `${where} (for ${tp.usedBy})` }
        : {
            ...base,
            status,
            detail: `${where}; without it: ${tp.usedBy}`,
            fix:
              tp.inBtf === null
                ? 'make kernel BTF available (see the btf check)'
                : `this kernel lacks the tracepoint; use a kernel that has it, or trace without it (pageloop trace --events <other families>)`,
          },
    );
  }

  // ---- optional
  // tp_btf attaches by BTF id, so tracefs is only the second witness for the tracepoints.
  checks.push(
    h.tracefs === null && h.tracefsMount !== null
      ? {
          id: 'tracefs',
          title: 'tracefs',
          status: 'warn',
          mustHave: false,
          detail: `mounted at ${h.tracefsMount} but not readable by this process`,
          fix: 'run as root to read tracefs (tp_btf programs attach without it)',
        }
      : check('tracefs', 'tracefs', false, h.tracefs !== null,
          h.tracefs === null ? 'not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing (tp_btf programs attach without it)' : `mounted at ${h.tracefs}`,
          'mount -t tracefs nodev /sys/kernel/tracing'),
  );
  checks.push(
    check('perf-events', 'perf events (major faults)', false, h.perfEventParanoid !== null && h.softwarePmu,
      `${h.perfEventParanoid === null ? 'perf_event_paranoid unreadable' : `perf_event_paranoid=${h.perfEventParanoid}`}; software PMU (PERF_COUNT_SW_PAGE_FAULTS_MAJ): ${h.softwarePmu ? 'yes' : 'no'}`,
      'use a kernel with CONFIG_PERF_EVENTS=y; without it there are no swap-in (major fault) events'),
  );
  checks.push(
    check('bpffs', 'bpffs', false, h.bpffs !== null,
      h.bpffs === null ? 'no bpf filesystem at /sys/fs/bpf (maps cannot be pinned for the feedback agent)' : `mounted at ${h.bpffs}`,
      'mount -t bpf bpf /sys/fs/bpf'),
  );
  checks.push(...thpChecks(h));
  checks.push(...damonChecks(h));
  checks.push(...swapChecks(h));
  {
    const nb = h.numaBalancing;
    const modes: Record<number, string> = { 0: 'off', 1: 'on', 2: 'memory tiering', 3: 'on + memory tiering' };
    const nodes = h.numaNodes === null ? '' : `, ${h.numaNodes} NUMA node${h.numaNodes === 1 ? '' : 's'}`;
    checks.push(
      check('numa-balancing', 'NUMA balancing', false, nb !== null && nb !== 0,
        nb === null ? 'kernel.numa_balancing absent (CONFIG_NUMA_BALANCING off)' : `kernel.numa_balancing=${nb} (${modes[nb] ?? '?'})${nodes}`,
        nb === null
          ? 'no hinting faults on this kernel: access data has to come from DAMON, clear_refs or refaults'
          : 'sysctl -w kernel.numa_balancing=1 to sample accesses as hinting faults (costs some faults; optional)'),
    );
  }
  {
    const p = h.psiMemory;
    const line = (name: string, l: PsiLine) => `${name} avg10=${l.avg10.toFixed(2)} total=${l.totalUs}us`;
    checks.push(
      check('psi', 'PSI memory pressure', false, p !== null,
        p === null ? '/proc/pressure/memory missing or unreadable' : [line('some', p.some), ...(p.full ? [line('full', p.full)] : [])].join(', '),
        'boot with psi=1 (a kernel with CONFIG_PSI=y)'),
    );
  }
  checks.push(cgroupCheck(h));
  {
    const good = cap(CAP_SYS_NICE) && cap(CAP_SYS_PTRACE);
    checks.push(
      check('feedback-privileges', 'process_madvise privileges', false, good,
        good ? 'CAP_SYS_NICE and CAP_SYS_PTRACE: the feedback agent may act on other processes' : 'missing CAP_SYS_NICE and/or CAP_SYS_PTRACE: process_madvise on other processes will fail',
        'run the feedback agent as root, or with CAP_SYS_NICE and CAP_SYS_PTRACE'),
    );
  }
  // One key order for every check, so the JSON reads the same throughout.
  return checks.map(({ id, title, status, mustHave, detail, fix }) => (fix === undefined ? { id, title, status, mustHave, detail } : { id, title, status, mustHave, detail, fix }));
}

function bpfSyscallCheck(h: HostFacts): Check {
  // kernel.bpf_stats_enabled only exists with CONFIG_BPF_SYSCALL; as root, unprivileged_bpf_disabled does not matter.
  return h.bpfStatsPresent
    ? {
        id: 'bpf-syscall',
        title: 'BPF syscall',
        status: 'ok',
        mustHave: true,
        detail: `kernel.bpf_stats_enabled present; JIT ${h.bpfJitEnabled === null ? 'unknown' : h.bpfJitEnabled === 0 ? 'off (interpreter)' : 'on'}`,
      }
    : {
        id: 'bpf-syscall',
        title: 'BPF syscall',
        status: 'missing',
        mustHave: true,
        detail: '/proc/sys/kernel/bpf_stats_enabled absent: no bpf() syscall',
        fix: 'use a kernel built with CONFIG_BPF_SYSCALL=y',
      };
}

function kernelCheck(h: HostFacts): Check {
  const k = h.kernel;
  const base = { id: 'kernel', title: 'Kernel version', mustHave: false };
  if (k === null) {
    return { ...base, status: 'warn', detail: '/proc/sys/kernel/osrelease unreadable', fix: 'check that /proc is mounted' };
  }
  const mthp = kernelAtLeast(k, 6, 8) ? ', per-size mTHP (≥ 6.8)' : '';
  if (kernelAtLeast(k, 6, 1)) {
    return { ...base, status: 'ok', detail: `${k.release}: process_madvise (≥ 5.10) and MADV_COLLAPSE (≥ 6.1)${mthp}` };
  }
  const lacks = kernelAtLeast(k, 5, 10) ? 'no MADV_COLLAPSE (needs 6.1): hints cannot promote regions' : 'no process_madvise (needs 5.10) nor MADV_COLLAPSE (needs 6.1): hints cannot be acted on';
  return { ...base, status: 'warn', detail: `${k.release}: ${lacks}`, fix: 'upgrade to Linux 6.1 or later' };
}

function thpChecks(h: HostFacts): Check[] {
  const t = h.thp;
  if (t === null) {
    const detail = `${PATHS.thp} absent: no transparent huge pages`;
    const fix = 'use a kernel with CONFIG_TRANSPARENT_HUGEPAGE=y';
    return [
      { id: 'thp', title: 'Transparent huge pages', status: 'warn', mustHave: false, detail, fix },
      { id: 'mthp', title: 'mTHP sizes', status: 'warn', mustHave: false, detail, fix },
      { id: 'khugepaged', title: 'khugepaged', status: 'warn', mustHave: false, detail, fix },
    ];
  }
  const out: Check[] = [];
  const pmd = t.pmdSizeKb === null ? '' : `, PMD size ${t.pmdSizeKb}kB`;
  out.push(
    check('thp', 'Transparent huge pages', false, t.enabled !== null && t.enabled !== 'never',
      `enabled=${t.enabled ?? '?'}, defrag=${t.defrag ?? '?'}, shmem_enabled=${t.shmemEnabled ?? '?'}${pmd}`,
      `echo madvise > ${PATHS.thp}/enabled (or always): with 'never' no huge page is ever given at fault time`),
  );
  out.push(
    check('mthp', 'mTHP sizes', false, t.sizes.length > 0,
      t.sizes.length > 0 ? describeMthp(t.sizes) : 'no hugepages-<size>kB controls (kernel before 6.8): only PMD-sized THP',
      'Linux 6.8 or later for multi-size THP (e.g. 64 KiB pages)'),
  );
  const kh = t.khugepaged;
  const keys = ['pages_to_scan', 'scan_sleep_millisecs', 'max_ptes_none', 'max_ptes_swap', 'defrag', 'pages_collapsed', 'full_scans'];
  out.push(
    check('khugepaged', 'khugepaged', false, kh !== null,
      kh === null ? `${PATHS.thp}/khugepaged absent` : keys.filter((k) => k in kh).map((k) => `${k}=${kh[k]}`).join(', '),
      'use a kernel with CONFIG_TRANSPARENT_HUGEPAGE=y'),
  );
  return out;
}

function damonChecks(h: HostFacts): Check[] {
  const d = h.damon;
  const ops = d.operations.length > 0 ? d.operations.join(', ') : 'none found';
  const from = d.operationsSource === 'sysfs' ? 'avail_operations' : d.operationsSource === 'btf' ? 'DAMON functions in BTF' : 'unknown';
  const kds = d.kdamonds.map((k) => `kdamond ${k.id} ${k.state ?? '?'}${k.pid !== null && k.pid > 0 ? ` pid ${k.pid}` : ''}${k.operations.length ? ` (${k.operations.join(', ')})` : ''}`);
  const detail =
    d.interface === 'none'
      ? 'no DAMON (neither /sys/kernel/mm/damon/admin nor debugfs damon)'
      : [
          `${d.interface === 'sysfs' ? 'sysfs interface' : 'debugfs interface only (deprecated)'}`,
          `operations: ${ops} (from ${from})`,
          kds.length > 0 ? kds.join(', ') : 'no kdamonds',
          yesNo(d.aggregatedTracepoint, 'damon_aggregated tracepoint'),
        ].join('; ');
  const vaddr = d.operations.includes('vaddr');
  return [
    check('damon', 'DAMON', false, d.interface === 'sysfs', detail,
      d.interface === 'debugfs' ? 'use a kernel with CONFIG_DAMON_SYSFS=y' : 'use a kernel with CONFIG_DAMON=y and CONFIG_DAMON_SYSFS=y'),
    check('damon-vaddr', 'DAMON virtual-address monitoring', false, vaddr,
      vaddr ? 'vaddr operations set present: per-process access frequency available' : `no vaddr operations set (have: ${ops})`,
      'use a kernel with CONFIG_DAMON_VADDR=y; until then access data comes from NUMA-balancing hinting faults, clear_refs and refaults'),
  ];
}

function swapChecks(h: HostFacts): Check[] {
  const devices = h.swaps.map((s) => `${s.path} (${s.type}, ${kb(s.sizeKb)}, ${kb(s.usedKb)} used, prio ${s.priority})`);
  const idleZram = h.zram.find((z) => z.disksizeBytes === 0);
  const swapFix = idleZram
    ? `echo 1G > /sys/block/${idleZram.name}/disksize && mkswap /dev/${idleZram.name} && swapon /dev/${idleZram.name}`
    : h.zramControl
      ? 'add a zram device (cat /sys/class/zram-control/hot_add prints its number N), then echo 1G > /sys/block/zramN/disksize && mkswap /dev/zramN && swapon /dev/zramN'
      : 'modprobe zram && echo 1G > /sys/block/zram0/disksize && mkswap /dev/zram0 && swapon /dev/zram0';
  const zram = h.zram.map(
    (z) => `${z.name} (${z.disksizeBytes === null ? 'size ?' : z.disksizeBytes === 0 ? 'not set up' : kb(z.disksizeBytes / 1024)}${z.compAlgorithm ? `, ${z.compAlgorithm}` : ''}${z.swap ? ', swap' : ''})`,
  );
  return [
    check('swap', 'Swap', false, h.swaps.length > 0,
      h.swaps.length > 0 ? devices.join(', ') : 'no swap device in /proc/swaps: anonymous pages cannot be swapped out, so no swap events',
      swapFix),
    check('zram', 'zram', false, h.zram.length > 0 || h.zramControl,
      h.zram.length > 0 || h.zramControl ? `${zram.length > 0 ? zram.join(', ') : 'no devices'}; zram-control: ${h.zramControl ? 'yes' : 'no'}` : 'zram module not loaded',
      'modprobe zram'),
  ];
}

function cgroupCheck(h: HostFacts): Check {
  const c = h.cgroup;
  const base = { id: 'cgroup', title: 'cgroups', mustHave: false };
  const v2c = c.v2Controllers === null ? '?' : c.v2Controllers.join(' ') || 'none';
  const memoryOnV2 = c.v2Controllers?.includes('memory') ?? false;
  const unifiedFix = 'boot with systemd.unified_cgroup_hierarchy=1 (and cgroup_no_v1=all) so the memory controller is on cgroup v2';
  switch (c.version) {
    case 'v2':
      return memoryOnV2
        ? { ...base, status: 'ok', detail: `v2 at ${c.unifiedMount}; controllers: ${v2c}` }
        : { ...base, status: 'warn', detail: `v2 at ${c.unifiedMount} without the memory controller (controllers: ${v2c}): no memory.reclaim`, fix: `enable it: echo +memory > ${c.unifiedMount}/cgroup.subtree_control` };
    case 'hybrid':
      return memoryOnV2
        ? { ...base, status: 'ok', detail: `hybrid: cgroup2 at ${c.unifiedMount} (controllers: ${v2c}); v1: ${c.v1Controllers.join(', ')}` }
        : {
            ...base,
            status: 'warn',
            detail: `hybrid: cgroup2 at ${c.unifiedMount} (controllers: ${v2c}); v1: ${c.v1Controllers.join(', ')}. The memory controller is on v1, so memory.reclaim (proactive reclaim) is unavailable; --cgroup targeting by cgroup2 path still works`,
            fix: unifiedFix,
          };
    case 'v1':
      return { ...base, status: 'warn', detail: `v1 only (${c.v1Controllers.join(', ')}): no --cgroup targeting, no memory.reclaim`, fix: unifiedFix };
    case 'none':
      return { ...base, status: 'warn', detail: 'no cgroup filesystem mounted', fix: 'mount -t cgroup2 none /sys/fs/cgroup' };
  }
}

/** Probes the host and judges it: `ok` is false when any must-have is missing. */
export function probeHost(reader: HostReader = realHostReader): HostReport {
  const host = probeFacts(reader);
  const checks = checksFor(host);
  return { ok: !checks.some((c) => c.mustHave && c.status === 'missing'), checks, host };
}
