/**
 * The collector into a real Kafka broker: a workload's events arrive with
 * the counts the kernel gives, sequence numbers without gaps; a broker
 * stopped for 10 s loses nothing within the memory bound, and past it the
 * drops are counted exactly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, readTopic, type TestBroker } from '../test/broker.js';
import { createCollector, DEFAULT_COLLECTOR_CONFIG, type Collector, type CollectorStats } from './collector.js';
import { createKafkaEventsProducer } from './kafka-producer.js';
import { encodeCollectorBatch } from './encode.js';
import { DEFAULT_PROBES_CONFIG, createProbes } from '../bpf/probes.js';
import { loadAddon } from '../bpf/native.js';
import { startMemtouch, type Memtouch } from '../bench/workloads/memtouch.js';
import { readProcStat } from '../lib/procfs.js';
import type { EventBatch } from '../schemas/event-batch.js';
import { decodeEventBatch } from '../schemas/event-batch-codec.js';
import { probeEventsFromEventBatch } from '../schemas/event-batch-rows.js';
import { TOPIC } from '../schemas/topics.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker?.close();
});

const faultsOf = (pid: number) => {
  const s = readProcStat(pid);
  return s.minflt + s.majflt;
};

async function collectWhile(w: Memtouch, queueBytes: number, body: (collector: Collector) => Promise<void>): Promise<{ stats: CollectorStats; instance: string }> {
  const instance = `test-${Math.random().toString(36).slice(2)}`;
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, families: ['fault'], faultMode: 'raw', targets: { pids: [w.pid], cgroups: [] } }, { addon: loadAddon() });
  const collector = createCollector(
    {
      ...DEFAULT_COLLECTOR_CONFIG,
      host: 'kafka-test-host',
      bootId: 'test-boot',
      instance,
      batch: { maxEvents: 2048, maxBytes: 1 << 20, maxDelayMs: 50 },
      queue: { maxBytes: queueBytes },
      retry: { initialMs: 100, maxMs: 1000 },
      flushTimeoutMs: 60_000,
    },
    { probes, producer: createKafkaEventsProducer(broker.kafka, { compression: 'gzip', sendTimeoutMs: 5000 }), encode: encodeCollectorBatch },
  );
  collector.start();
  await body(collector);
  return { stats: await collector.stop(), instance };
}

/** The batches of one collector run as Kafka holds them, duplicates (same sequence) checked and removed. */
async function batchesOf(instance: string, sequences: number): Promise<EventBatch[]> {
  const bySeq = new Map<number, { batch: EventBatch; bytes: Buffer }>();
  await readTopic(broker.kafka, TOPIC.events, (records) => {
    for (const r of records.splice(0)) {
      const batch = decodeEventBatch(r.value!);
      if (batch.collectorId !== instance) continue;
      const prior = bySeq.get(batch.sequence);
      if (prior) assert.ok(prior.bytes.equals(r.value!), `sequence ${batch.sequence} appears twice with different bytes`);
      else bySeq.set(batch.sequence, { batch, bytes: r.value! });
      assert.equal(r.key, 'kafka-test-host');
    }
    return bySeq.size >= sequences;
  });
  return [...bySeq.keys()].sort((a, b) => a - b).map((s) => bySeq.get(s)!.batch);
}

function faultEvents(batches: EventBatch[], pid: number): number {
  let n = 0;
  for (const b of batches) for (const e of probeEventsFromEventBatch(b)) if (e.type === 'fault' && e.h.pid === pid) n++;
  return n;
}

test('a workload\'s faults reach pageloop.events.v1 with the kernel\'s count, sequence numbers without gaps', async () => {
  const w = await startMemtouch();
  let kernel = 0;
  const { stats, instance } = await collectWhile(w, 64 << 20, async () => {
    const before = faultsOf(w.pid);
    await w.map('a', 32);
    await w.send('touch a');
    kernel = faultsOf(w.pid) - before;
  });
  await w.exit();
  const batches = await batchesOf(instance, stats.sequence);
  assert.deepEqual(batches.map((b) => b.sequence), Array.from({ length: stats.sequence }, (_, i) => i));
  assert.equal(stats.drained.fault, kernel);
  assert.equal(stats.produced.fault, kernel);
  assert.equal(faultEvents(batches, w.pid), kernel);
  assert.ok(batches.every((b) => b.host === 'kafka-test-host' && b.bootId === 'test-boot'));
});

test('the broker stopped for 10 s mid-run: within the memory bound nothing is lost', async () => {
  const w = await startMemtouch();
  let kernel = 0;
  let away: CollectorStats | undefined;
  let faultsWhileAway = 0;
  const { stats, instance } = await collectWhile(w, 64 << 20, async (collector) => {
    const before = faultsOf(w.pid);
    await w.map('a', 16);
    await w.send('touch a');
    await broker.local.stop();
    const stoppedAt = faultsOf(w.pid);
    await w.map('b', 32);
    await w.send('touch b');
    faultsWhileAway = faultsOf(w.pid) - stoppedAt;
    await new Promise((r) => setTimeout(r, 10_000));
    away = collector.stats();
    await broker.local.start();
    await w.map('c', 16);
    await w.send('touch c');
    kernel = faultsOf(w.pid) - before;
  });
  await w.exit();
  // While the broker was away the collector kept draining and held what it
  // could not send (whether kafkajs failed fast or waited on its connection).
  assert.ok(away && faultsWhileAway >= 8192);
  assert.ok(away.drained.fault - away.produced.fault >= faultsWhileAway, `held ${away.drained.fault - away.produced.fault} faults, the workload made ${faultsWhileAway} while the broker was away`);
  assert.ok(away.queuedEvents >= faultsWhileAway);
  assert.equal(stats.drained.fault, kernel);
  assert.equal(stats.dropped.fault, 0);
  assert.equal(stats.produced.fault, kernel);
  const batches = await batchesOf(instance, stats.sequence);
  assert.equal(faultEvents(batches, w.pid), kernel);
});

test('past the memory bound the drops are counted exactly: produced + dropped = drained', async () => {
  const w = await startMemtouch();
  let kernel = 0;
  const { stats, instance } = await collectWhile(w, 64 << 10, async () => {
    const before = faultsOf(w.pid);
    await broker.local.stop();
    await w.map('b', 64);
    await w.send('touch b');
    await new Promise((r) => setTimeout(r, 2000));
    await broker.local.start();
    kernel = faultsOf(w.pid) - before;
  });
  await w.exit();
  assert.equal(stats.drained.fault, kernel);
  assert.ok(stats.dropped.fault > 0, 'a 64 KiB queue cannot hold 16384 faults');
  assert.equal(stats.produced.fault + stats.dropped.fault, stats.drained.fault);
  const batches = await batchesOf(instance, stats.sequence);
  assert.equal(faultEvents(batches, w.pid), stats.produced.fault);
  // Batches carry the drop count so far, for consumers to see; it only grows.
  const seen = batches.map((b) => b.dropped.find((d) => d.family === 'fault')?.events ?? 0);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  assert.ok(seen.at(-1)! <= stats.dropped.fault);
});
