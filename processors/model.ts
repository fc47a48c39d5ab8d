/**
 * The benefit/cost model (eBPF-mm, CBMM): per page size, the translation
 * work and faults a region saves, against the live cost of a huge page on
 * its host (zeroing, plus compaction weighted by how often it was needed and
 * how long it took there). Pure functions of the state and the config.
 *
 *   translationNs(S) = walkNsPerAccess * log2(S/base) / log2(2M/base) * (S >= 2M ? 1 : mthpWalkEfficiency)
 *   benefit(S)       = accessSamples * accessesPerSample * translationNs(S)
 *                    + firstTouchFaults * (1 - base/S) * minorFaultNs                  [ns/window]
 *   P(o)             = min(1, directCompactions(o) / max(1, allocations(o)))             (decayed counts)
 *   compaction(o)    = compactionWeight * P(o) * meanDirectCompactionNs(o)
 *   inflation(o)     = min(maxFallbackInflation, 1 / (1 - failures(o) / attempts(o)))
 *   pageCost(S)      = (zeroingNsPerKb * S + compaction(order S)) * inflation(order S)
 *   cost(S)          = (regionBytes / S) * pageCost(S) / amortizeWindows                [ns/window]
 *   net(S)           = benefit(S) - cost(S); preferred = argmax net(S) if > 0, else the base page
 *   refaultNs        = swapInNs + reclaim ns per reclaimed page (host, decayed)
 */
import type { PageSizeScore } from '../schemas/derived.js';
import type { ScorerConfig } from './config.js';

/** Decayed per-order allocation and compaction statistics of one host. */
export interface OrderStats {
  /** High-order allocation attempts at fault time (promotions, failed or not) and collapses. */
  attempts: number;
  /** Attempts that fell back (promotion failed, collapse did not succeed). */
  failures: number;
  /** Direct compactions run for this order (an allocation stalled on them). */
  directCompactions: number;
  /** Their total duration, ns. */
  directCompactionNs: number;
}

export interface HostCost {
  /** Allocation order -> stats. Only orders seen are present. */
  orders: Map<number, OrderStats>;
  /** Direct reclaim, decayed: duration and pages reclaimed, for the refault cost. */
  reclaimNs: number;
  reclaimedPages: number;
}

export function newHostCost(): HostCost {
  return { orders: new Map(), reclaimNs: 0, reclaimedPages: 0 };
}

export function newOrderStats(): OrderStats {
  return { attempts: 0, failures: 0, directCompactions: 0, directCompactionNs: 0 };
}

/** Page order of a size: 2M over 4K is order 9. Sizes are powers of two. */
export function orderOfSizeKb(sizeKb: number, basePageKb: number): number {
  return Math.round(Math.log2(sizeKb / basePageKb));
}

export function sizeKbOfOrder(order: number, basePageKb: number): number {
  return basePageKb * 2 ** order;
}

const PMD_KB = 2048;

/** ns of translation work one access saves when the region is mapped with pages of sizeKb. */
export function translationNsPerAccess(sizeKb: number, c: ScorerConfig): number {
  if (sizeKb <= c.basePageKb) return 0;
  const reach = Math.log2(sizeKb / c.basePageKb) / Math.log2(PMD_KB / c.basePageKb);
  return c.walkNsPerAccess * reach * (sizeKb >= PMD_KB ? 1 : c.mthpWalkEfficiency);
}

/** Benefit (ns/window) of backing the region with sizeKb pages. */
export function benefitNs(sizeKb: number, accessSamples: number, firstTouchFaults: number, c: ScorerConfig): number {
  const translation = accessSamples * c.accessesPerSample * translationNsPerAccess(sizeKb, c);
  const faults = firstTouchFaults * (1 - c.basePageKb / sizeKb) * c.minorFaultNs;
  return translation + faults;
}

/** Probability that an allocation of this order needed direct compaction, and its mean duration. */
export function compactionCostNs(s: OrderStats | undefined, c: ScorerConfig): number {
  if (!s || s.directCompactions <= 0) return 0;
  const p = Math.min(1, s.directCompactions / Math.max(1, s.attempts));
  return c.compactionWeight * p * (s.directCompactionNs / s.directCompactions);
}

/** Failed attempts still cost: a successful page costs 1 / success rate attempts (capped). */
export function fallbackInflation(s: OrderStats | undefined, c: ScorerConfig): number {
  if (!s || s.attempts <= 0 || s.failures <= 0) return 1;
  const success = 1 - Math.min(1, s.failures / s.attempts);
  return success <= 1 / c.maxFallbackInflation ? c.maxFallbackInflation : 1 / success;
}

