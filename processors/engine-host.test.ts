import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOPIC } from '../schemas/topics.js';
import { createProcessorConfig } from './config.js';
import { PartitionEngine, type EngineContext, type OutRecord } from './engine.js';
import { leastLoaded, localEngineHost, workerEngineHost, workerPoolEngineHost, type EngineHost } from './engine-host.js';
import { scenarioRecords } from './synthetic.js';

const ctx: EngineContext = { config: createProcessorConfig(), inputTopic: TOPIC.events };
const GARBAGE = Buffer.from('not an EventBatch');

/** The scenario as kafkajs would hand it over, a malformed record and a tombstone included. */
function messages(): { offset: string; key: Buffer | null; value: Buffer | null; timestamp: string }[] {
  const recs = scenarioRecords({ windows: 14, dupAndGap: true });
  const values: (Buffer | null)[] = recs.map((r) => Buffer.from(r.value));
  values.splice(40, 0, GARBAGE);
  values.splice(90, 0, null);
  return values.map((value, i) => ({ offset: String(i), key: i % 7 === 0 ? null : Buffer.from(`k${i}`), value, timestamp: String(5000 + i) }));
}

function same(a: readonly OutRecord[], b: readonly OutRecord[]): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    assert.deepEqual([x.role, x.key, x.timestampMs], [y.role, y.key, y.timestampMs], `output ${i}`);
    assert.ok(x.value === null ? y.value === null : y.value !== null && Buffer.from(x.value).equals(Buffer.from(y.value)), `output ${i} bytes`);
  }
}

/** What the engine alone outputs for the messages (suppressing those below `suppressUntil`). */
function reference(ms: ReturnType<typeof messages>, suppressUntil = -1, partition = 3): OutRecord[] {
  const engine = new PartitionEngine(ctx, partition);
  const out: OutRecord[] = [];
  for (const m of ms) {
    const mark = out.length;
    engine.process({ offset: Number(m.offset), key: m.key, value: m.value, timestamp: m.timestamp }, out);
    if (Number(m.offset) < suppressUntil) out.length = mark;
  }
  return out;
}

async function viaHost(host: EngineHost, ms: ReturnType<typeof messages>, chunk: number, suppressUntil = -1): Promise<OutRecord[]> {
  const out: OutRecord[] = [];
  await host.open(3, null, -1);
  for (let i = 0; i < ms.length; i += chunk) {
    const r = await host.apply(3, ms.slice(i, i + chunk), suppressUntil);
    out.push(...r.outs);
    assert.equal(r.nextOffset, Number(ms[Math.min(ms.length, i + chunk) - 1]!.offset) + 1);
  }
  return out;
}

test('engines in a worker thread or in this one output what the engine alone does, byte for byte', async () => {
  const ms = messages();
  const ref = reference(ms);
  assert.ok(ref.some((o) => o.role === 'dlq') && ref.some((o) => o.role === 'scores') && ref.some((o) => o.value === null));
  const local = localEngineHost(ctx);
  same(await viaHost(local, ms, 17), ref);
  const worker = workerEngineHost(ctx, (err) => assert.fail(err));
  try {
    same(await viaHost(worker, ms, 17), ref);
    // Suppressed outputs (records committed already) are dropped, the state still moves.
    same(await viaHost(worker, ms, 50, 60), reference(ms, 60));
  } finally {
    await worker.stop();
  }
});

test('a checkpoint taken in the worker restores there and continues as the live engine would', async () => {
  const ms = messages();
  const ref = reference(ms);
  const worker = workerEngineHost(ctx, (err) => assert.fail(err));
  try {
    const out: OutRecord[] = [];
    await worker.open(3, null, -1);
    out.push(...(await worker.apply(3, ms.slice(0, 70), -1)).outs);
    const cp = await worker.checkpoint(3);
    worker.close(3);
    // Past the committed offset: unusable, a fresh engine.
    assert.equal((await worker.open(3, cp, 10)).nextOffset, -1);
    const opened = await worker.open(3, cp, 70);
    assert.equal(opened.nextOffset, 70);
    const rest = await worker.apply(3, ms.slice(60), -1);
    assert.equal(rest.applied, ms.length - 70, 'records below the next offset are skipped');
    out.push(...rest.outs);
    same(out, ref);
    await assert.rejects(worker.apply(4, ms.slice(0, 1), -1), /partition 4 has no engine open/);
  } finally {
    await worker.stop();
  }
});

test('a partition goes to the worker with the fewest open partitions, the first of those on a tie', () => {
  assert.equal(leastLoaded([0]), 0);
  assert.equal(leastLoaded([0, 0, 0]), 0);
  assert.equal(leastLoaded([1, 0, 0]), 1);
  assert.equal(leastLoaded([2, 2, 1]), 2);
  assert.equal(leastLoaded([1, 3, 1]), 0);
});

test('a pool of workers: each partition keeps to one worker and outputs what the engine alone does', async () => {
  const ms = messages();
  const pool = workerPoolEngineHost(ctx, 2, (err) => assert.fail(err));
  try {
    // Partitions 0, 2, 4 (all even, as after a rebalance) spread over both workers.
    for (const p of [0, 2, 4]) await pool.open(p, null, -1);
    assert.deepEqual([0, 2, 4].map((p) => pool.workerOf(p)), [0, 1, 0]);
    // Chunks of the three partitions interleaved, concurrently, as the runner applies them.
    const outs = new Map<number, OutRecord[]>([0, 2, 4].map((p) => [p, []]));
    for (let i = 0; i < ms.length; i += 23) {
      const chunk = ms.slice(i, i + 23);
      const done = await Promise.all([0, 2, 4].map((p) => pool.apply(p, chunk, -1)));
      done.forEach((r, k) => outs.get([0, 2, 4][k]!)!.push(...r.outs));
    }
    for (const p of [0, 2, 4]) same(outs.get(p)!, reference(ms, -1, p));
    // A checkpoint comes from the partition's own worker and restores anywhere.
    const cp = await pool.checkpoint(2);
    pool.close(2);
    assert.equal(pool.workerOf(2), undefined);
    await pool.open(6, null, -1);
    assert.equal(pool.workerOf(6), 1, 'the freed worker takes the next partition');
    assert.equal((await pool.open(2, cp, ms.length)).nextOffset, ms.length);
    assert.equal(pool.workerOf(2), 1);
    await assert.rejects(pool.apply(8, ms.slice(0, 1), -1), /partition 8 has no engine open/);
  } finally {
    await pool.stop();
  }
  assert.throws(() => workerPoolEngineHost(ctx, 0, () => undefined), /engine workers: want a positive integer, got 0/);
});
