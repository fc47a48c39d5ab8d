/** pageloop.tuner.v1: one TunerChange (a threshold the tuner moved), one row of tuner_changes; host is the change's scope. */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { decodeTunerChange } from '../schemas/derived.js';
import { appendRow, provenance, recordValue, type TopicRoute } from './table-blocks.js';

export const TUNER_ROUTE: TopicRoute = {
  tables: ['tuner_changes'],
  decode: (rec) => {
    const c = decodeTunerChange(recordValue(rec));
    return (t) =>
      appendRow(t.get(TABLE.tunerChanges), {
        time: rec.timestampMs,
        host: c.scope,
        threshold: c.threshold,
        old_value: c.oldValue,
        new_value: c.newValue,
        objective: c.objective,
        measured: c.measured,
        target: c.target,
        at_ns: c.atNs,
        scope: c.scope,
        reason: c.reason,
        ...provenance(rec),
      });
  },
};
