/**
 * Hint planner: what a region should get, with hysteresis.
 *
 *   cold for >= coldWindows * pageOutFactor windows     -> page_out
 *   cold for >= coldWindows windows                     -> mark_cold
 *   scored, best net > benefit threshold                -> promote to the preferred size
 *   scored, hot (>= keepBaseMinAccesses), best net <= 0 -> keep_base_pages
 *   otherwise                                           -> no opinion (the current hint stays until it expires)
 *
 * "Cold" = no access samples (faults, refaults, DAMON) for N windows; the
 * tuner moves N (coldWindows) and the benefit threshold. promote and
 * keep_base_pages must hold for confirmWindows windows before they are
 * issued; a region's hint does not change again within minDwellWindows;
 * a cold hint is withdrawn at once when the region is accessed again.
 */
import type { HintActionKind } from '../schemas/derived.js';
import type { PlannerConfig } from './config.js';

export type PlanAction = Exclude<HintActionKind, 'unspecified' | 'reclaim_cgroup'>;

export interface Desired {
  readonly action: PlanAction;
  readonly sizeKb: number;
}

/**
 * One object per distinct desire: every region keeps its candidate, so
 * sharing them saves an object per region and per window. Few exist (the
 * actions times the host's page sizes).
 */
const desires: Readonly<Record<PlanAction, Map<number, Desired>>> = { promote: new Map(), keep_base_pages: new Map(), mark_cold: new Map(), page_out: new Map() };
function desire(action: PlanAction, sizeKb: number): Desired {
  const bySize = desires[action];
  let d = bySize.get(sizeKb);
  if (!d) {
    d = Object.freeze({ action, sizeKb });
    bySize.set(sizeKb, d);
  }
  return d;
}

export interface PlanInput {
  /** Windows since the region's last access (0: accessed in this window). */
  coldFor: number;
  /** Scored in this window. */
  scored: boolean;
  bestNet: number;
  bestSizeKb: number;
  /** Access samples in this window (first touch included). */
  heat: number;
}

export interface Thresholds {
  coldWindows: number;
  benefitThresholdNs: number;
}

export function desiredHint(p: PlanInput, t: Thresholds, c: PlannerConfig, basePageKb: number): Desired | null {
  if (p.coldFor >= t.coldWindows * c.pageOutFactor) return desire('page_out', 0);
  if (p.coldFor >= t.coldWindows) return desire('mark_cold', 0);
  if (!p.scored) return null;
  if (p.bestNet > t.benefitThresholdNs && p.bestNet > 0) return desire('promote', p.bestSizeKb);
  if (p.heat >= c.keepBaseMinAccesses && p.bestNet <= 0) return desire('keep_base_pages', basePageKb);
  return null;
}

export const isColdAction = (a: PlanAction): boolean => a === 'mark_cold' || a === 'page_out';

export function sameDesire(a: Desired | null, b: Desired | null): boolean {
  return a !== null && b !== null && a.action === b.action && a.sizeKb === b.sizeKb;
}

/** The compacted hints topic's key: one live hint per region of a process. */
export function hintKey(host: string, pid: number, startNs: number, regionStart: number): string {
  return `${host}|${pid}|${startNs}|${regionStart}`;
}

/** The host part of a hint key (host names never contain '|'; if one did, the last three fields still split right). */
export function hostOfHintKey(key: string): string {
  let cut = key.length;
  for (let i = 0; i < 3; i++) {
    cut = key.lastIndexOf('|', cut - 1);
    if (cut < 0) return key;
  }
  return key.slice(0, cut);
}

/** Deterministic and unique: the region, and the window that issued the hint. */
export function hintId(host: string, bootId: string, pid: number, startNs: number, regionStart: number, windowStartNs: number): string {
  return `${host}/${bootId}/${pid}/${startNs}/${regionStart.toString(16)}/${windowStartNs}`;
}
