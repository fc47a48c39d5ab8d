/**
 * pageloop.hints.v1: one Hint, one row of hints. The topic is compacted and
 * keyed by host, so a null value (a tombstone) is a withdrawn plan: a row
 * with the host (from the key) and withdrawn = 1.
 */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { decodeHint } from '../schemas/derived.js';
import { appendRow, provenance, recordKeyText, regionValues, type TopicRoute } from './table-blocks.js';

export const HINTS_ROUTE: TopicRoute = {
  tables: ['hints'],
  decode: (rec) => {
    if (rec.value === null) {
      // A tombstone: the host's plan was withdrawn (the topic is keyed by host).
      return (t) => appendRow(t.get(TABLE.hints), { time: rec.timestampMs, host: recordKeyText(rec), withdrawn: 1, ...provenance(rec) });
    }
    const h = decodeHint(rec.value);
    return (t) =>
      appendRow(t.get(TABLE.hints), {
        time: rec.timestampMs,
        host: h.process.host,
        boot_id: h.process.bootId,
        pid: h.process.pid,
        start_ns: h.process.startNs,
        hint_id: h.hintId,
        action: h.action,
        page_size_kb: h.pageSizeKb,
        score: h.score,
        reason: h.reason,
        issued_ns: h.issuedNs,
        expires_ns: h.expiresNs,
        cgroup: h.cgroup,
        bytes: h.bytes,
        ...regionValues(h.region),
        ...provenance(rec),
      });
  },
};
