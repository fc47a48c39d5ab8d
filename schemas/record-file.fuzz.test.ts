/**
 * Recordings (`pageloop record` files, replayed by bench/fleet-sim.ts),
 * fuzzed: cut anywhere, bytes flipped, lengths inflated, garbage spliced in.
 * decodeRecordFile returns records or throws RecordFileError (naming the
 * file and, past the magic, the record and byte offset), never another
 * throw, and never reads a record that is not all in the file. A file cut
 * at a record boundary gives exactly the records before the cut.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RECORD_FILE_MAGIC, RecordFileError, decodeRecordFile, encodeRecordFrame, type RecordedRecord } from './record-file.js';
import { eventRecord } from '../test/sink-records.js';
import { decodesOrRefuses, fuzzParams, mutatedArb, randomBytesArb } from '../test/fuzz.js';

const RUNS = 1000;
const TIMEOUT = { timeout: 20_000 };

const RECORDS: RecordedRecord[] = [
  { key: 'node-a', value: eventRecord('node-a', 1, { faults: 3, mixed: true }).value, timestampMs: 1_700_000_000_000 },
  { key: '', value: Buffer.alloc(0), timestampMs: 0 },
  { key: 'nöde-b', value: eventRecord('node-b', 2, { faults: 1, mixed: false }).value, timestampMs: 1_700_000_000_001.5 },
];
const frames = RECORDS.map(encodeRecordFrame);
const WHOLE = Buffer.concat([RECORD_FILE_MAGIC, ...frames]);
const isRecordFileError = (e: unknown): boolean => e instanceof RecordFileError && e.message.startsWith('rec.bin: ');

describe('recordings, fuzzed', () => {
  it('the whole file decodes to its records; cut at each record boundary, to the records before the cut', () => {
    assert.deepEqual(decodeRecordFile(WHOLE, 'rec.bin'), RECORDS.map((r) => ({ ...r, value: Buffer.from(r.value) })));
    let at = RECORD_FILE_MAGIC.length;
    for (let i = 0; i <= frames.length; i++) {
      assert.equal(decodeRecordFile(WHOLE.subarray(0, at), 'rec.bin').length, i);
      at += frames[i]?.length ?? 0;
    }
  });

  it('mutated and random files: records, or a RecordFileError naming the file; every record read lies inside the file', TIMEOUT, () => {
    fc.assert(
      fc.property(fc.oneof(mutatedArb([WHOLE]), randomBytesArb, randomBytesArb.map((b) => Buffer.concat([RECORD_FILE_MAGIC, b]))), (bytes) => {
        const buf = Buffer.from(bytes);
        const r = decodesOrRefuses(() => decodeRecordFile(buf, 'rec.bin'), isRecordFileError);
        if (r.ok) {
          const used = RECORD_FILE_MAGIC.length + r.value.reduce((n, rec) => n + 16 + Buffer.byteLength(rec.key) + rec.value.length, 0);
          assert.ok(used <= buf.length || r.value.some((rec) => rec.key.includes('\ufffd')), `records take ${used} bytes of a ${buf.length}-byte file`);
          for (const rec of r.value) assert.ok(Number.isFinite(rec.timestampMs));
        } else if (buf.subarray(0, RECORD_FILE_MAGIC.length).equals(RECORD_FILE_MAGIC)) {
          assert.match((r.error as Error).message, /record \d+/);
        }
      }),
      fuzzParams(RUNS),
    );
  });
});
