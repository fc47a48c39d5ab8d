/**
 * The processors' model, as a typed config with named defaults (the
 * OpenTelemetry Collector pattern: factory + typed config + validate()).
 * Every constant of the model lives here, with its unit in the name or the
 * comment. `validateProcessorConfig` names the bad key.
 *
 * Units: event time is CLOCK_BOOTTIME ns of the host; "ns/window" is a
 * benefit or cost per scoring window; an "access sample" is one observed
 * access (a fault after first touch, a refault, or one DAMON-weighted
 * access), standing for `accessesPerSample` real accesses.
 */
import { UsageError } from '../lib/errors.js';
import type { PageloopConfig } from '../schemas/validate.js';

export interface ScorerConfig {
  /** Huge page sizes to score (KiB, powers of two); sizes above the region size are left out. */
  readonly pageSizesKb: readonly number[];
  /** The base page (KiB): order 0. */
  readonly basePageKb: number;
  /** A region is scored in a window only with at least this many events (faults count one each). */
  readonly minFaults: number;
  /** Real accesses one access sample stands for (a NUMA hinting fault samples one access of many). */
  readonly accessesPerSample: number;
  /** Access samples per unit of DAMON nr_accesses (averaged over the window's aggregations). */
  readonly damonWeight: number;
  /** Translation ns saved per access by a PMD-mapped (2 MiB) page: a shorter walk, a TLB hit more often. */
  readonly walkNsPerAccess: number;
  /** Share of the log-proportional saving an mTHP (< 2 MiB, contiguous PTEs) really gets. */
  readonly mthpWalkEfficiency: number;
  /** Cost of one minor fault (ns): a huge page takes one where base pages take size/base. */
  readonly minorFaultNs: number;
  /** Zeroing a new page, ns per KiB (~20 GB/s memory bandwidth). */
  readonly zeroingNsPerKb: number;
  /** Multiplier on the compaction cost term. */
  readonly compactionWeight: number;
  /** A promotion is paid once; its cost is spread over this many windows of benefit. */
  readonly amortizeWindows: number;
  /** Per window, the host's cost statistics are multiplied by this (0..1): a storm fades. */
  readonly costDecay: number;
  /** Cap on 1 / (1 - fallback rate): failed allocations still pay for the attempt. */
  readonly maxFallbackInflation: number;
  /** Refault cost prior (ns): a swap-in from zram/SSD, before reclaim cost is added. */
  readonly swapInNs: number;
}

export interface PhasesConfig {
  /** Distance (0..1) between the phase's reference and a window that counts as a change. */
  readonly threshold: number;
  /** No second phase change within this much event time of the last one. */
  readonly minDwellMs: number;
  /** Consecutive windows over the threshold before a change is declared (hysteresis). */
  readonly confirmWindows: number;
  /** Access samples (faults and refaults, first touch included) in a window that make a region hot. */
  readonly hotMinAccesses: number;
  /** Fault rates (per s) below this never count as a regime change. */
  readonly minFaultRate: number;
}

export interface PlannerConfig {
  /** Initial benefit threshold: promote only when net benefit (ns/window) exceeds it. The tuner moves it. */
  readonly minScore: number;
  /** A hint expires this long (event time) after it was issued unless refreshed. */
  readonly hintTtlMs: number;
  /** Per process and window, at most this many new hints (withdrawals are not limited). */
  readonly maxHintsPerWindow: number;
  /** Per host and window, at most this many new hints over all its processes. */
  readonly maxHintsPerHostWindow: number;
  /** Windows a promote/keep-base decision must hold before it is issued (hysteresis). */
  readonly confirmWindows: number;
  /** Windows after a hint before the same region may get a different one. */
  readonly minDwellWindows: number;
  /** Initial coldness threshold: windows without accesses before mark_cold. The tuner moves it. */
  readonly coldWindows: number;
  /** page_out after coldWindows * pageOutFactor windows without accesses. */
  readonly pageOutFactor: number;
  /** keep_base_pages only for regions at least this hot whose every size has net <= 0. */
  readonly keepBaseMinAccesses: number;
}

