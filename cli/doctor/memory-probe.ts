/**
 * The memory features pageloop observes and acts on: THP and per-size mTHP,
 * khugepaged, DAMON, swap and zram, NUMA balancing, PSI and the cgroup
 * layout. Parsers are pure; probeMemoryFacts reads through a HostReader.
 */
import { btfHasName } from './bpf-probe.js';
import { PATHS, numberOrNull, parseSelected, unescapeOctal, type HostReader, type MountEntry } from './host.js';

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

export interface MemoryFacts {
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

/**
 * The memory-side facts. `btfStrings` is kernel BTF's string section (DAMON's
 * operations sets are told by their functions there when no context exists),
 * `mounts` the parsed mountinfo.
 */
export function probeMemoryFacts(r: HostReader, btfStrings: Uint8Array | null, mounts: readonly MountEntry[]): MemoryFacts {
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
