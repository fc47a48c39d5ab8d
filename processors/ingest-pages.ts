/**
 * Huge pages and compaction: promotions (per region and per host order),
 * khugepaged collapses and compaction runs (host level; deferrals and
 * kcompactd wake-ups only count, IngestContext.countHostEvents). The host cost model reads these at a window's close.
 */
import type { TypedEventBlocks } from '../schemas/typed-decode.js';
import { orderStats, type IngestContext } from './ingest-context.js';

/** mm_collapse_huge_page status SCAN_SUCCEED. */
const COLLAPSE_SUCCEEDED = 1;

export function ingestPromotions(x: IngestContext, s: TypedEventBlocks['promotions'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  for (let i = from; i < to; i++) {
    const w = gate.admit(h, s.h.tsNs[i]!);
    if (w < 0) continue;
    const order = s.order[i]!;
    const failed = s.failed[i]! !== 0;
    const os = orderStats(x.hostAcc(w).orders, order);
    os.attempts++;
    if (failed) os.failures++;
    const a = x.accOf(x.regionOf(x.processOf(s.h.pid[i]!, s.h.startNs[i]!), x.regionStartOf(s.address[i]!), x.regionBytes, w), w);
    a.events++;
    if (failed) a.promotionFailures++;
    else {
      a.promotions++;
      const kb = x.c.scorer.basePageKb * 2 ** order;
      a.promotionsBySize ??= new Map();
      a.promotionsBySize.set(kb, (a.promotionsBySize.get(kb) ?? 0) + 1);
    }
  }
}

/** mm_collapse_huge_page carries no address: a host-level outcome of PMD-size attempts. */
export function ingestCollapses(x: IngestContext, s: TypedEventBlocks['collapses'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  for (let i = from; i < to; i++) {
    const w = gate.admit(h, s.h.tsNs[i]!);
    if (w < 0) continue;
    const ha = x.hostAcc(w);
    const os = orderStats(ha.orders, x.pmdOrder);
    os.attempts++;
    ha.collapses++;
    if (s.status[i]! !== COLLAPSE_SUCCEEDED) {
      os.failures++;
      ha.collapseFailures++;
    }
  }
}

export function ingestCompactions(x: IngestContext, s: TypedEventBlocks['compactions'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  for (let i = from; i < to; i++) {
    const w = gate.admit(h, s.h.tsNs[i]!);
    if (w < 0) continue;
    const ha = x.hostAcc(w);
    ha.compactions++;
    const order = s.order[i]!;
    // Only direct compaction stalls an allocation; order -1 is a whole-node (manual) run.
    if (s.direct[i]! !== 0 && order >= 0) {
      const os = orderStats(ha.orders, order);
      os.directCompactions++;
      os.directCompactionNs += s.durationNs[i]!;
    }
  }
}

