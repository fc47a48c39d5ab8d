/**
 * Paging out and back in: swap-outs (the pages each region has out, so a
 * later swap-in of one is a refault, with its distance), swap-ins and
 * direct reclaim runs (host level; changes of a process's swap entry count,
 * rss_stat MM_SWAPENTS, only count: IngestContext.countHostEvents). The
 * tuner and the refault cost read these at a window's close.
 */
import type { TypedEventBlocks } from '../schemas/typed-decode.js';
import type { IngestContext } from './ingest-context.js';

export function ingestSwapOuts(x: IngestContext, s: TypedEventBlocks['swapOuts'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  const regionBytes = x.regionBytes;
  const basePageBytes = x.basePageBytes;
  const maxPages = x.c.maxSwappedPagesPerRegion;
  for (let i = from; i < to; i++) {
    const t = s.h.tsNs[i]!;
    const w = gate.admit(h, t);
    if (w < 0) continue;
    const address = s.address[i]!;
    const r = x.regionOf(x.processOf(s.h.pid[i]!, s.h.startNs[i]!), x.regionStartOf(address), regionBytes, w);
    const a = x.accOf(r, w);
    const pages = Math.max(1, s.pages[i]!);
    a.events++;
    a.swapOuts++;
    a.swapOutPages += pages;
    const page0 = address - (address % basePageBytes);
    let added = 0;
    for (let k = 0; k < pages; k++) {
      const page = page0 + k * basePageBytes;
      r.swapped ??= new Map();
      if (r.swapped.has(page)) r.swapped.set(page, t);
      else if (r.swapped.size < maxPages) {
        r.swapped.set(page, t);
        added++;
      }
    }
    if (added > 0) x.hostAcc(w).pagedDelta += added;
  }
}

export function ingestSwapIns(x: IngestContext, s: TypedEventBlocks['swapIns'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  const regionBytes = x.regionBytes;
  const basePageBytes = x.basePageBytes;
  for (let i = from; i < to; i++) {
    const t = s.h.tsNs[i]!;
    const w = gate.admit(h, t);
    if (w < 0) continue;
    const address = s.address[i]!;
    const r = x.regionOf(x.processOf(s.h.pid[i]!, s.h.startNs[i]!), x.regionStartOf(address), regionBytes, w);
    const a = x.accOf(r, w);
    a.events++;
    a.majorFaults++;
    const page = address - (address % basePageBytes);
    const out = r.swapped?.get(page);
    if (out !== undefined) {
      a.refaults++;
      a.refaultDistanceNs += Math.max(0, t - out);
      r.swapped!.delete(page);
      const ha = x.hostAcc(w);
      ha.refaults++;
      ha.pagedDelta--;
    }
  }
}

export function ingestReclaims(x: IngestContext, s: TypedEventBlocks['reclaims'], from: number, to: number): void {
  const gate = x.gate;
  const h = x.h;
  for (let i = from; i < to; i++) {
    const w = gate.admit(h, s.h.tsNs[i]!);
    if (w < 0) continue;
    const ha = x.hostAcc(w);
    ha.reclaimNs += s.durationNs[i]!;
    ha.reclaimedPages += s.nrReclaimed[i]!;
  }
}
