/**
 * The probes component: loads pageloop.bpf.o with the chosen families and
 * settings, sets targets, drains the ring buffer and sweeps the in-kernel
 * fault aggregation into summaries. A factory plus a typed config with named
 * defaults and a validate() whose errors name the key.
 */
import { UsageError } from '../lib/errors.js';
import { FAMILIES, decodeBatch, type FamilyName, type FaultSummary, type ProbeEvent } from './events.js';
import {
  FaultMode,
  TargetMode,
  decodeFaultCache,
  decodeFaultKey,
  decodeFaultStats,
  FAULT_CACHE_SIZE,
  RUNTIME_CONFIG_SIZE,
} from './layout.generated.js';
import { bpfObjectPath, type NativeAddon, type NativeBpfObject, type NativeRingReader, type ProgramStats } from './native.js';
import { attachScoped, scopesFor, PERF_COUNT_SW_PAGE_FAULTS_MAJ, PERF_COUNT_SW_PAGE_FAULTS_MIN, type PerfProgram } from './perf-scope.js';
import { resolveTargets, processGone, type ResolvedTargets, type TargetSpec } from './targets.js';
import { DEFAULT_HINT_MAP_PIN, hintMapOn, prepareHintMapPin, secureHintMapPin, type HintMap } from './hint-map.js';

export interface ProbesConfig {
  /** Event families to attach. */
  families: FamilyName[];
  targets: TargetSpec;
  /**
   * sampled: per (process, region) counts in the kernel from a
   * perf event on minor faults that runs a program once every
   * faultSamplePeriod faults, each sample counting for the period (summaries
   * say so: samplePeriod); aggregated (the default; 'exact' in the config file): exact per-region counts from a program
   * on every fault (page_fault_user); raw: every fault as a record.
   */
  faultMode: 'sampled' | 'aggregated' | 'raw';
  /** Sampled mode: one program run per this many minor faults of a target (1: exact, through the perf event). */
  faultSamplePeriod: number;
  /** Raw mode only: report 1 fault in N. */
  faultSampleEvery: number;
  /**
   * counters: promotions per page size and host from the
   * kernel's THP and per-size mTHP counters, read by the collector's sampler,
   * with no program on the allocation path; exact: a promotion record per
   * huge page or mTHP allocated in a target's fault (mm_page_alloc, which
   * runs for every page the kernel allocates, and page_fault_user). The default.
   */
  promotionMode: 'counters' | 'exact';
  /** Regions are 2^regionShift bytes (21: 2 MiB, the PMD size). */
  regionShift: number;
  /** Ring buffer size in bytes, a power of two, at least a page. */
  ringBufferBytes: number;
  /** Entries in the in-kernel (process, region) fault table. */
  faultTableEntries: number;
  /** How often the fault table is swept into summaries. */
  faultSweepIntervalMs: number;
  /** Also attach rss_stat for MM_SWAPENTS (fires on every RSS change, so on every fault). */
  swapEntries: boolean;
  /** Largest Buffer handed to JavaScript per drain. */
  maxBatchBytes: number;
  /** A high-order allocation within this long after a fault of the same task is its promotion. */
  promotionWindowMs: number;
  /** Where the hint map is pinned (shared with the feedback agent); '' keeps it private. */
  hintMapPinPath: string;
  /** The drain benchmark's synthetic stream: records per getpid() of benchPid. */
  bench?: { pid: number; burst: number; asFaults?: boolean };
  /** Benchmarks only: attach exactly these programs instead of the families' own. */
  programsOnly?: string[];
  objectPath?: string;
}

export const FAULT_MODES: readonly ProbesConfig['faultMode'][] = ['sampled', 'aggregated', 'raw'];
export const PROMOTION_MODES: readonly ProbesConfig['promotionMode'][] = ['counters', 'exact'];

/**
 * The fault modes as the config file and the command line name them:
 * 'exact' is the mode this file calls 'aggregated' (its former name in the
 * file, still accepted), named so for the user beside promotionMode 'exact'.
 */
