/**
 * The chaos run's fault schedule: which fault comes when, from a seed, so a
 * failing run can be replayed. Rounds: each round holds every fault kind
 * once, shuffled; the short run is one round, a longer one repeats rounds
 * until its time is up. Pure (no I/O), tested beside it.
 */
import { prng } from '../../lib/prng.js';

export const FAULT_KINDS = [
  'kill-agent',
  'kill-processor-0',
  'kill-processor-1',
  'kill-sink',
  'stop-processor',
  'stop-sink',
  'broker-restart',
  'kill-broker',
  'disk-full',
  'clock-jump',
  'malformed-records',
  'ring-overrun',
  'restart-endpoint',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  readonly kind: FaultKind;
  /** Seconds the harness waits after the previous fault recovered, before this one. */
  readonly gapS: number;
  /** SIGSTOP length (stop-*), how long the broker(s) stay down (broker-restart, kill-broker) or the disk stays full (disk-full), seconds. */
  readonly holdS: number;
  /** stop-processor: which instance. */
  readonly instance: 0 | 1;
}

/** Fisher-Yates with the seeded generator. */
export function shuffle<T>(items: readonly T[], rnd: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `rounds` rounds of every fault kind in a seeded order, with seeded gaps and hold times. */
/** Kinds whose holdS is used (the report gives it for them only). */
export const HELD_KINDS: ReadonlySet<FaultKind> = new Set(['stop-processor', 'stop-sink', 'broker-restart', 'kill-broker', 'disk-full']);

export function faultSchedule(seed: number, rounds: number): PlannedFault[] {
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`rounds: wants an integer >= 1, got ${rounds}`);
  const rnd = prng(seed);
  const out: PlannedFault[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const kind of shuffle(FAULT_KINDS, rnd)) {
      // Gaps of 1-2 s (were 2-5): each fault starts from a recovered stack already, the gap only spaces them.
      out.push({ kind, gapS: 1 + Math.floor(rnd() * 2), holdS: 2 + Math.floor(rnd() * 4), instance: rnd() < 0.5 ? 0 : 1 });
    }
  }
  return out;
}

/** p50 and max of a list of durations (ms); undefined when empty. */
export function percentiles(values: readonly number[]): { p50: number; max: number } | undefined {
  if (values.length === 0) return undefined;
  const sorted = values.slice().sort((a, b) => a - b);
  return { p50: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted[sorted.length - 1]! };
}
