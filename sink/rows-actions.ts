/** pageloop.actions.v1: one HintAction (what the agent did with a hint), one row of hint_actions. */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { decodeHintAction } from '../schemas/derived.js';
import { appendRow, provenance, recordValue, regionValues, type TopicRoute } from './table-blocks.js';

export const ACTIONS_ROUTE: TopicRoute = {
  tables: ['hint_actions'],
  decode: (rec) => {
    const a = decodeHintAction(recordValue(rec));
    return (t) =>
      appendRow(t.get(TABLE.hintActions), {
        time: rec.timestampMs,
        host: a.process.host,
        boot_id: a.process.bootId,
        pid: a.process.pid,
        start_ns: a.process.startNs,
        hint_id: a.hintId,
        action: a.action,
        page_size_kb: a.pageSizeKb,
        outcome: a.outcome,
        reason: a.reason,
        errno: a.errno,
        bytes_affected: a.bytesAffected,
        duration_ns: a.durationNs,
        at_ns: a.atNs,
        cgroup: a.cgroup,
        ...regionValues(a.region),
        ...provenance(rec),
      });
  },
};