export const FAULT_MODE_NAMES: Readonly<Record<'sampled' | 'exact' | 'raw' | 'aggregated', ProbesConfig['faultMode']>> = Object.freeze({
  sampled: 'sampled',
  exact: 'aggregated',
  raw: 'raw',
  aggregated: 'aggregated',
});

/** Exact mode, the behaviour before sampling: a program on every fault and on every page allocation. */
export const EXACT_PROBES_CONFIG: Readonly<Partial<ProbesConfig>> = Object.freeze({ faultMode: 'aggregated', promotionMode: 'exact' });

/**
 * Sampled faults and promotions from the kernel counters: the candidate
 * default of issue 13. Not the default: on 2026-12-07 its paired slowdown
 * was not shown lower than exact mode's (BENCHMARKS.md, "old default, new
 * default, exact").
 */
export const SAMPLED_PROBES_CONFIG: Readonly<Partial<ProbesConfig>> = Object.freeze({ faultMode: 'sampled', promotionMode: 'counters' });

export const DEFAULT_PROBES_CONFIG: Readonly<ProbesConfig> = Object.freeze({
  families: [...FAMILIES],
  targets: { pids: [], cgroups: [] },
  // Exact mode stays the default until sampling is measured cheaper (see SAMPLED_PROBES_CONFIG).
  faultMode: 'aggregated',
  faultSamplePeriod: 16,
  faultSampleEvery: 1,
  promotionMode: 'exact',
  regionShift: 21,
  ringBufferBytes: 16 * 1024 * 1024,
  faultTableEntries: 65536,
  faultSweepIntervalMs: 1000,
  swapEntries: false,
  maxBatchBytes: 1024 * 1024,
  promotionWindowMs: 10,
  hintMapPinPath: DEFAULT_HINT_MAP_PIN,
});

/** Checks a config; every error names the key and what was expected. */
export function validateProbesConfig(config: ProbesConfig): void {
  if (!Array.isArray(config.families) || config.families.length === 0) {
    throw new UsageError(`families: at least one event family is needed (known: ${FAMILIES.join(', ')})`);
  }
  config.families.forEach((f, i) => {
    if (!(FAMILIES as readonly string[]).includes(f)) {
      throw new UsageError(`families[${i}]: unknown event family '${f}' (known: ${FAMILIES.join(', ')})`);
    }
  });
  if (!FAULT_MODES.includes(config.faultMode)) {
    throw new UsageError(`faultMode: '${String(config.faultMode)}' is not one of ${FAULT_MODES.join(', ')}`);
  }
  if (!PROMOTION_MODES.includes(config.promotionMode)) {
    throw new UsageError(`promotionMode: '${String(config.promotionMode)}' is not one of ${PROMOTION_MODES.join(', ')}`);
  }
  const positiveInt = (key: keyof ProbesConfig, value: number, max = 2 ** 31) => {
    if (!Number.isInteger(value) || value < 1 || value > max) {
      throw new UsageError(`${key}: wants an integer from 1 to ${max}, got ${value}`);
    }
  };
  positiveInt('faultSampleEvery', config.faultSampleEvery);
  positiveInt('faultSamplePeriod', config.faultSamplePeriod, 1 << 20);
  positiveInt('faultTableEntries', config.faultTableEntries, 1 << 24);
  positiveInt('faultSweepIntervalMs', config.faultSweepIntervalMs, 3_600_000);
  positiveInt('maxBatchBytes', config.maxBatchBytes, 1 << 30);
  positiveInt('promotionWindowMs', config.promotionWindowMs, 10_000);
  if (!Number.isInteger(config.regionShift) || config.regionShift < 12 || config.regionShift > 40) {
    throw new UsageError(`regionShift: wants an integer from 12 (4 KiB) to 40, got ${config.regionShift}`);
  }
  const rb = config.ringBufferBytes;
  if (!Number.isInteger(rb) || rb < 4096 || (rb & (rb - 1)) !== 0) {
    throw new UsageError(`ringBufferBytes: wants a power of two of at least 4096, got ${rb}`);
  }
}