export interface TunerConfig {
  readonly enabled: boolean;
  /** SLO: refaults of paged-out memory, percent of it per minute (Google's far memory: 0.2). */
  readonly refaultTargetPctPerMin: number;
  /** Optional SLO on memory PSI some avg10 (percent); 0 turns it off. */
  readonly psiTargetSomeAvg10: number;
  /** The measurement spans this many windows (and a change waits as long for its effect). */
  readonly measureWindows: number;
  readonly minColdWindows: number;
  readonly maxColdWindows: number;
  /** Below this many pages paged out the refault rate is noise: the tuner holds. */
  readonly minPagedOutPages: number;
  /** Lower the coldness threshold only when measured < target * this. */
  readonly lowerBelowFraction: number;
  /** First raise of the benefit threshold under memory pressure (ns/window); later raises double it. */
  readonly benefitStepNs: number;
  readonly maxBenefitThresholdNs: number;
}

export interface ProcessorConfig {
  /** The logical processor: DeadLetter.consumer, the default consumer group, transactional ids. */
  readonly name: string;
  /** Tumbling window, event time. */
  readonly windowMs: number;
  /** A window closes when the host's watermark passes its end plus this. */
  readonly allowedLatenessMs: number;
  /** Region granularity for address-carrying events (the collector's 2^regionShift). */
  readonly regionBytes: number;
  /** A region with no events for this many windows is forgotten (its hint withdrawn). */
  readonly idleEvictWindows: number;
  /** A host with no records for this many input records of its partition is forgotten. */
  readonly hostEvictRecords: number;
  /** Swapped-out pages remembered per region for refault detection. */
  readonly maxSwappedPagesPerRegion: number;
  /** A DAMON row spanning more regions than this only credits the first ones. */
  readonly maxDamonRegionsPerRow: number;
  readonly scorer: ScorerConfig;
  readonly phases: PhasesConfig;
  readonly planner: PlannerConfig;
  readonly tuner: TunerConfig;
}

export const DEFAULT_SCORER_CONFIG: ScorerConfig = Object.freeze({
  pageSizesKb: Object.freeze([64, 2048]),
  basePageKb: 4,
  minFaults: 1,
  accessesPerSample: 1000,
  damonWeight: 10,
  walkNsPerAccess: 8,
  mthpWalkEfficiency: 0.5,
  minorFaultNs: 1000,
  zeroingNsPerKb: 40,
  compactionWeight: 1,
  amortizeWindows: 6,
  costDecay: 0.5,
  maxFallbackInflation: 10,
  swapInNs: 20_000,
});

export const DEFAULT_PHASES_CONFIG: PhasesConfig = Object.freeze({
  threshold: 0.5,
  minDwellMs: 30_000,
  confirmWindows: 2,
  hotMinAccesses: 8,
  minFaultRate: 1,
});

export const DEFAULT_PLANNER_CONFIG: PlannerConfig = Object.freeze({
  minScore: 0,
  hintTtlMs: 5 * 60_000,
  maxHintsPerWindow: 16,
  maxHintsPerHostWindow: 128,
  confirmWindows: 2,
  minDwellWindows: 3,
  coldWindows: 3,
  pageOutFactor: 2,
  keepBaseMinAccesses: 8,
});

export const DEFAULT_TUNER_CONFIG: TunerConfig = Object.freeze({
  enabled: true,
  refaultTargetPctPerMin: 0.2,
  psiTargetSomeAvg10: 0,
  measureWindows: 6,
  minColdWindows: 2,
  maxColdWindows: 30,
  minPagedOutPages: 256,
  lowerBelowFraction: 0.5,
  benefitStepNs: 100_000,
  maxBenefitThresholdNs: 1e9,
});

export const DEFAULT_PROCESSOR_CONFIG: ProcessorConfig = Object.freeze({
  name: 'pageloop-processor',
  windowMs: 10_000,
  allowedLatenessMs: 2_000,
  regionBytes: 2 * 1024 * 1024,
  idleEvictWindows: 90,
  hostEvictRecords: 1_000_000,
  maxSwappedPagesPerRegion: 512,
  maxDamonRegionsPerRow: 1024,
  scorer: DEFAULT_SCORER_CONFIG,
  phases: DEFAULT_PHASES_CONFIG,
  planner: DEFAULT_PLANNER_CONFIG,
  tuner: DEFAULT_TUNER_CONFIG,
});

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export type ProcessorConfigInput = Partial<Mutable<Omit<ProcessorConfig, 'scorer' | 'phases' | 'planner' | 'tuner'>>> & {
  scorer?: Partial<ScorerConfig>;
  phases?: Partial<PhasesConfig>;
  planner?: Partial<PlannerConfig>;
  tuner?: Partial<TunerConfig>;
};

