/**
 * Live overhead accounting: what the probes and the agent cost the host they
 * watch, measured while they run, per interval.
 *
 * Readings (cumulative counters, injected as `read`):
 *   - per BPF program, run_cnt and run_time_ns from bpf_prog_info. The kernel
 *     keeps them only while BPF stats are on; the meter turns them on for its
 *     own lifetime through BPF_ENABLE_STATS (an fd that keeps them on until it
 *     is closed, so the kernel.bpf_stats_enabled sysctl is never flipped for
 *     everyone, and a crash cannot leave it on);
 *   - the agent's own CPU time (user + system, every thread of the process);
 *   - the host's page faults (/proc/vmstat pgfault) and busy CPU time
 *     (/proc/stat, every CPU, everything but idle and iowait).
 *
 * The model (also in DESIGN.md, "Live overhead accounting"). Over an
 * interval of T ns on a host with C CPUs, with F faults and B ns of busy
 * CPU time, and P = the run time of the fault-path programs (those whose
 * hook fires inside a page fault: FAULT_PATH_PROGRAMS):
 *   ns per run, per program       = run_time / runs
 *   ns per fault                  = P / F (every fault of the host: a
 *                                   program filtered by target still costs
 *                                   its run on a foreign fault, and a
 *                                   sampled one spreads its runs over F)
 *   fault-path CPU share          = P / (T × C) = ns per fault × F/s ÷ C ÷ 1e9
 *                                   (the share of the host's capacity the
 *                                   fault-path programs take: the throughput
 *                                   a CPU-bound host loses)
 *   estimated fault-path slowdown = P / (B − P) (how much longer the work
 *                                   that ran took than it would have without
 *                                   the programs: their time is spent inside
 *                                   the faulting task's own CPU time)
 *   agent CPU share               = agent CPU / (T × C)
 * run_time_ns covers the program body only, not the hook's dispatch (the
 * tracepoint or perf event around it), so both estimates are lower bounds;
 * bench/overhead measures the whole cost.
 */
import { PageloopError, UsageError, errorMessage } from '../lib/errors.js';

/** Programs whose hook fires on the page-fault path (bpf/probes.ts program names). */
export const FAULT_PATH_PROGRAMS: readonly string[] = ['pl_page_fault_user', 'pl_fault_sample', 'pl_major_fault', 'pl_mm_page_alloc', 'pl_rss_stat'];

/** One program's cumulative counters, as bpf_prog_info holds them. */
export interface ProgramCounters {
  readonly name: string;
  readonly runCount: number;
  readonly runTimeNs: number;
}

/** Cumulative counters at one moment. */
export interface OverheadReading {
  /** CLOCK_BOOTTIME ns, the clock of every event time. */
  readonly atNs: number;
  readonly programs: readonly ProgramCounters[];
  /** The agent's CPU time, user + system, ns. */
  readonly agentCpuNs: number;
  /** The host's page faults (/proc/vmstat pgfault). */
  readonly hostFaults: number;
  /** The host's busy CPU time over all CPUs, ns (/proc/stat). */
  readonly hostBusyNs: number;
}

/** One interval of one host, as it goes on the wire (OverheadSamples): deltas, so a fleet's rows add up. */
export interface OverheadSample {
  /** End of the interval, CLOCK_BOOTTIME ns. */
  tsNs: number;
  intervalNs: number;
  cpus: number;
  /** 1 when the kernel kept program run times over the interval, else 0 (and no ProgramCostSample rows). */
  statsEnabled: number;
  agentCpuNs: number;
  hostFaults: number;
  hostBusyNs: number;
}

/** One program over one interval (ProgramCosts). */
export interface ProgramCostSample {
  tsNs: number;
  program: string;
  /** 1 for a program in FAULT_PATH_PROGRAMS. */
  faultPath: number;
  runCount: number;
  runTimeNs: number;
}

export interface OverheadRecord {
  overhead: OverheadSample;
  programs: ProgramCostSample[];
}

/** The model's figures for one interval; null where the denominator is 0. */
export interface OverheadFigures {
  intervalNs: number;
  statsEnabled: boolean;
  programs: { name: string; faultPath: boolean; runs: number; runTimeNs: number; nsPerRun: number | null }[];
  faultsPerSecond: number;
  faultPathNsPerFault: number | null;
  faultPathCpuShare: number;
  faultPathSlowdown: number | null;
  bpfCpuShare: number;
  agentCpuShare: number;
}