/** Live cost (ns) of one page of sizeKb on this host. */
export function pageCostNs(sizeKb: number, cost: HostCost, c: ScorerConfig): number {
  const s = cost.orders.get(orderOfSizeKb(sizeKb, c.basePageKb));
  return (c.zeroingNsPerKb * sizeKb + compactionCostNs(s, c)) * fallbackInflation(s, c);
}

/** Cost (ns/window) of promoting a whole region to sizeKb pages, amortized. */
export function regionCostNs(sizeKb: number, regionBytes: number, cost: HostCost, c: ScorerConfig): number {
  const pages = regionBytes / (sizeKb * 1024);
  return (pages * pageCostNs(sizeKb, cost, c)) / c.amortizeWindows;
}

export interface RegionScoreResult {
  sizes: PageSizeScore[];
  /** The size with the largest positive net benefit, or the base page. */
  preferredSizeKb: number;
  /** net of the preferred size (the best net when none is positive). */
  bestNet: number;
  bestSizeKb: number;
}

/** Scores every size; ties go to the smaller size (less bloat). */
export function scoreSizes(sizesKb: readonly number[], regionBytes: number, accessSamples: number, firstTouchFaults: number, cost: HostCost, c: ScorerConfig): RegionScoreResult {
  const sizes: PageSizeScore[] = [];
  let bestNet = -Infinity;
  let bestSizeKb = c.basePageKb;
  for (const sizeKb of sizesKb) {
    const benefit = benefitNs(sizeKb, accessSamples, firstTouchFaults, c);
    const costNs = regionCostNs(sizeKb, regionBytes, cost, c);
    const net = benefit - costNs;
    sizes.push({ sizeKb, benefit, cost: costNs, net });
    if (net > bestNet) {
      bestNet = net;
      bestSizeKb = sizeKb;
    }
  }
  return { sizes, preferredSizeKb: bestNet > 0 ? bestSizeKb : c.basePageKb, bestNet: sizes.length ? bestNet : 0, bestSizeKb };
}

/** Host-level counts of one window that feed the cost model. */
export interface WindowCostInput {
  /** order -> attempts, failures, direct compactions, their ns (raw counts of the window). */
  orders: Map<number, OrderStats>;
  reclaimNs: number;
  reclaimedPages: number;
}

/** Decays the host's statistics by costDecay, then adds the window's (so old storms fade). */
export function updateHostCost(cost: HostCost, w: WindowCostInput | undefined, c: ScorerConfig): void {
  decayHostCost(cost, 1, c);
  if (!w) return;
  // Sorted so that the map's insertion order (and so the checkpoint) is the same on every run.
  for (const order of [...w.orders.keys()].sort((a, b) => a - b)) {
    const add = w.orders.get(order)!;
    let s = cost.orders.get(order);
    if (!s) {
      s = newOrderStats();
      cost.orders.set(order, s);
    }
    s.attempts += add.attempts;
    s.failures += add.failures;
    s.directCompactions += add.directCompactions;
    s.directCompactionNs += add.directCompactionNs;
  }
  cost.reclaimNs += w.reclaimNs;
  cost.reclaimedPages += w.reclaimedPages;
}

/** Below this a decayed count is gone (keeps state bounded and deterministic). */
const NEGLIGIBLE = 1e-6;

/** `windows` windows of decay; stats that fade to nothing are dropped. */
export function decayHostCost(cost: HostCost, windows: number, c: ScorerConfig): void {
  let f = 1;
  for (let i = 0; i < windows && f > 0; i++) f *= c.costDecay;
  if (f < NEGLIGIBLE) f = 0;
  for (const [order, s] of cost.orders) {
    s.attempts *= f;
    s.failures *= f;
    s.directCompactions *= f;
    s.directCompactionNs *= f;
    if (s.attempts < NEGLIGIBLE && s.directCompactions < NEGLIGIBLE) cost.orders.delete(order);
  }
  cost.reclaimNs *= f;
  cost.reclaimedPages *= f;
  if (cost.reclaimedPages < NEGLIGIBLE) {
    cost.reclaimNs = 0;
    cost.reclaimedPages = 0;
  }
}

/** Live cost (ns) of one refault from swap on this host. */
export function refaultCostNs(cost: HostCost, c: ScorerConfig): number {
  const reclaimPerPage = cost.reclaimedPages > 0 ? cost.reclaimNs / cost.reclaimedPages : 0;
  return c.swapInNs + reclaimPerPage;
}