/** Defaults, overridden by `input`, validated. */
export function createProcessorConfig(input: ProcessorConfigInput = {}): ProcessorConfig {
  const d = DEFAULT_PROCESSOR_CONFIG;
  const config: ProcessorConfig = {
    ...d,
    ...input,
    scorer: { ...d.scorer, ...input.scorer },
    phases: { ...d.phases, ...input.phases },
    planner: { ...d.planner, ...input.planner },
    tuner: { ...d.tuner, ...input.tuner },
  };
  validateProcessorConfig(config);
  return config;
}

/** The `processors` section of a pageloop config file (schemas/config.schema.json) as config input. */
export function processorConfigFromFile(file: PageloopConfig['processors']): ProcessorConfigInput {
  const f = file ?? {};
  const input: ProcessorConfigInput = {};
  if (f.windowMs !== undefined) input.windowMs = f.windowMs;
  if (f.scorer) {
    const s: Partial<Mutable<ScorerConfig>> = {};
    if (f.scorer.pageSizesKb !== undefined) s.pageSizesKb = f.scorer.pageSizesKb;
    if (f.scorer.minFaults !== undefined) s.minFaults = f.scorer.minFaults;
    if (f.scorer.zeroingNsPerKb !== undefined) s.zeroingNsPerKb = f.scorer.zeroingNsPerKb;
    if (f.scorer.compactionWeight !== undefined) s.compactionWeight = f.scorer.compactionWeight;
    input.scorer = s;
  }
  if (f.phases) {
    input.phases = {
      ...(f.phases.threshold !== undefined ? { threshold: f.phases.threshold } : {}),
      ...(f.phases.minDwellMs !== undefined ? { minDwellMs: f.phases.minDwellMs } : {}),
    };
  }
  if (f.planner) {
    input.planner = {
      ...(f.planner.minScore !== undefined ? { minScore: f.planner.minScore } : {}),
      ...(f.planner.hintTtlMs !== undefined ? { hintTtlMs: f.planner.hintTtlMs } : {}),
      ...(f.planner.maxHintsPerWindow !== undefined ? { maxHintsPerWindow: f.planner.maxHintsPerWindow } : {}),
      ...(f.planner.maxHintsPerHostWindow !== undefined ? { maxHintsPerHostWindow: f.planner.maxHintsPerHostWindow } : {}),
    };
  }
  if (f.tuner) {
    const t: Partial<Mutable<TunerConfig>> = {};
    if (f.tuner.enabled !== undefined) t.enabled = f.tuner.enabled;
    const objective = f.tuner.objective ?? 'refault_rate';
    if (objective === 'refault_rate') {
      if (f.tuner.target !== undefined) t.refaultTargetPctPerMin = f.tuner.target;
    } else if (objective === 'memory_psi') {
      t.psiTargetSomeAvg10 = f.tuner.target ?? 10;
    } else {
      throw new UsageError(`processors.tuner.objective: '${objective}' is not one of refault_rate, memory_psi`);
    }
    input.tuner = t;
  }
  return input;
}