/** Which BPF programs each family needs, in the chosen modes. */
export function programsFor(config: Pick<ProbesConfig, 'families' | 'faultMode' | 'promotionMode' | 'swapEntries'>): string[] {
  const wanted = new Set<string>();
  for (const family of config.families) {
    if (family === 'fault') wanted.add(config.faultMode === 'sampled' ? 'pl_fault_sample' : 'pl_page_fault_user');
    if (family === 'promotion' && config.promotionMode === 'exact') {
      wanted.add('pl_page_fault_user');
      wanted.add('pl_mm_page_alloc');
    }
    if (family === 'collapse') wanted.add('pl_mm_collapse_huge_page');
    if (family === 'compaction') {
      for (const p of ['begin', 'end', 'defer_compaction', 'deferred', 'wakeup_kcompactd']) wanted.add(`pl_mm_compaction_${p}`);
    }
    if (family === 'swap') {
      for (const p of ['pl_mm_vmscan_write_folio', 'pl_major_fault', 'pl_direct_reclaim_begin', 'pl_direct_reclaim_end']) wanted.add(p);
      if (config.swapEntries) wanted.add('pl_rss_stat');
    }
  }
  return [...wanted];
}

/** The programs that run on perf events (scoped by target in the kernel), with their event and period. */
function perfProgramsOf(wanted: ReadonlySet<string>, config: ProbesConfig): PerfProgram[] {
  const out: PerfProgram[] = [];
  if (wanted.has('pl_fault_sample')) out.push({ program: 'pl_fault_sample', config: PERF_COUNT_SW_PAGE_FAULTS_MIN, samplePeriod: config.faultSamplePeriod });
  if (wanted.has('pl_major_fault')) out.push({ program: 'pl_major_fault', config: PERF_COUNT_SW_PAGE_FAULTS_MAJ, samplePeriod: 1 });
  return out;
}
const PERF_EVENT_PROGRAMS = new Set(['pl_fault_sample', 'pl_major_fault']);

/** Readings for the overhead accounting: what each program cost so far, and the faults behind it. */
export interface ProbesCostReading {
  /** Run count and time (time only while BPF stats are enabled) of each attached program. */
  readonly programs: readonly ProgramStats[];
  /** Minor faults the sampled-fault perf events counted (every one, not only samples); undefined when not attached. */
  readonly minorFaultsCounted: number | undefined;
}

export interface LossReport {
  /** Failed reservations (or, for faults, counts the full table could not hold) per family, per CPU. */
  readonly perFamily: Record<FamilyName, number[]>;
  readonly total: number;
}

export interface ProbesHandlers {
  /** Raw drained batches (framed records), for consumers that encode without decoding. */
  onBatch?: (batch: Buffer) => void;
  /** Decoded events: ring-buffer records, and fault summaries unless onSummaries takes them. */
  onEvents?: (events: ProbeEvent[]) => void;
  /** Fault summaries from each sweep of the in-kernel table. */
  onSummaries?: (summaries: FaultSummary[]) => void;
}

export interface Probes {
  readonly config: Readonly<ProbesConfig>;
  readonly targets: ResolvedTargets;
  start(handlers: ProbesHandlers): void;
  /** Replaces the targets while running. */
  setTargets(spec: TargetSpec): void;
  /** Sweeps the fault table now; returns the summaries it emitted. */
  sweepFaults(): FaultSummary[];
  /** Drains the ring buffer now, synchronously. */
  drain(): number;
  loss(): LossReport;
  /** The programs' run counts and times, and the faults the perf events counted. */
  costReading(): ProbesCostReading;
  /** The hint map these probes read (pinned at config.hintMapPinPath when set). */
  hints(): HintMap;
  readonly object: NativeBpfObject;
  stop(): void;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

interface Totals {
  faults: number;
  writeFaults: number;
  instrFaults: number;
  protFaults: number;
}

/** Objects to detach if the process ends abruptly (signal, exception). */
const live = new Set<Probes>();
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  // Links are file descriptors: the kernel detaches them when the process
  // exits anyway; this makes it explicit and immediate on every path.
  process.on('exit', () => {
    for (const p of live) p.stop();
  });
}