/** Throws a PageloopError naming the first field of a reading that is not a finite count. */
export function checkReading(r: OverheadReading): void {
  const bad = (field: string, v: unknown): never => {
    throw new PageloopError('overhead-reading', `overhead reading: ${field} is ${String(v)}, expected a finite number >= 0`);
  };
  const count = (field: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(field, v);
  };
  count('atNs', r.atNs);
  count('agentCpuNs', r.agentCpuNs);
  count('hostFaults', r.hostFaults);
  count('hostBusyNs', r.hostBusyNs);
  if (!Array.isArray(r.programs)) bad('programs', r.programs);
  r.programs.forEach((p, i) => {
    if (typeof p.name !== 'string' || p.name === '') bad(`programs[${i}].name`, p.name);
    count(`programs[${i}].runCount`, p.runCount);
    count(`programs[${i}].runTimeNs`, p.runTimeNs);
  });
}

/**
 * A counter's growth. A smaller value than before means it restarted (a
 * program reloaded, a counter read from a new object): its whole value is
 * the growth since, never a negative one.
 */
function grown(before: number | undefined, now: number): number {
  return before === undefined || now < before ? now : now - before;
}

/**
 * The interval between two readings as wire rows. Both readings must have
 * passed checkReading and `cur` must be later than `prev`.
 */
export function overheadRecord(prev: OverheadReading, cur: OverheadReading, cpus: number, statsEnabled: boolean, faultPath: readonly string[] = FAULT_PATH_PROGRAMS): OverheadRecord {
  if (!(cur.atNs > prev.atNs)) throw new PageloopError('overhead-reading', `overhead reading: atNs ${cur.atNs} is not after the previous ${prev.atNs}`);
  const before = new Map(prev.programs.map((p) => [p.name, p]));
  const programs: ProgramCostSample[] = statsEnabled
    ? cur.programs.map((p) => ({
        tsNs: cur.atNs,
        program: p.name,
        faultPath: faultPath.includes(p.name) ? 1 : 0,
        runCount: grown(before.get(p.name)?.runCount, p.runCount),
        runTimeNs: grown(before.get(p.name)?.runTimeNs, p.runTimeNs),
      }))
    : [];
  return {
    overhead: {
      tsNs: cur.atNs,
      intervalNs: cur.atNs - prev.atNs,
      cpus,
      statsEnabled: statsEnabled ? 1 : 0,
      agentCpuNs: grown(prev.agentCpuNs, cur.agentCpuNs),
      hostFaults: grown(prev.hostFaults, cur.hostFaults),
      hostBusyNs: grown(prev.hostBusyNs, cur.hostBusyNs),
    },
    programs,
  };
}

/** The model (see the header) over one interval's rows. */
export function overheadFigures(r: OverheadRecord): OverheadFigures {
  const o = r.overhead;
  const capacityNs = o.intervalNs * o.cpus;
  let faultPathNs = 0;
  let bpfNs = 0;
  const programs = r.programs.map((p) => {
    bpfNs += p.runTimeNs;
    if (p.faultPath) faultPathNs += p.runTimeNs;
    return { name: p.program, faultPath: p.faultPath === 1, runs: p.runCount, runTimeNs: p.runTimeNs, nsPerRun: p.runCount > 0 ? p.runTimeNs / p.runCount : null };
  });
  const enabled = o.statsEnabled === 1;
  return {
    intervalNs: o.intervalNs,
    statsEnabled: enabled,
    programs,
    faultsPerSecond: o.intervalNs > 0 ? (o.hostFaults * 1e9) / o.intervalNs : 0,
    faultPathNsPerFault: enabled && o.hostFaults > 0 ? faultPathNs / o.hostFaults : null,
    faultPathCpuShare: capacityNs > 0 ? faultPathNs / capacityNs : 0,
    // Busy time at or under P means the readings disagree (busy time is read in clock ticks): no estimate.
    faultPathSlowdown: enabled && o.hostBusyNs > faultPathNs ? faultPathNs / (o.hostBusyNs - faultPathNs) : null,
    bpfCpuShare: capacityNs > 0 ? bpfNs / capacityNs : 0,
    agentCpuShare: capacityNs > 0 ? o.agentCpuNs / capacityNs : 0,
  };
}

export interface OverheadConfig {
  /** Length of one interval: one OverheadSamples row per host per interval. */
  intervalMs: number;
  /** Programs counted as the fault path's cost. */
  faultPathPrograms: string[];
}

