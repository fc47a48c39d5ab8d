import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOPIC } from '../schemas/topics.js';
import { createProcessorConfig } from './config.js';
import { PartitionEngine, type EngineContext, type OutRecord } from './engine.js';
import { localEngineHost, workerEngineHost, type EngineHost } from './engine-host.js';
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
function reference(ms: ReturnType<typeof messages>, suppressUntil = -1): OutRecord[] {
  const engine = new PartitionEngine(ctx, 3);
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
