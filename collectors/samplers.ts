/**
 * Samplers on the same stream as the probes: /proc/vmstat deltas and PSI
 * memory pressure, read on an interval and stamped with the boot clock the
 * BPF events use.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseSmaps, parseVmstat } from '../lib/procfs.js';
import { UsageError } from '../lib/errors.js';
// The wire's sampler records: what these samplers produce is what a batch carries.
import type { DamonRegion, VmstatSample, PsiSample } from '../schemas/event-batch.js';

export type { DamonRegion, VmstatSample, PsiSample };

/** The vmstat counters pageloop follows: THP, compaction, swap and major faults. */
export const VMSTAT_PREFIXES = ['thp_', 'compact_', 'pswp', 'pgmajfault', 'pgfault', 'numa_hint_faults', 'zswp', 'swap_ra'] as const;

export function followedCounters(all: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of all) if (VMSTAT_PREFIXES.some((p) => k.startsWith(p))) out.set(k, v);
  return out;
}

/** Non-zero deltas between two readings, names sorted for a stable record. */
export function vmstatSample(prev: Map<string, number>, next: Map<string, number>, tsNs: number, intervalNs: number): VmstatSample {
  const deltas: Record<string, number> = {};
  for (const name of [...next.keys()].sort()) {
    const d = next.get(name)! - (prev.get(name) ?? 0);
    if (d !== 0) deltas[name] = d;
  }
  return { tsNs, intervalNs, deltas };
}

/** Parses /proc/pressure/memory ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0"). */
export function parsePsi(text: string, tsNs: number): PsiSample {
  const line = (kind: string) => {
    const m = new RegExp(`^${kind} avg10=([\\d.]+) avg60=([\\d.]+) avg300=([\\d.]+) total=(\\d+)`, 'm').exec(text);
    if (!m) throw new Error(`no '${kind}' line in PSI text`);
    return m.slice(1).map(Number) as [number, number, number, number];
  };
  const [sa10, sa60, sa300, st] = line('some');
  const [fa10, fa60, fa300, ft] = line('full');
  return {
    tsNs,
    cgroup: '',
    someAvg10: sa10,
    someAvg60: sa60,
    someAvg300: sa300,
    someTotalUs: st,
    fullAvg10: fa10,
    fullAvg60: fa60,
    fullAvg300: fa300,
    fullTotalUs: ft,
  };
}

export interface SamplerHandlers {
  onVmstat(s: VmstatSample): void;
  onPsi(s: PsiSample): void;
}

export interface SamplersConfig {
  vmstatIntervalMs: number;
  psiIntervalMs: number;
}

export const DEFAULT_SAMPLERS_CONFIG: Readonly<SamplersConfig> = Object.freeze({ vmstatIntervalMs: 1000, psiIntervalMs: 1000 });

export interface Samplers {
  start(handlers: SamplerHandlers): void;
  /** Takes one more reading of each (so a clean stop reports the last interval). */
  flush(): void;
  stop(): void;
}

/** An interval in ms, as the config file's schema bounds it (intervalSampler). */
function checkInterval(key: string, v: unknown): void {
  if (!Number.isInteger(v) || (v as number) < 10 || (v as number) > 3_600_000) throw new UsageError(`${key}: wants an integer from 10 to 3600000 (ms), got ${JSON.stringify(v)}`);
}

/** Checks a config; every error names the key. */
export function validateSamplersConfig(c: SamplersConfig): void {
  checkInterval('samplers.vmstatIntervalMs', c.vmstatIntervalMs);
  checkInterval('samplers.psiIntervalMs', c.psiIntervalMs);
}

export interface SamplersDeps {
  /** The events' clock (CLOCK_BOOTTIME ns, from the addon). */
  readonly clockNs: () => number;
}