export const DEFAULT_OVERHEAD_CONFIG: Readonly<OverheadConfig> = Object.freeze({
  intervalMs: 10_000,
  faultPathPrograms: [...FAULT_PATH_PROGRAMS],
});

export function validateOverheadConfig(c: OverheadConfig): void {
  if (!Number.isInteger(c.intervalMs) || c.intervalMs < 100 || c.intervalMs > 3_600_000) {
    throw new UsageError(`overhead.intervalMs: wants an integer from 100 to 3600000, got ${c.intervalMs}`);
  }
  if (!Array.isArray(c.faultPathPrograms) || c.faultPathPrograms.some((p) => typeof p !== 'string' || p === '')) {
    throw new UsageError('overhead.faultPathPrograms: wants a list of program names');
  }
}

/** While open, the kernel keeps run time and count of every BPF program. */
export interface StatsHandle {
  close(): void;
}

export interface OverheadDeps {
  /** The cumulative counters now (deploy/overhead-reading.ts in production). */
  read(): OverheadReading;
  /** Turns BPF stats on until the handle is closed; throws (with the errno's reason) when the kernel refuses. */
  enableStats(): StatsHandle;
  /** Whether stats are on anyway (the kernel.bpf_stats_enabled sysctl), asked when enableStats failed. */
  statsOnAnyway?: () => boolean;
  cpus: number;
  /** Told when a reading fails; the meter goes on with the next interval. */
  log?: (line: string) => void;
}

export interface OverheadStats {
  /** Whether program run times are being kept. */
  statsEnabled: boolean;
  /** Why enabling them failed, when it did. */
  statsError: string | undefined;
  intervals: number;
  readErrors: number;
  lastError: string | undefined;
  /** Since start: per program, runs and run time; the agent's CPU time; intervals' length. */
  totals: { programs: Record<string, { runs: number; runTimeNs: number; faultPath: boolean }>; agentCpuNs: number; hostFaults: number; intervalNs: number };
  /** The newest interval's figures. */
  last: OverheadFigures | undefined;
}

export interface OverheadMeter {
  /** Enables stats, takes the first reading, and hands each interval's rows to onRecord. */
  start(onRecord: (r: OverheadRecord) => void): void;
  /** Closes the interval now (the collector calls it on stop, before the probes detach); returns what onRecord was given. */
  sampleNow(): OverheadRecord | undefined;
  stats(): OverheadStats;
  /** Takes a last interval, then turns stats off. */
  stop(): void;
}

