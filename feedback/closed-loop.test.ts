/**
 * The closed loop on the real kernel with the whole pipeline: probes ->
 * collector -> Kafka -> processors -> hints -> feedback agent -> kernel. A
 * workload with a hot region (random reads) and a cold one (touched once)
 * ends with the hot region backed by huge pages, the cold one swapped out to
 * zram, and pageloop.actions.v1 saying so.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { startTestBroker, readTopic, type TestBroker } from '../test/broker.js';
import { ensureZramSwap, type SwapDevice } from '../deploy/zram.js';
import { startClosedLoop } from '../bench/closed-loop.js';
import { startMemtouch } from '../bench/workloads/memtouch.js';
import { readSmaps, smapsFieldInRange } from '../lib/procfs.js';
import { decodeHintAction, type HintAction } from '../schemas/derived.js';
import { TOPIC } from '../schemas/topics.js';

const MiB = 1 << 20;
const NUMA = '/proc/sys/kernel/numa_balancing';
let broker: TestBroker;
let swap: SwapDevice;
let numaBefore = '0';

before(async () => {
  broker = await startTestBroker();
  swap = ensureZramSwap(1024);
  numaBefore = readFileSync(NUMA, 'utf8').trim();
  // NUMA balancing samples accesses to mapped memory as hinting faults.
  writeFileSync(NUMA, '1');
});
after(async () => {
  writeFileSync(NUMA, numaBefore);
  swap?.teardown();
  await broker?.close();
});

test('hot region promoted to 2M pages, cold region paged out to zram, every action on pageloop.actions.v1', async () => {
  const pin = `/sys/fs/bpf/pageloop-loop-test-${process.pid}/pl_hints`;
  const w = await startMemtouch();
  await w.send('idlethread');
  const hot = await w.map('hot', 16, 'plain');
  await w.send('touch hot');
  const cold = await w.map('cold', 32, 'plain');
  await w.send('touch cold');
  const loop = await startClosedLoop({ kafka: broker.kafka, pid: w.pid, comm: 'memtouch', hintMapPinPath: pin, windowMs: 2000 });
  const deadline = Date.now() + 120_000;
  let hugeKb = 0;
  let swapKb = 0;
  try {
    while (Date.now() < deadline) {
      await w.send('hotloop hot 1000 7');
      const smaps = readSmaps(w.pid);
      hugeKb = smapsFieldInRange(smaps, 'AnonHugePages', hot, hot + 16 * MiB);
      swapKb = smapsFieldInRange(smaps, 'Swap', cold, cold + 32 * MiB);
      if (hugeKb === 16 * 1024 && swapKb >= 0.9 * 32 * 1024) break;
    }
  } finally {
    await loop.stop();
    await w.exit();
    rmSync(dirname(pin), { recursive: true, force: true });
  }
  assert.equal(hugeKb, 16 * 1024, 'the hot region is backed by huge pages');
  assert.ok(swapKb >= 0.9 * 32 * 1024, `the cold region went to swap (${swapKb} kB of ${32 * 1024})`);

  const actions: HintAction[] = [];
  const appliedBytes = (action: string) =>
    actions.filter((a) => a.process.pid === w.pid && a.outcome === 'applied' && a.action === action).reduce((n, a) => n + a.bytesAffected, 0);
  await readTopic(broker.kafka, TOPIC.actions, (records) => {
    for (const r of records.splice(0)) if (r.value) actions.push(decodeHintAction(r.value));
    return appliedBytes('promote') >= 16 * MiB && appliedBytes('page_out') >= 0.9 * 32 * MiB;
  });
  assert.ok(appliedBytes('promote') >= 16 * MiB, `promote actions cover the hot region (${appliedBytes('promote')} bytes)`);
  assert.ok(appliedBytes('page_out') >= 0.9 * 32 * MiB, `page_out actions cover the cold region (${appliedBytes('page_out')} bytes)`);
  // Nothing was promoted in the cold region, nothing paged out in the hot one.
  const mine = actions.filter((a) => a.process.pid === w.pid && a.outcome === 'applied');
  const inRange = (a: HintAction, start: number, mib: number) => !!a.region && a.region.start >= start && a.region.start < start + mib * MiB;
  assert.ok(mine.every((a) => (a.action === 'promote' ? inRange(a, hot, 16) : true)));
  assert.ok(mine.every((a) => (a.action === 'page_out' ? inRange(a, cold, 32) : true)));
});