function check(ok: boolean, key: string, want: string, got: unknown): void {
  if (!ok) throw new UsageError(`processors.${key}: must be ${want}, got ${JSON.stringify(got)}`);
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const int = (v: unknown): v is number => Number.isSafeInteger(v);
const pow2 = (v: number): boolean => int(v) && v > 0 && (v & (v - 1)) === 0;

/** Throws UsageError naming the first bad key (`processors.scorer.zeroingNsPerKb: ...`). */
export function validateProcessorConfig(c: ProcessorConfig): void {
  check(typeof c.name === 'string' && c.name.length > 0, 'name', 'a non-empty string', c.name);
  check(int(c.windowMs) && c.windowMs >= 100 && c.windowMs <= 86_400_000, 'windowMs', 'an integer from 100 to 86400000', c.windowMs);
  check(int(c.allowedLatenessMs) && c.allowedLatenessMs >= 0 && c.allowedLatenessMs <= 10 * c.windowMs, 'allowedLatenessMs', 'an integer from 0 to 10 windows', c.allowedLatenessMs);
  check(pow2(c.regionBytes) && c.regionBytes >= 4096, 'regionBytes', 'a power of two >= 4096', c.regionBytes);
  check(int(c.idleEvictWindows) && c.idleEvictWindows >= 1, 'idleEvictWindows', 'an integer >= 1', c.idleEvictWindows);
  check(int(c.hostEvictRecords) && c.hostEvictRecords >= 1, 'hostEvictRecords', 'an integer >= 1', c.hostEvictRecords);
  check(int(c.maxSwappedPagesPerRegion) && c.maxSwappedPagesPerRegion >= 0, 'maxSwappedPagesPerRegion', 'an integer >= 0', c.maxSwappedPagesPerRegion);
  check(int(c.maxDamonRegionsPerRow) && c.maxDamonRegionsPerRow >= 1, 'maxDamonRegionsPerRow', 'an integer >= 1', c.maxDamonRegionsPerRow);

  const s = c.scorer;
  check(Array.isArray(s.pageSizesKb) && s.pageSizesKb.length > 0, 'scorer.pageSizesKb', 'a non-empty array', s.pageSizesKb);
  check(pow2(s.basePageKb), 'scorer.basePageKb', 'a power of two', s.basePageKb);
  s.pageSizesKb.forEach((kb, i) => check(pow2(kb) && kb > s.basePageKb, `scorer.pageSizesKb[${i}]`, `a power of two above basePageKb (${s.basePageKb})`, kb));
  check(new Set(s.pageSizesKb).size === s.pageSizesKb.length, 'scorer.pageSizesKb', 'without repeats', s.pageSizesKb);
  check(s.pageSizesKb.some((kb) => kb * 1024 <= c.regionBytes), 'scorer.pageSizesKb', `at least one size that fits regionBytes (${c.regionBytes})`, s.pageSizesKb);
  for (const key of ['minFaults', 'accessesPerSample', 'damonWeight', 'walkNsPerAccess', 'minorFaultNs', 'zeroingNsPerKb', 'compactionWeight', 'swapInNs'] as const) {
    check(num(s[key]) && s[key] >= 0, `scorer.${key}`, 'a number >= 0', s[key]);
  }
  check(num(s.mthpWalkEfficiency) && s.mthpWalkEfficiency >= 0 && s.mthpWalkEfficiency <= 1, 'scorer.mthpWalkEfficiency', 'a number from 0 to 1', s.mthpWalkEfficiency);
  check(num(s.amortizeWindows) && s.amortizeWindows > 0, 'scorer.amortizeWindows', 'a number > 0', s.amortizeWindows);
  check(num(s.costDecay) && s.costDecay >= 0 && s.costDecay <= 1, 'scorer.costDecay', 'a number from 0 to 1', s.costDecay);
  check(num(s.maxFallbackInflation) && s.maxFallbackInflation >= 1, 'scorer.maxFallbackInflation', 'a number >= 1', s.maxFallbackInflation);

  const p = c.phases;
  check(num(p.threshold) && p.threshold > 0 && p.threshold <= 1, 'phases.threshold', 'a number in (0, 1]', p.threshold);
  check(int(p.minDwellMs) && p.minDwellMs >= 0, 'phases.minDwellMs', 'an integer >= 0', p.minDwellMs);
  check(int(p.confirmWindows) && p.confirmWindows >= 1, 'phases.confirmWindows', 'an integer >= 1', p.confirmWindows);
  check(num(p.hotMinAccesses) && p.hotMinAccesses > 0, 'phases.hotMinAccesses', 'a number > 0', p.hotMinAccesses);
  check(num(p.minFaultRate) && p.minFaultRate >= 0, 'phases.minFaultRate', 'a number >= 0', p.minFaultRate);

  const pl = c.planner;
  check(num(pl.minScore), 'planner.minScore', 'a number', pl.minScore);
  check(int(pl.hintTtlMs) && pl.hintTtlMs >= 1, 'planner.hintTtlMs', 'an integer >= 1', pl.hintTtlMs);
  check(int(pl.maxHintsPerWindow) && pl.maxHintsPerWindow >= 0, 'planner.maxHintsPerWindow', 'an integer >= 0', pl.maxHintsPerWindow);
  check(int(pl.maxHintsPerHostWindow) && pl.maxHintsPerHostWindow >= 0, 'planner.maxHintsPerHostWindow', 'an integer >= 0', pl.maxHintsPerHostWindow);
  check(int(pl.confirmWindows) && pl.confirmWindows >= 1, 'planner.confirmWindows', 'an integer >= 1', pl.confirmWindows);
  check(int(pl.minDwellWindows) && pl.minDwellWindows >= 0, 'planner.minDwellWindows', 'an integer >= 0', pl.minDwellWindows);
  check(int(pl.coldWindows) && pl.coldWindows >= 1, 'planner.coldWindows', 'an integer >= 1', pl.coldWindows);
  check(int(pl.pageOutFactor) && pl.pageOutFactor >= 1, 'planner.pageOutFactor', 'an integer >= 1', pl.pageOutFactor);
  check(num(pl.keepBaseMinAccesses) && pl.keepBaseMinAccesses >= 0, 'planner.keepBaseMinAccesses', 'a number >= 0', pl.keepBaseMinAccesses);

  const t = c.tuner;
  check(typeof t.enabled === 'boolean', 'tuner.enabled', 'a boolean', t.enabled);
  check(num(t.refaultTargetPctPerMin) && t.refaultTargetPctPerMin > 0, 'tuner.refaultTargetPctPerMin', 'a number > 0', t.refaultTargetPctPerMin);
  check(num(t.psiTargetSomeAvg10) && t.psiTargetSomeAvg10 >= 0 && t.psiTargetSomeAvg10 <= 100, 'tuner.psiTargetSomeAvg10', 'a number from 0 (off) to 100', t.psiTargetSomeAvg10);
  check(int(t.measureWindows) && t.measureWindows >= 1, 'tuner.measureWindows', 'an integer >= 1', t.measureWindows);
  check(int(t.minColdWindows) && t.minColdWindows >= 1, 'tuner.minColdWindows', 'an integer >= 1', t.minColdWindows);
  check(int(t.maxColdWindows) && t.maxColdWindows >= t.minColdWindows, 'tuner.maxColdWindows', `an integer >= minColdWindows (${t.minColdWindows})`, t.maxColdWindows);
  check(pl.coldWindows >= t.minColdWindows && pl.coldWindows <= t.maxColdWindows, 'planner.coldWindows', `within tuner.minColdWindows..maxColdWindows (${t.minColdWindows}..${t.maxColdWindows})`, pl.coldWindows);
  check(num(t.minPagedOutPages) && t.minPagedOutPages >= 0, 'tuner.minPagedOutPages', 'a number >= 0', t.minPagedOutPages);
  check(num(t.lowerBelowFraction) && t.lowerBelowFraction >= 0 && t.lowerBelowFraction < 1, 'tuner.lowerBelowFraction', 'a number in [0, 1)', t.lowerBelowFraction);
  check(num(t.benefitStepNs) && t.benefitStepNs > 0, 'tuner.benefitStepNs', 'a number > 0', t.benefitStepNs);
  check(num(t.maxBenefitThresholdNs) && t.maxBenefitThresholdNs >= pl.minScore, 'tuner.maxBenefitThresholdNs', `a number >= planner.minScore (${pl.minScore})`, t.maxBenefitThresholdNs);

  // A region must live long enough to be paged out, or it would vanish before the planner acts.
  const pageOutAt = t.maxColdWindows * pl.pageOutFactor;
  check(c.idleEvictWindows > pageOutAt, 'idleEvictWindows', `more than tuner.maxColdWindows * planner.pageOutFactor (${pageOutAt})`, c.idleEvictWindows);
}

/** Page sizes scored for regions of `regionBytes`: the configured sizes that fit, ascending. */
export function scoredSizesKb(c: ProcessorConfig, regionBytes: number): number[] {
  return [...c.scorer.pageSizesKb].filter((kb) => kb * 1024 <= regionBytes).sort((a, b) => a - b);
}

/** A stable fingerprint of the config: a checkpoint made under another model is not restored. */
export function configFingerprint(c: ProcessorConfig): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sorted(c));
}

