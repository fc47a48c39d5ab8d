/** pageloop.dlq.v1: one DeadLetter (a record some consumer could not decode), one row of dead_letters; host is the bad record's key. */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { decodeDeadLetter } from '../schemas/dead-letter.js';
import { appendRow, provenance, recordValue, type TopicRoute } from './table-blocks.js';

export const DEAD_LETTERS_ROUTE: TopicRoute = {
  tables: ['dead_letters'],
  decode: (rec) => {
    const d = decodeDeadLetter(recordValue(rec));
    return (t) =>
      appendRow(t.get(TABLE.deadLetters), {
        time: rec.timestampMs,
        host: Buffer.from(d.key).toString('utf8'),
        topic: d.topic,
        partition: d.partition,
        offset: d.offset,
        consumer: d.consumer,
        reason: d.reason,
        key: d.key,
        raw: d.raw,
        source_time: d.timestampMs,
        ...provenance(rec),
      });
  },
};
