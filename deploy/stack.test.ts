/** The stack's status file: what `pageloop status` reads, root-only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readStackStatus, writeStackStatus, type StackStatus } from './stack.js';

const status: StackStatus = {
  pid: 1, startedAt: 'a', updatedAt: 'b', host: 'h', kafka: '127.0.0.1:9092', clickhouseHttp: null,
  eventsPerSecond: 3, drained: 4, produced: 5, dropped: 0, ringBufferLost: 0,
  hintsApplied: 1, hintsRefused: 0, hintsFailed: 0, processor: { records: 2, regions: 1, outputs: { scores: 1 } }, sinkRows: 7,
};

test('the status file is written root-only and read back whole, even over a stale world-readable .tmp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-status-'));
  try {
    const file = join(dir, 'state', 'up.json');
    writeStackStatus(file, status);
    writeFileSync(file + '.tmp', 'stale');
    chmodSync(file + '.tmp', 0o644);
    writeStackStatus(file, { ...status, drained: 40 });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
    assert.deepEqual(readStackStatus(file), { ...status, drained: 40 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
