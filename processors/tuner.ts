/**
 * Closed-loop tuner, per host: holds a service-level objective by moving
 * the planner's thresholds, and every move is an event (TunerChange).
 *
 * Refault SLO (default): refaults of paged-out memory, as percent of the
 * paged-out pages per minute, over the last `measureWindows` windows:
 *
 *   measured = 100 * refaults / max(1, mean paged-out pages) * (60 s / span)
 *
 *   measured > target, enough paged out   -> coldWindows + 1 (judge cold later)
 *   measured < target * lowerBelowFraction,
 *     enough paged out                    -> coldWindows - 1 (page out sooner)
 *   too little paged out                  -> hold (no evidence either way)
 *
 * PSI SLO (optional, psiTargetSomeAvg10 > 0): memory PSI some avg10, max
 * over the span; above target the benefit threshold doubles (promote less:
 * huge pages bloat memory), under half the target it halves back down to
 * its initial value.
 *
 * After a change the tuner waits a whole span, so it judges the effect of
 * its own move rather than the past.
 */
import type { TunerChange } from '../schemas/derived.js';
import type { TunerConfig } from './config.js';

export interface TunerState {
  coldWindows: number;
  benefitThresholdNs: number;
  /** Window index of the last change (either threshold). */
  lastChangeWindow: number;
  /** Per window of the span, oldest first: refaults, paged-out pages, PSI max. */
  refaults: number[];
  pagedOut: number[];
  psi: number[];
}

export function newTunerState(coldWindows: number, benefitThresholdNs: number): TunerState {
  return { coldWindows, benefitThresholdNs, lastChangeWindow: -Infinity, refaults: [], pagedOut: [], psi: [] };
}

export interface TunerObservation {
  windowIndex: number;
  windowEndNs: number;
  refaults: number;
  pagedOutPages: number;
  psiSomeAvg10: number;
}

export const REFAULT_OBJECTIVE = 'refault_rate_pct_per_min';
export const PSI_OBJECTIVE = 'memory_psi_some_avg10';

function push(list: number[], v: number, n: number): void {
  list.push(v);
  while (list.length > n) list.shift();
}

/** Refaults as percent of paged-out memory per minute over the span. */
export function refaultRatePctPerMin(refaults: readonly number[], pagedOut: readonly number[], windowMs: number): number {
  if (refaults.length === 0) return 0;
  let r = 0;
  let p = 0;
  for (let i = 0; i < refaults.length; i++) {
    r += refaults[i]!;
    p += pagedOut[i]!;
  }
  const meanPaged = p / refaults.length;
  const spanMin = (refaults.length * windowMs) / 60_000;
  return (100 * r) / Math.max(1, meanPaged) / spanMin;
}

/** One window: records the observation; returns the threshold changes (host and scope filled by the caller). */
export function tunerStep(s: TunerState, o: TunerObservation, c: TunerConfig, initialBenefitThresholdNs: number, windowMs: number, scope: string): TunerChange[] {
  push(s.refaults, o.refaults, c.measureWindows);
  push(s.pagedOut, o.pagedOutPages, c.measureWindows);
  push(s.psi, o.psiSomeAvg10, c.measureWindows);
  if (!c.enabled) return [];
  if (s.refaults.length < c.measureWindows || o.windowIndex - s.lastChangeWindow < c.measureWindows) return [];

  const changes: TunerChange[] = [];
  const measured = refaultRatePctPerMin(s.refaults, s.pagedOut, windowMs);
  const meanPaged = s.pagedOut.reduce((a, b) => a + b, 0) / s.pagedOut.length;
  const target = c.refaultTargetPctPerMin;
  if (meanPaged >= c.minPagedOutPages) {
    let next = s.coldWindows;
    let why = '';
    if (measured > target && s.coldWindows < c.maxColdWindows) {
      next = s.coldWindows + 1;
      why = `refaults ${measured.toFixed(3)}%/min of ${Math.round(meanPaged)} paged-out pages exceed the target: judge cold later`;
    } else if (measured < target * c.lowerBelowFraction && s.coldWindows > c.minColdWindows) {
      next = s.coldWindows - 1;
      why = `refaults ${measured.toFixed(3)}%/min of ${Math.round(meanPaged)} paged-out pages are well under the target: page out sooner`;
    }
    if (next !== s.coldWindows) {
      changes.push({ threshold: 'coldWindows', oldValue: s.coldWindows, newValue: next, objective: REFAULT_OBJECTIVE, measured, target, atNs: o.windowEndNs, scope, reason: why });
      s.coldWindows = next;
    }
  }
  if (c.psiTargetSomeAvg10 > 0) {
    const psi = Math.max(...s.psi);
    const old = s.benefitThresholdNs;
    let next = old;
    if (psi > c.psiTargetSomeAvg10) next = Math.min(c.maxBenefitThresholdNs, old <= initialBenefitThresholdNs ? initialBenefitThresholdNs + c.benefitStepNs : old * 2);
    else if (psi < c.psiTargetSomeAvg10 / 2 && old > initialBenefitThresholdNs) {
      next = old / 2 < initialBenefitThresholdNs + c.benefitStepNs ? initialBenefitThresholdNs : old / 2;
    }
    if (next !== old) {
      const why = next > old ? `memory PSI some avg10 ${psi.toFixed(2)} over target: promote less` : `memory PSI some avg10 ${psi.toFixed(2)} well under target: promote more`;
      changes.push({ threshold: 'benefitThresholdNs', oldValue: old, newValue: next, objective: PSI_OBJECTIVE, measured: psi, target: c.psiTargetSomeAvg10, atNs: o.windowEndNs, scope, reason: why });
      s.benefitThresholdNs = next;
    }
  }
  if (changes.length > 0) s.lastChangeWindow = o.windowIndex;
  return changes;
}
