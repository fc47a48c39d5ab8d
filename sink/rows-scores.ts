/** pageloop.scores.v1: one RegionScore, one row of scores (its per-size arrays included; score_sizes is a view of them). */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { decodeRegionScore } from '../schemas/derived.js';
import { appendRow, provenance, recordValue, regionValues, type TopicRoute } from './table-blocks.js';

export const SCORES_ROUTE: TopicRoute = {
  tables: ['scores'],
  decode: (rec) => {
    const s = decodeRegionScore(recordValue(rec));
    return (t) =>
      appendRow(t.get(TABLE.scores), {
        time: rec.timestampMs,
        host: s.process.host,
        boot_id: s.process.bootId,
        pid: s.process.pid,
        start_ns: s.process.startNs,
        executable: s.executable,
        comm: s.comm,
        ...regionValues(s.region),
        window_start_ns: s.windowStartNs,
        window_end_ns: s.windowEndNs,
        preferred_size_kb: s.preferredSizeKb,
        size_kb: s.sizes.map((x) => x.sizeKb),
        benefit: s.sizes.map((x) => x.benefit),
        cost: s.sizes.map((x) => x.cost),
        net: s.sizes.map((x) => x.net),
        faults: s.access.faults,
        write_faults: s.access.writeFaults,
        instr_faults: s.access.instrFaults,
        prot_faults: s.access.protFaults,
        major_faults: s.access.majorFaults,
        promotions: s.access.promotions,
        promotion_failures: s.access.promotionFailures,
        collapses: s.access.collapses,
        swap_outs: s.access.swapOuts,
        damon_accesses: s.access.damonAccesses,
        touched_bytes: s.access.touchedBytes,
        ...provenance(rec),
      });
  },
};
