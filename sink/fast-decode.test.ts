import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kind } from '../bpf/layout.generated.js';
import type { ProbeEvent } from '../bpf/events.js';
import { WireDecodeError } from '../schemas/wire-errors.js';
import { decodeEventBatch, encodeEventBatch } from '../schemas/event-batch-codec.js';
import { eventBatchFromProbeEvents } from '../schemas/event-batch-rows.js';
import { decodeEventBatchFast, type SinkEventBatch } from './fast-decode.js';
import { prng } from '../lib/prng.js';
import { eventRecord } from '../test/sink-records.js';

/** The fast result with typed arrays as plain arrays, to compare with decodeEventBatch. */
function plain(b: SinkEventBatch): unknown {
  return JSON.parse(JSON.stringify(b, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v)));
}

function sameAsSlow(bytes: Uint8Array): void {
  let slow: unknown;
  let slowErr: unknown;
  try {
    slow = decodeEventBatch(bytes);
  } catch (err) {
    slowErr = err;
  }
  if (slowErr) {
    assert.throws(
      () => decodeEventBatchFast(bytes),
      (e: unknown) => e instanceof WireDecodeError && e.reason === (slowErr as WireDecodeError).reason,
    );
    return;
  }
  assert.deepStrictEqual(plain(decodeEventBatchFast(bytes)), JSON.parse(JSON.stringify(slow)));
}

const META = { host: 'h', bootId: 'b', collectorId: 'c', sequence: 1 };
const U32 = 2 ** 32 - 1;

function faults(n: number, seed: number, big = false): ProbeEvent[] {
  const rnd = prng(seed);
  return Array.from({ length: n }, (_, i) => ({
    type: 'fault' as const,
    h: { tsNs: 1e15 + i, startNs: i % 3 === 0 ? 0 : 77, pid: i % 5 === 0 ? U32 : 10, tid: 11, kind: Kind.PL_KIND_FAULT, cpu: i % 4, hint: 0 },
    address: big && i === 1 ? Number.MAX_SAFE_INTEGER : Math.floor(rnd() * 2 ** 47),
    ip: big && i === 2 ? 2 ** 53 : Math.floor(rnd() * 2 ** 40),
    errorCode: i % 7,
    sampleWeight: i % 2 ? U32 : 0,
  }));
}

test('the fast path decodes what decodeEventBatch decodes, value for value', () => {
  for (let seq = 0; seq < 4; seq++) {
    sameAsSlow(eventRecord('node-a', seq, { faults: 300, mixed: true }).value);
    sameAsSlow(eventRecord('node-b', seq, { faults: 50, mixed: false }).value);
  }
  sameAsSlow(encodeEventBatch(eventBatchFromProbeEvents(META, faults(200, 1))));
  // Values past 49 bits take the slow path for the whole record: same answer.
  sameAsSlow(encodeEventBatch(eventBatchFromProbeEvents(META, faults(10, 2, true))));
  // No faults at all, and a batch with nothing.
  sameAsSlow(eventRecord('node-a', 9, { faults: 0, mixed: true }).value);
  sameAsSlow(encodeEventBatch(eventBatchFromProbeEvents(META, [])));
});

test('the fast path takes the common record (its faults come back as typed arrays)', () => {
  const b = decodeEventBatchFast(eventRecord('node-a', 1, { faults: 100, mixed: true }).value);
  assert.ok(b.faults.address instanceof Float64Array);
  assert.equal(b.faults.rows, 100);
});

test('bad records fail the same way on both paths', () => {
  const good = eventRecord('node-a', 3, { faults: 100, mixed: true }).value;
  sameAsSlow(good.subarray(0, good.length - 7));
  sameAsSlow(good.subarray(0, 40));
  sameAsSlow(Buffer.from([0xff, 0xff, 0xff]));
  sameAsSlow(Buffer.alloc(0));
  // An order that disagrees with the blocks: one more fault in the runs than in the block.
  const noOrder = encodeEventBatch({ ...eventBatchFromProbeEvents(META, faults(5, 3)), order: { type: [], run: [] } });
  const order = Buffer.from([0x3a, 4, 0x0a, 1, 1, 0x12]); // field 7: types [1], then runs...
  sameAsSlow(Buffer.concat([noOrder, order.subarray(0, 5), Buffer.from([0x12, 1, 6])]));
  // A column shorter than the block's rows (bytes changed by hand: rows 5 -> 6).
  const batch = Buffer.from(encodeEventBatch({ ...eventBatchFromProbeEvents(META, faults(5, 4)), order: { type: [], run: [] } }));
  const at = batch.indexOf(Buffer.from([0x08, 5]));
  assert.ok(at > 0);
  batch[at + 1] = 6;
  sameAsSlow(batch);
  // Random corruption of a valid record.
  const rnd = prng(5);
  for (let i = 0; i < 200; i++) {
    const bad = Buffer.from(good);
    for (let j = 0; j < 3; j++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
    sameAsSlow(bad);
  }
});
