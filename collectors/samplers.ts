/**
 * Samplers on the same stream as the probes: /proc/vmstat deltas and PSI
 * memory pressure, read on an interval and stamped with the boot clock the
 * BPF events use.
 */
import { readFileSync } from 'node:fs';
import { parseVmstat } from '../lib/procfs.js';
// The wire's sampler records: what these samplers produce is what a batch carries.
import type { VmstatSample, PsiSample } from '../schemas/wire.js';

export type { VmstatSample, PsiSample };

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

export function createSamplers(config: SamplersConfig, clockNs: () => number): Samplers {
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