export function createSamplers(config: SamplersConfig, deps: SamplersDeps): Samplers {
  validateSamplersConfig(config);
  const { clockNs } = deps;
  let handlers: SamplerHandlers | undefined;
  let prev = followedCounters(parseVmstat(readFileSync('/proc/vmstat', 'utf8')));
  let prevTs = clockNs();
  const psiAvailable = (() => {
    try {
      readFileSync('/proc/pressure/memory', 'utf8');
      return true;
    } catch {
      return false;
    }
  })();
  const timers: NodeJS.Timeout[] = [];
  const readVmstatNow = () => {
    const next = followedCounters(parseVmstat(readFileSync('/proc/vmstat', 'utf8')));
    const ts = clockNs();
    const sample = vmstatSample(prev, next, ts, ts - prevTs);
    prev = next;
    prevTs = ts;
    if (Object.keys(sample.deltas).length > 0) handlers?.onVmstat(sample);
  };
  const readPsiNow = () => {
    if (psiAvailable) handlers?.onPsi(parsePsi(readFileSync('/proc/pressure/memory', 'utf8'), clockNs()));
  };
  return {
    start(h) {
      handlers = h;
      timers.push(setInterval(readVmstatNow, config.vmstatIntervalMs).unref());
      if (psiAvailable) timers.push(setInterval(readPsiNow, config.psiIntervalMs).unref());
    },
    flush() {
      readVmstatNow();
    },
    stop() {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
    },
  };
}

/**
 * Access sampling for mapped memory where DAMON vaddr is missing: for each
 * target process, clear the accessed bits (/proc/PID/clear_refs), and one
 * interval later read how much of each mapping was referenced again
 * (/proc/PID/smaps Referenced). Reported per mapping as DAMON-style region
 * rows (nr_accesses = percent of the mapping referenced in the interval), so
 * downstream treats them like DAMON reports. Mapping granularity only, and
 * clearing the bits also ages the pages for reclaim: enabled for explicit
 * pid targets, never for "every process".
 */
export interface ReferencedSamplerConfig {
  intervalMs: number;
  /** Mappings smaller than this are not reported (they cannot hold a huge page). */
  minMappingBytes: number;
}

export const DEFAULT_REFERENCED_SAMPLER_CONFIG: Readonly<ReferencedSamplerConfig> = Object.freeze({ intervalMs: 1000, minMappingBytes: 2 * 1024 * 1024 });

/** Region rows from one smaps reading: percent of each big-enough mapping referenced. */
export function referencedRows(smapsText: string, pid: number, startNs: number, tsNs: number, minMappingBytes: number): DamonRegion[] {
  const rows: DamonRegion[] = [];
  for (const m of parseSmaps(smapsText)) {
    const bytes = m.end - m.start;
    if (bytes < minMappingBytes) continue;
    const referencedKb = m.fields.Referenced ?? 0;
    rows.push({ tsNs, pid, startNs, regionStart: m.start, regionEnd: m.end, nrAccesses: Math.round((referencedKb * 1024 * 100) / bytes), age: 0 });
  }
  return rows;
}

export interface ReferencedSampler {
  start(onRows: (rows: DamonRegion[]) => void): void;
  stop(): void;
}

/** Checks a config; every error names the key. */
export function validateReferencedSamplerConfig(c: ReferencedSamplerConfig): void {
  checkInterval('referenced.intervalMs', c.intervalMs);
  if (!Number.isSafeInteger(c.minMappingBytes) || c.minMappingBytes < 0) throw new UsageError(`referenced.minMappingBytes: wants an integer >= 0, got ${JSON.stringify(c.minMappingBytes)}`);
}

export interface ReferencedSamplerDeps {
  /**
   * The pids to sample with their exact start times (as the events carry
   * them; a pid whose start time is not known yet is skipped).
   */
  readonly targets: () => ReadonlyMap<number, number>;
  readonly clockNs: () => number;
}

export function createReferencedSampler(config: ReferencedSamplerConfig, deps: ReferencedSamplerDeps): ReferencedSampler {
  validateReferencedSamplerConfig(config);
  const { targets, clockNs } = deps;
  let timer: NodeJS.Timeout | undefined;
  const cleared = new Set<number>();
  const tick = (onRows: (rows: DamonRegion[]) => void) => {
    for (const [pid, startNs] of targets()) {
      try {
        // The first interval only clears: what is read next covers one whole interval.
        if (cleared.has(pid)) onRows(referencedRows(readFileSync(`/proc/${pid}/smaps`, 'utf8'), pid, startNs, clockNs(), config.minMappingBytes));
        writeFileSync(`/proc/${pid}/clear_refs`, '1');
        cleared.add(pid);
      } catch {
        cleared.delete(pid); // the process is gone
      }
    }
  };
  return {
    start(onRows) {
      timer = setInterval(() => tick(onRows), config.intervalMs).unref();
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
