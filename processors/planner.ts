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

/**
 * A hint's value, for the rate limits: a promotion's or keep's net benefit
 * per window; a cold hint's expected refault cost per window, negated (0 is
 * the safest page-out).
 */
export function hintScore(d: Desired, bestNet: number, refaultsDecayed: number, refaultNs: number): number {
  return isColdAction(d.action) ? 0 - refaultsDecayed * refaultNs : bestNet;
}

/** What a region's refaults looked like lately (for a page-out's reason). */
export interface RefaultHistory {
  /** Mean time from page-out to refault, ns (0: none seen). */
  readonly refaultDistanceNs: number;
  /** Refaults per window, halved every window. */
  readonly refaultsDecayed: number;
}

/** Why a hint is issued, for a person reading it. */
export function hintReason(d: Desired, coldFor: number, bestNet: number, r: RefaultHistory, t: Thresholds, refaultNs: number, c: PlannerConfig): string {
  switch (d.action) {
    case 'promote':
      return `net benefit ${Math.round(bestNet)} ns/window at ${d.sizeKb} KiB over threshold ${t.benefitThresholdNs}`;
    case 'keep_base_pages':
      return `no page size pays off (best net ${Math.round(bestNet)} ns/window)`;
    case 'mark_cold':
      return `no access for ${coldFor} windows (threshold ${t.coldWindows})`;
    case 'page_out': {
      const distance = r.refaultDistanceNs > 0 ? `, refaulted ${(r.refaultDistanceNs / 1e9).toFixed(1)} s after page-out before` : '';
      return `no access for ${coldFor} windows (threshold ${t.coldWindows * c.pageOutFactor}); refault cost ${Math.round(refaultNs)} ns, ${r.refaultsDecayed.toFixed(2)} refaults/window lately${distance}`;
    }
  }
}

/** A hint in force, as the planner sees it (state.ts's LiveHint). */
export interface HintInForce {
  readonly action: PlanAction;
  readonly sizeKb: number;
  readonly expiresNs: number;
  /** Window index that issued it. */
  readonly window: number;
}

/** A region as the planner sees it (state.ts's RegionState). */
export interface PlannedRegion extends RefaultHistory {
  readonly start: number;
  hint: HintInForce | null;
  /** The desire of the last windows, and for how many windows in a row. */
  cand: Desired | null;
  streak: number;
}

/** A hint to issue, or one in force to refresh, for the rate limits to rank. */
export interface Plan<R extends { readonly start: number }> {
  readonly r: R;
  readonly d: Desired;
  readonly score: number;
  readonly reason: string;
  /** Refreshes a hint in force at its expiry (never held back by a limit). */
  readonly refresh: boolean;
}

const ACTION_RANK: Readonly<Record<PlanAction, number>> = { page_out: 0, mark_cold: 1, promote: 2, keep_base_pages: 3 };

/** Issue order under a rate limit: page-outs, cold marks, promotions, keeps; then the larger |score|; then the lower region start. */
export function comparePlans(a: Plan<{ readonly start: number }>, b: Plan<{ readonly start: number }>): number {
  return ACTION_RANK[a.d.action] - ACTION_RANK[b.d.action] || Math.abs(b.score) - Math.abs(a.score) || a.r.start - b.r.start;
}

/**
 * One region's planner step at the close of window w (ending at windowEndNs):
 * moves its candidate and streak, pushes onto `plans` the hint to issue or
 * the one in force to refresh, if any, and withdraws (sets r.hint to null)
 * a cold hint of a region accessed again or a hint expired and no longer
 * wanted. Returns whether it withdrew one (the caller sends the tombstone).
 */
export function planRegion<R extends PlannedRegion>(
  r: R,
  input: PlanInput,
  w: number,
  windowEndNs: number,
  t: Thresholds,
  refaultNs: number,
  c: PlannerConfig,
  basePageKb: number,
  plans: Plan<R>[],
): boolean {
  let withdrew = false;
  if (r.hint && isColdAction(r.hint.action) && input.coldFor === 0) {
    // Accessed again: it was not cold after all. Withdraw at once.
    r.hint = null;
    withdrew = true;
  }
  const d = desiredHint(input, t, c, basePageKb);
  if (sameDesire(d, r.cand)) r.streak++;
  else {
    r.cand = d;
    r.streak = d ? 1 : 0;
  }
  const hint = r.hint;
  const holds = hint !== null && d !== null && hint.action === d.action && hint.sizeKb === d.sizeKb;
  if (hint && windowEndNs >= hint.expiresNs) {
    if (holds) {
      plans.push({ r, d: d!, score: hintScore(d!, input.bestNet, r.refaultsDecayed, refaultNs), reason: 'refreshed: still wanted at expiry', refresh: true });
    } else {
      r.hint = null;
      withdrew = true;
    }
  }
  if (d && !holds) {
    const ready = isColdAction(d.action) || r.streak >= c.confirmWindows;
    const dwellOk = r.hint === null || w - r.hint.window >= c.minDwellWindows;
    if (ready && dwellOk) {
      plans.push({ r, d, score: hintScore(d, input.bestNet, r.refaultsDecayed, refaultNs), reason: hintReason(d, input.coldFor, input.bestNet, r, t, refaultNs, c), refresh: false });
    }
  }
  return withdrew;
}

/**
 * The plans a rate limit lets through, the most valuable first (sorted in
 * place by `compare`): every refresh, and at most `max` new hints; the rest
 * wait for a later window.
 */
export function limitPlans<P extends Plan<{ readonly start: number }>>(plans: P[], max: number, compare: (a: P, b: P) => number = comparePlans): P[] {
  plans.sort(compare);
  const through: P[] = [];
  let issued = 0;
  for (const plan of plans) {
    if (!plan.refresh) {
      if (issued >= max) continue;
      issued++;
    }
    through.push(plan);
  }
  return through;
}

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
