/**
 * The samplers' rows: DAMON regions (access counts spread over the regions
 * they cover, at most maxDamonRegionsPerRow per row) and PSI (the host's
 * memory pressure, its window maximum; per-cgroup rows are not used).
 */
import type { TypedEventBatch } from '../schemas/typed-decode.js';
import { samplesFromEventBatch } from '../schemas/event-batch-rows.js';
import type { IngestContext } from './ingest-context.js';

export function ingestSamplers(x: IngestContext, b: TypedEventBatch): void {
  const gate = x.gate;
  const h = x.h;
  const regionBytes = x.regionBytes;
  const { damon, psi } = samplesFromEventBatch(b);
  for (const d of damon) {
    const w = gate.admit(h, d.tsNs);
    if (w < 0) continue;
    const p = x.processOf(d.pid, d.startNs);
    let start = x.regionStartOf(d.regionStart);
    for (let n = 0; start < d.regionEnd && n < x.c.maxDamonRegionsPerRow; n++, start += regionBytes) {
      const a = x.accOf(x.regionOf(p, start, regionBytes, w), w);
      a.events++;
      a.damonSum += d.nrAccesses;
      a.damonRows++;
    }
  }
  for (const s of psi) {
    if (s.cgroup !== '') continue;
    const w = gate.admit(h, s.tsNs);
    if (w < 0) continue;
    const ha = x.hostAcc(w);
    if (s.someAvg10 > ha.psiMax) ha.psiMax = s.someAvg10;
  }
}
