/** pageloop.phases.v1: one PhaseChange, one row of phase_changes with the before/after summaries side by side. */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { decodePhaseChange } from '../schemas/derived.js';
import { appendRow, provenance, recordValue, type RowValue, type TopicRoute } from './table-blocks.js';

export const PHASES_ROUTE: TopicRoute = {
  tables: ['phase_changes'],
  decode: (rec) => {
    const p = decodePhaseChange(recordValue(rec));
    const summary = (prefix: string, s: typeof p.before): Record<string, RowValue> => ({
      [`${prefix}_hot_set_hash`]: s.hotSetHash,
      [`${prefix}_hot_regions`]: s.hotRegions,
      [`${prefix}_hot_bytes`]: s.hotBytes,
      [`${prefix}_fault_rate`]: s.faultRate,
      [`${prefix}_major_fault_rate`]: s.majorFaultRate,
      [`${prefix}_promotion_rate`]: s.promotionRate,
      [`${prefix}_swap_out_rate`]: s.swapOutRate,
    });
    return (t) =>
      appendRow(t.get(TABLE.phaseChanges), {
        time: rec.timestampMs,
        host: p.process.host,
        boot_id: p.process.bootId,
        pid: p.process.pid,
        start_ns: p.process.startNs,
        at_ns: p.atNs,
        phase: p.phase,
        distance: p.distance,
        reason: p.reason,
        ...summary('before', p.before),
        ...summary('after', p.after),
        ...provenance(rec),
      });
  },
};
