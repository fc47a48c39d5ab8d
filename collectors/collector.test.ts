/**
 * The collector's queueing and accounting around a producer that fails on
 * demand (a stand-in for Kafka in this unit test only; collectors/kafka.test.ts
 * runs the same paths against a real broker). The probes are real.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCollector, totalOf, type CollectorBatch, type EventsProducer } from './collector.js';
import { DEFAULT_PROBES_CONFIG, createProbes } from '../bpf/probes.js';
import { loadAddon } from '../bpf/native.js';
import { startMemtouch } from '../bench/workloads/memtouch.js';
import { readProcStat } from '../lib/procfs.js';

function flakyProducer() {
  const batches: CollectorBatch[] = [];
  let down = false;
  const producer: EventsProducer & { setDown(v: boolean): void } = {
    async send() {
      if (down) throw new Error('broker unavailable');
    },
    async close() {},
    setDown(v) {
      down = v;
    },
  };
  return { producer, batches };
}

async function run(queueBytes: number) {
  const w = await startMemtouch();
  const { producer, batches } = flakyProducer();
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, families: ['fault'], faultMode: 'raw', targets: { pids: [w.pid], cgroups: [] } }, { addon: loadAddon() });
  const collector = createCollector(
    {
      host: 'test-host',
      bootId: 'boot',
      instance: 'i1',
      topic: 't',
      batch: { maxEvents: 4096, maxBytes: 1 << 20, maxDelayMs: 20 },
      queue: { maxBytes: queueBytes },
      retry: { initialMs: 10, maxMs: 50 },
      flushTimeoutMs: 10_000,
    },
    {
      probes,
      producer,
      encode: (b) => {
        batches.push(b);
        return new Uint8Array(8);
      },
    },
  );
  collector.start();
  const before = readProcStat(w.pid);
  await w.map('a', 16);
  await w.send('touch a'); // 4096 faults while the producer works
  producer.setDown(true);
  await w.map('b', 64);
  await w.send('touch b'); // 16384 faults while it is down
  await new Promise((r) => setTimeout(r, 300));
  producer.setDown(false);
  const after = readProcStat(w.pid);
  const stats = await collector.stop();
  await w.exit();
  const kernel = after.minflt + after.majflt - before.minflt - before.majflt;
  return { stats, kernel, batches };
}

test('a broker outage within the memory bound loses nothing; sequence numbers have no gaps', async () => {
  const { stats, kernel, batches } = await run(64 << 20);
  assert.equal(stats.drained.fault, kernel);
  assert.equal(stats.produced.fault, kernel);
  assert.equal(totalOf(stats.dropped), 0);
  assert.ok(stats.produceErrors > 0, 'the producer was down for a while');
  assert.equal(stats.queuedEvents, 0);
  // A failed attempt is retried as is; the numbers used are 0..n-1.
  const used = [...new Set(batches.map((b) => b.sequence))].sort((a, b) => a - b);
  assert.deepEqual(used, Array.from({ length: stats.sequence }, (_, i) => i));
  assert.equal(stats.batchesProduced, stats.sequence);
});

test('past the memory bound, drops are counted exactly: produced + dropped = drained', async () => {
  const { stats, kernel, batches } = await run(256 << 10);
  assert.equal(stats.drained.fault, kernel);
  assert.ok(stats.dropped.fault > 0, 'a 256 KiB queue cannot hold 16384 raw faults');
  assert.equal(stats.produced.fault + stats.dropped.fault, stats.drained.fault);
  // Batches that reached the wire carry the drop count so far.
  assert.equal(batches.at(-1)!.dropped.fault, stats.dropped.fault);
});

test('the next full batch is encoded while one is in flight, and batches still go out in sequence order, retries included', async () => {
  const w = await startMemtouch();
  const sent: number[] = [];
  let inFlight = false;
  let encodedWhileInFlight = 0;
  let calls = 0;
  const producer: EventsProducer = {
    async send(_topic, _key, value) {
      inFlight = true;
      calls++;
      await new Promise((r) => setTimeout(r, 20));
      inFlight = false;
      // Every third attempt fails: the same bytes must come again before anything newer.
      if (calls % 3 === 0) throw new Error('broker unavailable');
      sent.push(value.readUInt32LE(0));
    },
    async close() {},
  };
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, families: ['fault'], faultMode: 'raw', targets: { pids: [w.pid], cgroups: [] } }, { addon: loadAddon() });
  const collector = createCollector(
    {
      host: 'test-host',
      bootId: 'boot',
      instance: 'i1',
      topic: 't',
      batch: { maxEvents: 1024, maxBytes: 1 << 20, maxDelayMs: 20 },
      queue: { maxBytes: 64 << 20 },
      retry: { initialMs: 1, maxMs: 5 },
      flushTimeoutMs: 30_000,
    },
    {
      probes,
      producer,
      encode: (b) => {
        if (inFlight) encodedWhileInFlight++;
        const bytes = Buffer.alloc(4);
        bytes.writeUInt32LE(b.sequence, 0);
        return bytes;
      },
    },
  );
  collector.start();
  const before = readProcStat(w.pid);
  await w.map('a', 64);
  await w.send('touch a'); // 16384 faults: 16 full batches
  const after = readProcStat(w.pid);
  const stats = await collector.stop();
  await w.exit();
  assert.equal(stats.produced.fault, after.minflt + after.majflt - before.minflt - before.majflt);
  assert.deepEqual(sent, Array.from({ length: stats.sequence }, (_, i) => i));
  assert.ok(encodedWhileInFlight > 0, 'no batch was encoded while another was in flight');
});
