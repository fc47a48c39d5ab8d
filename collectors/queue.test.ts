import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedQueue, chunkOfEvents, chunkOfFrames, type Chunk } from './queue.js';
import type { ProbeEvent } from '../bpf/events.js';

function chunk(n: number, type: 'fault' | 'swap_in' = 'fault', bytesPerEvent = 64): Chunk {
  const h = { tsNs: 1, startNs: 1, pid: 1, tid: 1, kind: 1, cpu: 0, hint: 0 };
  const events: ProbeEvent[] = Array.from({ length: n }, () =>
    type === 'fault'
      ? { type: 'fault', h, address: 0, ip: 0, errorCode: 0, sampleWeight: 1 }
      : { type: 'swap_in', h, address: 0, backing: 1, pad: 0 },
  );
  return { ...chunkOfEvents(events), bytes: n * bytesPerEvent };
}

test('keeps chunks within the bound and counts what it drops, per family', () => {
  const q = new BoundedQueue(1000);
  assert.equal(q.push(chunk(10)), true); // 640 bytes
  assert.equal(q.push(chunk(10, 'swap_in')), false); // would be 1280
  assert.equal(q.push(chunk(5)), true); // 960
  const s = q.stats();
  assert.equal(s.bytes, 960);
  assert.equal(s.events, 15);
  assert.equal(s.dropped.swap, 10);
  assert.equal(s.dropped.fault, 0);
  assert.equal(s.droppedChunks, 1);
});

test('take respects event and byte limits but always takes one chunk; in-flight counts until ack', () => {
  const q = new BoundedQueue(10_000);
  q.push(chunk(10));
  q.push(chunk(10));
  q.push(chunk(10));
  const first = q.take(15, 1 << 20);
  assert.equal(first.length, 1);
  assert.equal(q.stats().bytes, 1920, 'taken but not acked still counts');
  q.ack(first);
  assert.equal(q.stats().bytes, 1280);
  const big = q.take(1, 1);
  assert.equal(big.length, 1, 'a chunk larger than the limit still goes alone');
  q.requeue(big);
  assert.equal(q.size, 2);
  const rest = q.take(100, 1 << 20);
  assert.equal(rest.length, 2);
  q.ack(rest);
  assert.deepEqual([q.size, q.stats().bytes, q.stats().events], [0, 0, 0]);
});

test('requeued chunks come out first, in their order', () => {
  const q = new BoundedQueue(1 << 20);
  const a = chunk(1);
  const b = chunk(2);
  const c = chunk(3);
  q.push(a);
  q.push(b);
  const taken = q.take(100, 1 << 20);
  q.push(c);
  q.requeue(taken);
  assert.deepEqual(q.take(100, 1 << 20), [a, b, c]);
});

test('waitingEvents counts what is queued and not taken: push, take, requeue, discard', () => {
  const q = new BoundedQueue(1 << 20);
  q.push(chunk(4));
  q.push(chunk(6));
  assert.equal(q.waitingEvents, 10);
  const taken = q.take(5, 1 << 20);
  assert.equal(q.waitingEvents, 6);
  assert.equal(q.stats().events, 10, 'in flight still counts against the bound');
  q.requeue(taken);
  assert.equal(q.waitingEvents, 10);
  q.ack(q.take(100, 1 << 20));
  assert.equal(q.waitingEvents, 0);
  q.push(chunk(3));
  q.discardAll();
  assert.equal(q.waitingEvents, 0);
});

test('a chunk of ring-buffer frames counts its records per family from their kinds', () => {
  const frame = (kind: number) => {
    const b = Buffer.alloc(8 + 56);
    b.writeUInt32LE(56, 0);
    b.writeUInt16LE(kind, 8 + 24);
    return b;
  };
  const c = chunkOfFrames(Buffer.concat([frame(1), frame(1), frame(8), frame(4)]));
  assert.equal(c.records, 4);
  assert.equal(c.bytes, 4 * 64);
  assert.deepEqual(c.counts, { fault: 2, promotion: 0, collapse: 0, compaction: 1, swap: 1 });
});