export function createOverheadMeter(config: OverheadConfig, deps: OverheadDeps): OverheadMeter {
  validateOverheadConfig(config);
  if (!Number.isInteger(deps.cpus) || deps.cpus < 1) throw new UsageError(`overhead: cpus wants an integer >= 1, got ${deps.cpus}`);
  let handle: StatsHandle | undefined;
  let statsEnabled = false;
  let statsError: string | undefined;
  let prev: OverheadReading | undefined;
  let onRecord: ((r: OverheadRecord) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let intervals = 0;
  let readErrors = 0;
  let lastError: string | undefined;
  let last: OverheadFigures | undefined;
  const totals: OverheadStats['totals'] = { programs: {}, agentCpuNs: 0, hostFaults: 0, intervalNs: 0 };

  /** A reading, or undefined (counted and logged) when the source fails or gives a bad one. */
  function readSafely(): OverheadReading | undefined {
    try {
      const r = deps.read();
      checkReading(r);
      return r;
    } catch (err) {
      readErrors++;
      lastError = errorMessage(err);
      deps.log?.(`overhead: reading failed (${lastError}); this interval is not reported`);
      return undefined;
    }
  }

  function sampleNow(): OverheadRecord | undefined {
    const cur = readSafely();
    if (!cur) return undefined;
    const before = prev;
    prev = cur;
    // No baseline yet (the first read failed) or a clock that did not move: this reading is the baseline.
    if (!before || !(cur.atNs > before.atNs)) return undefined;
    const record = overheadRecord(before, cur, deps.cpus, statsEnabled, config.faultPathPrograms);
    intervals++;
    last = overheadFigures(record);
    totals.agentCpuNs += record.overhead.agentCpuNs;
    totals.hostFaults += record.overhead.hostFaults;
    totals.intervalNs += record.overhead.intervalNs;
    for (const p of record.programs) {
      const t = (totals.programs[p.program] ??= { runs: 0, runTimeNs: 0, faultPath: p.faultPath === 1 });
      t.runs += p.runCount;
      t.runTimeNs += p.runTimeNs;
    }
    // On the wire only the programs that ran: most of a probe set idles most
    // of the time (compaction, reclaim), and a fleet's rows add up either way.
    const wire: OverheadRecord = { overhead: record.overhead, programs: record.programs.filter((p) => p.runCount > 0 || p.runTimeNs > 0) };
    onRecord?.(wire);
    return wire;
  }

  return {
    start(cb) {
      if (onRecord) throw new UsageError('overhead: start() called twice');
      onRecord = cb;
      try {
        handle = deps.enableStats();
        statsEnabled = true;
      } catch (err) {
        statsError = errorMessage(err);
        statsEnabled = deps.statsOnAnyway?.() ?? false;
        deps.log?.(
          `overhead: BPF stats could not be enabled (${statsError}); ` +
            (statsEnabled ? 'kernel.bpf_stats_enabled is on, so run times are still kept' : 'program run times are not reported (pageloop_bpf_stats_enabled 0)'),
        );
      }
      prev = readSafely();
      timer = setInterval(sampleNow, config.intervalMs);
      timer.unref();
    },
    sampleNow,
    stats() {
      return {
        statsEnabled,
        statsError,
        intervals,
        readErrors,
        lastError,
        totals: { ...totals, programs: Object.fromEntries(Object.entries(totals.programs).map(([k, v]) => [k, { ...v }])) },
        last,
      };
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (onRecord) sampleNow();
      handle?.close();
      handle = undefined;
    },
  };
}

/** What `pageloop status` shows of the overhead (the status file's `overhead`). */
export interface OverheadStatus {
  statsEnabled: boolean;
  statsError: string | null;
  intervals: number;
  readErrors: number;
  agentCpuShare: number | null;
  faultsPerSecond: number | null;
  faultPathNsPerFault: number | null;
  faultPathCpuShare: number | null;
  faultPathSlowdown: number | null;
  programs: { name: string; faultPath: boolean; runs: number; nsPerRun: number | null }[];
}

/** The newest interval's figures, flattened for the status file (JSON: null where not measured). */
export function overheadStatus(s: OverheadStats): OverheadStatus {
  const l = s.last;
  return {
    statsEnabled: s.statsEnabled,
    statsError: s.statsError ?? null,
    intervals: s.intervals,
    readErrors: s.readErrors,
    agentCpuShare: l ? l.agentCpuShare : null,
    faultsPerSecond: l ? l.faultsPerSecond : null,
    faultPathNsPerFault: l?.faultPathNsPerFault ?? null,
    faultPathCpuShare: l?.statsEnabled ? l.faultPathCpuShare : null,
    faultPathSlowdown: l?.faultPathSlowdown ?? null,
    programs: (l?.programs ?? []).map((p) => ({ name: p.name, faultPath: p.faultPath, runs: p.runs, nsPerRun: p.nsPerRun })),
  };
}

const pct = (v: number): string => `${(v * 100).toFixed(v < 0.001 ? 4 : 2)}%`;

/** One line: agent CPU, the fault path's cost per fault and as a share, each program's ns per run. */
export function formatOverhead(s: OverheadStatus): string {
  if (s.intervals === 0) return 'overhead: no interval yet';
  const parts = [`agent CPU ${s.agentCpuShare === null ? '?' : pct(s.agentCpuShare)} of host`];
  if (!s.statsEnabled) {
    parts.push(`BPF stats off (${s.statsError ?? 'not enabled'}): program costs not measured`);
  } else {
    parts.push(
      `fault path ${s.faultPathNsPerFault === null ? 'no faults' : `${s.faultPathNsPerFault.toFixed(1)} ns/fault`}` +
        ` at ${(s.faultsPerSecond ?? 0).toFixed(0)} faults/s = ${pct(s.faultPathCpuShare ?? 0)} of CPU, est. slowdown ${s.faultPathSlowdown === null ? '?' : pct(s.faultPathSlowdown)}`,
    );
    const ran = s.programs.filter((p) => p.nsPerRun !== null);
    if (ran.length > 0) parts.push(ran.map((p) => `${p.name} ${p.nsPerRun!.toFixed(0)} ns/run`).join(', '));
  }
  if (s.readErrors > 0) parts.push(`${s.readErrors} readings failed`);
  return `overhead: ${parts.join('; ')}`;
}