/** What the probes are given: the native addon (loadAddon()), passed in like every component's dependencies. */
export interface ProbesDeps {
  readonly addon: NativeAddon;
}

/**
 * Creates (and loads, and attaches) the probes. Call start() to begin delivery.
 * The config is complete: callers merge DEFAULT_PROBES_CONFIG themselves.
 */
export function createProbes(config: ProbesConfig, deps: ProbesDeps): Probes {
  validateProbesConfig(config);
  let targets = resolveTargets(config.targets);
  const { addon } = deps;
  const nrCpus = addon.possibleCpus();
  const obj = new addon.BpfObject(config.objectPath ?? bpfObjectPath());
  let reader: NativeRingReader | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let handlers: ProbesHandlers = {};
  let stopped = false;
  let generation = 1;
  const reported = new Map<string, Totals>();
  /**
   * Processes ("pid/startNs") whose exit a sweep has reported, while the
   * table or a CPU's cache still holds counts of theirs: those counts went
   * out with the exit, so they are never reported again.
   */
  const finished = new Set<string>();
  const wanted = new Set<string>();
  let perfPrograms: PerfProgram[] = [];
  let perfLinks = new Map<string, number[]>();
  /** Faults counted by perf events detached on a retarget, so the total only grows. */
  let retiredMinorFaults = 0;

  function minorFaultsNow(): number | undefined {
    const ids = perfLinks.get('pl_fault_sample');
    if (!ids) return undefined;
    return retiredMinorFaults + obj.perfCounts(ids).reduce((n, c) => n + Math.max(0, c), 0);
  }

  try {
    const faultMode = { raw: FaultMode.PL_FAULT_RAW, aggregated: FaultMode.PL_FAULT_AGGREGATED, sampled: FaultMode.PL_FAULT_SAMPLED }[config.faultMode];
    const faultFamily = config.families.includes('fault');
    obj.setRodata('fault_mode', u32(faultMode));
    // In sampled mode page_fault_user (if attached, for exact promotions) only remembers the fault.
    obj.setRodata('count_faults', u32(faultFamily && config.faultMode !== 'sampled' ? 1 : 0));
    obj.setRodata('majors_into_fault_stats', u32(faultFamily && config.faultMode === 'sampled' ? 1 : 0));
    obj.setRodata('fault_sample_every', u32(config.faultSampleEvery));
    obj.setRodata('region_shift', u32(config.regionShift));
    obj.setRodata('self_pid', u32(process.pid));
    obj.setRodata('nr_cpus', u32(nrCpus));
    obj.setRodata('promotion_window_ns', u64(config.promotionWindowMs * 1_000_000));
    if (config.bench) {
      obj.setRodata('bench_pid', u32(config.bench.pid));
      obj.setRodata('bench_burst', u32(config.bench.burst));
      obj.setRodata('bench_as_faults', u32(config.bench.asFaults ? 1 : 0));
    }
    for (const name of programsFor(config)) wanted.add(name);
    if (config.bench) wanted.add('pl_bench_sys_enter');
    if (config.programsOnly) {
      const known = new Set(obj.programs().map((p) => p.name));
      for (const name of config.programsOnly) if (!known.has(name)) throw new UsageError(`programsOnly: no program '${name}' in the BPF object`);
      wanted.clear();
      for (const name of config.programsOnly) wanted.add(name);
    }
    for (const p of obj.programs()) obj.setAutoload(p.name, wanted.has(p.name));
    perfPrograms = perfProgramsOf(wanted, config);
    obj.setMapMaxEntries('pl_events', config.ringBufferBytes);
    obj.setMapMaxEntries('pl_fault_stats', config.faultTableEntries);
    if (config.hintMapPinPath) prepareHintMapPin(obj, config.hintMapPinPath);
    obj.load();
    if (config.hintMapPinPath) secureHintMapPin(config.hintMapPinPath);
    writeTargets(targets);
    for (const name of wanted) if (!PERF_EVENT_PROGRAMS.has(name)) obj.attach(name);
    perfLinks = attachScoped(obj, addon, perfPrograms, scopesFor(targets));
  } catch (err) {
    obj.close();
    throw err;
  }

  function writeTargets(t: ResolvedTargets): void {
    // Clear old targets, fill new ones, then flip the mode: events in between
    // see either the old set or the new one, never an empty filter.
    const oldPids = obj.mapEntries('pl_target_pids');
    const oldCgroups = obj.mapEntries('pl_target_cgroups');
    const one = Buffer.from([1]);
    for (const pid of t.pids) obj.mapUpdate('pl_target_pids', u32(pid), one);
    for (const id of t.cgroupIds) obj.mapUpdate('pl_target_cgroups', u64(id), one);
    const cfg = Buffer.alloc(RUNTIME_CONFIG_SIZE);
    const mode = t.mode === 'pids' ? TargetMode.PL_TARGET_PIDS : t.mode === 'cgroups' ? TargetMode.PL_TARGET_CGROUPS : TargetMode.PL_TARGET_ALL;
    cfg.writeUInt32LE(mode, 0);
    cfg.writeUInt32LE(generation++, 4);
    obj.mapUpdate('pl_runtime', u32(0), cfg);
    const keepPids = new Set(t.pids);
    for (let i = 0; i < oldPids.count; i++) {
      const key = oldPids.keys.subarray(i * 4, i * 4 + 4);
      if (!keepPids.has(key.readUInt32LE(0))) obj.mapDelete('pl_target_pids', key);
    }
    const keepCg = new Set(t.cgroupIds.map(String));
    for (let i = 0; i < oldCgroups.count; i++) {
      const key = oldCgroups.keys.subarray(i * 8, i * 8 + 8);
      if (!keepCg.has(key.readBigUInt64LE(0).toString())) obj.mapDelete('pl_target_cgroups', key);
    }
  }

  function deliver(events: ProbeEvent[]): void {
    if (events.length > 0) handlers.onEvents?.(events);
  }

  function deliverSummaries(summaries: FaultSummary[]): void {
    if (summaries.length === 0) return;
    if (handlers.onSummaries) handlers.onSummaries(summaries);
    else deliver(summaries.map((s) => ({ type: 'fault_summary' as const, ...s })));
  }

  function onBatch(batch: Buffer): void {
    handlers.onBatch?.(batch);
    if (handlers.onEvents) deliver(decodeBatch(batch));
  }

  function sweepFaults(): FaultSummary[] {
    if (!config.families.includes('fault') || config.faultMode === 'raw') return [];
    const stats = obj.mapEntries('pl_fault_stats');
    const cache = obj.mapEntries('pl_fault_cache');
    const totals = new Map<string, { key: { pid: number; region: number }; t: Totals; firstNs: number; lastNs: number; startNs: number; hint: number; samplePeriod: number }>();
    for (let i = 0; i < stats.count; i++) {
      const key = decodeFaultKey(stats.keys, i * stats.keySize);
      const v = decodeFaultStats(stats.values, i * stats.valueSize);
      totals.set(`${key.pid}:${key.region}`, {
        key,
        t: { faults: v.faults, writeFaults: v.writeFaults, instrFaults: v.instrFaults, protFaults: v.protFaults },
        firstNs: v.firstNs,
        lastNs: v.lastNs,
        startNs: v.startNs,
        hint: v.hint,
        samplePeriod: Math.max(1, v.samplePeriod),
      });
    }
    // Pending counts in each CPU's cache are not in the table yet. Read after
    // the table, a flush in between can only make this sweep short, and the
    // next one makes it good: totals only grow.
    const stride = (FAULT_CACHE_SIZE + 7) & ~7;
    for (let i = 0; i < cache.count; i++) {
      for (let cpu = 0; cpu < nrCpus; cpu++) {
        const c = decodeFaultCache(cache.values, i * cache.valueSize + cpu * stride);
        if (!c.targeted || c.faults === 0) continue;
        const id = `${c.pid}:${c.region}`;
        const entry = totals.get(id) ?? {
          key: { pid: c.pid, region: c.region },
          t: { faults: 0, writeFaults: 0, instrFaults: 0, protFaults: 0 },
          firstNs: c.firstNs,
          lastNs: c.firstNs,
          startNs: c.startNs,
          hint: 0,
          samplePeriod: 1,
        };
        entry.t.faults += c.faults;
        entry.t.writeFaults += c.writeFaults;
        entry.t.instrFaults += c.instrFaults;
        entry.t.protFaults += c.protFaults;
        entry.lastNs = Math.max(entry.lastNs, c.firstNs);
        totals.set(id, entry);
      }
    }
    const summaries: FaultSummary[] = [];
    const regionBytes = 2 ** config.regionShift;
    // Checked once per process per sweep, before its rows are written: a
    // process gone now faults no more, so these rows are its last, and the
    // processors can forget it once their windows close (short-lived
    // processes otherwise stay in their state until they go idle).
    const gone = new Map<string, boolean>();
    const isGone = (pid: number, startNs: number): boolean => {
      const k = `${pid}/${startNs}`;
      let g = gone.get(k);
      if (g === undefined) {
        g = processGone(pid, startNs);
        gone.set(k, g);
      }
      return g;
    };
    /** Exited processes with no new counts this sweep: one row each still says so. */
    const exitedWithoutRow = new Map<string, { pid: number; startNs: number; region: number; lastNs: number; samplePeriod: number }>();
    const withRow = new Set<string>();
    const seen = new Set<string>();
    for (const [id, e] of totals) {
      const proc = `${e.key.pid}/${e.startNs}`;
      seen.add(proc);
      if (finished.has(proc)) continue;
      const prior = reported.get(id) ?? { faults: 0, writeFaults: 0, instrFaults: 0, protFaults: 0 };
      const delta = {
        faults: Math.max(0, e.t.faults - prior.faults),
        writeFaults: Math.max(0, e.t.writeFaults - prior.writeFaults),
        instrFaults: Math.max(0, e.t.instrFaults - prior.instrFaults),
        protFaults: Math.max(0, e.t.protFaults - prior.protFaults),
      };
      const exited = isGone(e.key.pid, e.startNs);
      if (delta.faults === 0) {
        const first = exitedWithoutRow.get(proc);
        if (exited && (!first || e.key.region < first.region)) exitedWithoutRow.set(proc, { pid: e.key.pid, startNs: e.startNs, region: e.key.region, lastNs: e.lastNs, samplePeriod: e.samplePeriod });
        continue;
      }
      withRow.add(proc);
      reported.set(id, {
        faults: Math.max(e.t.faults, prior.faults),
        writeFaults: Math.max(e.t.writeFaults, prior.writeFaults),
        instrFaults: Math.max(e.t.instrFaults, prior.instrFaults),
        protFaults: Math.max(e.t.protFaults, prior.protFaults),
      });
      summaries.push({
        pid: e.key.pid,
        startNs: e.startNs,
        regionStart: e.key.region * regionBytes,
        regionBytes,
        ...delta,
        firstNs: e.firstNs,
        lastNs: e.lastNs,
        hint: e.hint,
        samplePeriod: e.samplePeriod,
        exited: exited ? 1 : 0,
      });
    }
    for (const [proc, x] of exitedWithoutRow) {
      if (withRow.has(proc)) continue;
      summaries.push({
        pid: x.pid,
        startNs: x.startNs,
        regionStart: x.region * regionBytes,
        regionBytes,
        faults: 0,
        writeFaults: 0,
        instrFaults: 0,
        protFaults: 0,
        firstNs: x.lastNs,
        lastNs: x.lastNs,
        hint: 0,
        samplePeriod: x.samplePeriod,
        exited: 1,
      });
    }
    for (const s of summaries) if (s.exited) finished.add(`${s.pid}/${s.startNs}`);
    for (const proc of finished) if (!seen.has(proc)) finished.delete(proc);
    // A key in neither the table nor a cache has no counts left to subtract from.
    for (const id of reported.keys()) if (!totals.has(id)) reported.delete(id);
    forgetExited(stats, isGone);
    summaries.sort((a, b) => a.lastNs - b.lastNs || a.pid - b.pid || a.regionStart - b.regionStart);
    return summaries;
  }

  /** Table entries of processes that have exited were reported in full (their last rows say so): drop them. */
  function forgetExited(stats: { keys: Buffer; values: Buffer; count: number; keySize: number; valueSize: number }, isGone: (pid: number, startNs: number) => boolean): void {
    for (let i = 0; i < stats.count; i++) {
      const keyBuf = stats.keys.subarray(i * stats.keySize, (i + 1) * stats.keySize);
      const key = decodeFaultKey(keyBuf, 0);
      const v = decodeFaultStats(stats.values, i * stats.valueSize);
      if (isGone(key.pid, v.startNs)) {
        obj.mapDelete('pl_fault_stats', keyBuf);
        reported.delete(`${key.pid}:${key.region}`);
      }
    }
  }

  let finalLoss: LossReport | undefined;

  function loss(): LossReport {
    if (finalLoss) return finalLoss;
    const perFamily = {} as Record<FamilyName, number[]>;
    let total = 0;
    FAMILIES.forEach((name, family) => {
      const v = obj.mapLookup('pl_loss', u32(family));
      const perCpu: number[] = [];
      for (let cpu = 0; cpu < nrCpus; cpu++) {
        const n = v ? Number(v.readBigUInt64LE(cpu * 8)) : 0;
        perCpu.push(n);
        total += n;
      }
      perFamily[name] = perCpu;
    });
    return { perFamily, total };
  }

  const probes: Probes = {
    config,
    get targets() {
      return targets;
    },
    object: obj,
    start(h: ProbesHandlers) {
      if (stopped) throw new UsageError('probes: start() after stop()');
      if (reader) throw new UsageError('probes: start() called twice');
      handlers = h;
      reader = new addon.RingReader(obj.mapFd('pl_events'), onBatch, config.maxBatchBytes);
      reader.start();
      if (config.families.includes('fault') && config.faultMode !== 'raw') {
        sweepTimer = setInterval(() => deliverSummaries(sweepFaults()), config.faultSweepIntervalMs);
        sweepTimer.unref();
      }
    },
    setTargets(spec: TargetSpec) {
      const next = resolveTargets(spec);
      writeTargets(next);
      // The perf events follow: the old ones go first, so no fault counts twice.
      const counted = minorFaultsNow();
      obj.detachLinks([...perfLinks.values()].flat());
      perfLinks = new Map();
      if (counted !== undefined) retiredMinorFaults = counted;
      perfLinks = attachScoped(obj, addon, perfPrograms, scopesFor(next));
      targets = next;
    },
    costReading() {
      return { programs: obj.programStats().filter((p) => wanted.has(p.name)), minorFaultsCounted: minorFaultsNow() };
    },
    sweepFaults,
    hints() {
      return hintMapOn(obj, config.hintMapPinPath);
    },
    drain() {
      return reader ? reader.drainNow() : 0;
    },
    loss,
    stop() {
      if (stopped) return;
      stopped = true;
      live.delete(probes);
      if (sweepTimer) clearInterval(sweepTimer);
      try {
        obj.detachAll();
        // What the kernel produced before detaching is still delivered.
        if (reader) {
          reader.drainNow();
          reader.stop();
        }
        if (config.families.includes('fault') && config.faultMode !== 'raw') deliverSummaries(sweepFaults());
      } finally {
        finalLoss = loss();
        reader?.close();
        obj.close();
      }
    },
  };
  live.add(probes);
  installCleanup();
  return probes;
}