const SECTIONS: Readonly<Record<string, object>> = {
  scorer: DEFAULT_SCORER_CONFIG,
  phases: DEFAULT_PHASES_CONFIG,
  planner: DEFAULT_PLANNER_CONFIG,
  tuner: DEFAULT_TUNER_CONFIG,
};

/**
 * A model file (JSON, the shape of ProcessorConfig, any subset) as config
 * input. Unknown keys are refused by name: a typo must not silently fall
 * back to a default. Values are checked by validateProcessorConfig.
 */
export function processorConfigFromJson(obj: unknown): ProcessorConfigInput {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new UsageError('processors: the model must be a JSON object');
  const top = obj as Record<string, unknown>;
  for (const [key, value] of Object.entries(top)) {
    const section = SECTIONS[key];
    if (section) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`processors.${key}: must be an object`);
      for (const sub of Object.keys(value)) {
        if (!(sub in section)) throw new UsageError(`processors.${key}.${sub}: unknown key (known: ${Object.keys(section).join(', ')})`);
      }
    } else if (!(key in DEFAULT_PROCESSOR_CONFIG)) {
      throw new UsageError(`processors.${key}: unknown key (known: ${Object.keys(DEFAULT_PROCESSOR_CONFIG).join(', ')})`);
    }
  }
  return top as ProcessorConfigInput;
}
