import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decodeEventBatch, encodeEventBatch } from '../../schemas/event-batch-codec.js';
import { probeEventsFromEventBatch } from '../../schemas/event-batch-rows.js';
import { CollectorStream, SEC, compaction, faultSummary, promotion } from '../../processors/synthetic.js';
import { rebaseEventBatch } from './rebase.js';

it('a rebased batch has the new identity, every event time moved, durations kept', () => {
  const stream = new CollectorStream('real-host', 'boot-1', 'c-1');
  const original = decodeEventBatch(stream.batch([faultSummary(10 * SEC, 42, 3 * SEC, 0x7f0000000000, 17), promotion(10 * SEC + 5, 42, 3 * SEC, 0x7f0000001000, 9, false), compaction(10 * SEC + 9, 4_000_000, 9, true)]));
  const shift = 1000 * SEC;
  const rebased = decodeEventBatch(encodeEventBatch(rebaseEventBatch(original, { host: 'sim-7', bootId: 'boot-sim-7', collectorId: 'c-sim-7', sequence: 99, shiftNs: shift })));
  assert.deepEqual([rebased.host, rebased.bootId, rebased.collectorId, rebased.sequence], ['sim-7', 'boot-sim-7', 'c-sim-7', 99]);
  assert.equal(rebased.firstEventNs, original.firstEventNs + shift);
  assert.equal(rebased.lastEventNs, original.lastEventNs + shift);
  const before = probeEventsFromEventBatch(original);
  const after = probeEventsFromEventBatch(rebased);
  assert.equal(after.length, 3);
  for (let i = 0; i < before.length; i++) {
    const b = before[i]! as unknown as Record<string, number>;
    const a = after[i]! as unknown as Record<string, number>;
    for (const k of Object.keys(b)) {
      if (typeof b[k] !== 'number') continue;
      const absolute = k.endsWith('Ns') && k !== 'durationNs' && k !== 'intervalNs' && b[k] !== 0;
      assert.equal(a[k], absolute ? b[k]! + shift : b[k], `event ${i} ${k}`);
    }
  }
  assert.equal(original.host, 'real-host', 'the input batch is untouched');
});
