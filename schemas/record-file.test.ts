import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { RECORD_FILE_MAGIC, RecordFileError, createRecordFileWriter, decodeRecordFile, encodeRecordFrame, readRecordFile } from './record-file.js';

const records = [
  { key: 'host-a', value: Buffer.from([1, 2, 3]), timestampMs: 1_700_000_000_123 },
  { key: 'hôst-b', value: Buffer.alloc(0), timestampMs: 0 },
];

it('a recording written record by record reads back exactly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-rec-'));
  try {
    const w = createRecordFileWriter(join(dir, 'r.plrec'));
    for (const r of records) w.append(r);
    w.close();
    assert.equal(w.records, 2);
    assert.equal(w.bytes, readFileSync(join(dir, 'r.plrec')).length);
    assert.deepEqual(readRecordFile(join(dir, 'r.plrec')), records);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a truncated or foreign file fails with the record and byte offset named', () => {
  const whole = Buffer.concat([RECORD_FILE_MAGIC, ...records.map(encodeRecordFrame)]);
  assert.throws(() => decodeRecordFile(whole.subarray(0, whole.length - 3), 'x'), (e: unknown) => e instanceof RecordFileError && /record 1 at byte \d+: .* past the end/.test(e.message));
  assert.throws(() => decodeRecordFile(Buffer.from('hello'), 'x'), /not a pageloop recording/);
  const huge = Buffer.concat([RECORD_FILE_MAGIC, Buffer.from([0xff, 0xff, 0xff, 0xff])]);
  assert.throws(() => decodeRecordFile(huge, 'x'), /key length 4294967295 is not plausible/);
  assert.deepEqual(decodeRecordFile(RECORD_FILE_MAGIC, 'x'), []);
});
