/**
 * The agent acting on a real kernel from a real broker: a PROMOTE hint
 * collapses a region into 2 MiB pages, a PAGE_OUT hint sends one to zram
 * swap, each with its hint-map entries; a restarted agent does not act on a
 * hint twice nor on one withdrawn while it was down; a withdrawal removes
 * the hint-map entries.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { startMemtouch, type Memtouch } from '../bench/workloads/memtouch.js';
import { readSmaps, smapsFieldInRange } from '../lib/procfs.js';
import { HINT_MAP_ACTION, openHintMap, type HintMap } from '../bpf/hint-map.js';
import { ensureZramSwap } from '../deploy/zram.js';
import { createFeedbackAgent, type FeedbackAgent } from './agent.js';
import { feedbackConfig } from './config.js';
import { hintKeyOf } from './policy.js';
import { actionsOf, identityOf, makeHint, recordOf, sendHints, waitFor } from '../test/feedback.js';

const MiB = 1024 * 1024;
const PIN = `/sys/fs/bpf/pageloop-test-agent-${process.pid}/pl_hints`;
const HOST = `loop-${process.pid}`;

let broker: TestBroker;
let map: HintMap;
let agent: FeedbackAgent | undefined;
let w: Memtouch;

async function startAgent(): Promise<FeedbackAgent> {
  const a = createFeedbackAgent(
    feedbackConfig({ host: HOST, hintMapPinPath: PIN, allow: { comms: ['memtouch'], executables: [], cgroups: [] } }),
    { kafka: broker.kafka, log: () => undefined },
  );
  await a.start();
  await a.caughtUp();
  return a;
}

before(async () => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  broker = await startTestBroker();
  map = openHintMap(PIN);
  w = await startMemtouch();
  agent = await startAgent();
});

after(async () => {
  await agent?.stop();
  await w?.exit();
  map?.close();
  await broker?.close();
  rmSync(dirname(PIN), { recursive: true, force: true });
});

const entriesOf = (pid: number) => map.entries().filter((e) => e.pid === pid).sort((a, b) => a.region - b.region);
let promoted: ReturnType<typeof makeHint>;

test('PROMOTE: a region touched in 4 KiB pages becomes 2 MiB pages, applied with its bytes; the hint map holds it', async () => {
  const hot = await w.map('hot', 4);
  await w.send('touch hot');
  assert.equal(smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', hot, hot + 4 * MiB), 0, 'starts in base pages (THP is madvise-only here)');
  const me = identityOf(HOST, w.pid);
  promoted = makeHint(me, hot, 4 * MiB, 'promote');
  await sendHints(broker.kafka, [recordOf(promoted)]);
  const [a] = await actionsOf(broker.kafka, HOST, (x) => x.some((y) => y.hintId === promoted.hintId));
  assert.equal(a?.hintId, promoted.hintId);
  assert.equal(a?.outcome, 'applied', a?.reason);
  assert.equal(a?.bytesAffected, 4 * MiB);
  assert.ok(a!.durationNs > 0);
  assert.ok(a!.atNs >= promoted.issuedNs);
  assert.match(a!.reason, /^process_madvise MADV_COLLAPSE of 4194304 bytes at 0x[0-9a-f]+ \(anon#0\+0x0\); comm memtouch is allowed$/);
  assert.equal(smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', hot, hot + 4 * MiB), 4096);
  const entries = entriesOf(w.pid);
  assert.deepEqual(
    entries.map((e) => [e.region, e.action, e.pageSizeKb, e.startNs]),
    [
      [hot / 2 ** 21, HINT_MAP_ACTION.promote, 2048, me.startNs],
      [hot / 2 ** 21 + 1, HINT_MAP_ACTION.promote, 2048, me.startNs],
    ],
  );
  assert.ok(entries.every((e) => e.updatedNs >= promoted.issuedNs && e.updatedNs <= a!.atNs));
});

test('a restarted agent acts neither on a hint it applied before nor on one withdrawn while it was down', async () => {
  await agent!.stop();
  agent = undefined;
  const cold = await w.map('cold-while-down', 2);
  const withdrawn = makeHint(identityOf(HOST, w.pid), cold, 2 * MiB, 'mark_cold');
  await sendHints(broker.kafka, [recordOf(withdrawn), { key: hintKeyOf(withdrawn), value: null }]);
  agent = await startAgent();
  assert.ok(agent.stats().alreadyApplied >= 1, 'the promote hint was seen again and skipped');
  // The restarted agent sent what it had to before caughtUp resolved; a marker hint after it bounds the read.
  const marker = makeHint(identityOf(HOST, w.pid), cold + 4096, 4096, 'keep_base_pages', { pageSizeKb: 4 });
  await sendHints(broker.kafka, [recordOf(marker)]);
  const all = await actionsOf(broker.kafka, HOST, (x) => x.some((y) => y.hintId === marker.hintId));
  assert.equal(all.filter((x) => x.hintId === promoted.hintId).length, 1, 'applied once, not again after the restart');
  assert.equal(all.filter((x) => x.hintId === withdrawn.hintId).length, 0, 'never acted on');
  assert.equal(all.find((x) => x.hintId === marker.hintId)?.outcome, 'applied');
});

test('a withdrawal (tombstone) removes the hint-map entries', async () => {
  assert.equal(entriesOf(w.pid).filter((e) => e.action === HINT_MAP_ACTION.promote).length, 2);
  await sendHints(broker.kafka, [{ key: hintKeyOf(promoted), value: null }]);
  await waitFor('the promote entries to leave the hint map', () => entriesOf(w.pid).every((e) => e.action !== HINT_MAP_ACTION.promote));
  assert.ok(agent!.stats().withdrawals >= 1);
});

test('PAGE_OUT: a cold region goes to zram swap, applied with its bytes', async () => {
  const zram = ensureZramSwap(256);
  try {
    const cold = await w.map('cold', 4, 'nohugepage');
    await w.send('touch cold');
    assert.equal(smapsFieldInRange(readSmaps(w.pid), 'Swap', cold, cold + 4 * MiB), 0);
    const h = makeHint(identityOf(HOST, w.pid), cold, 4 * MiB, 'page_out');
    await sendHints(broker.kafka, [recordOf(h)]);
    const all = await actionsOf(broker.kafka, HOST, (x) => x.some((y) => y.hintId === h.hintId));
    const a = all.find((x) => x.hintId === h.hintId)!;
    assert.equal(a.outcome, 'applied', a.reason);
    assert.equal(a.bytesAffected, 4 * MiB);
    assert.match(a.reason, /^process_madvise MADV_PAGEOUT of 4194304 bytes/);
    const swapKb = smapsFieldInRange(readSmaps(w.pid), 'Swap', cold, cold + 4 * MiB);
    assert.ok(swapKb >= 0.9 * 4096, `Swap for the region ${swapKb} kB of 4096`);
    assert.deepEqual(
      entriesOf(w.pid)
        .filter((e) => e.region >= cold / 2 ** 21 && e.region < cold / 2 ** 21 + 2)
        .map((e) => e.action),
      [HINT_MAP_ACTION.page_out, HINT_MAP_ACTION.page_out],
    );
    await w.send('unmap cold'); // frees its swap before the device goes away
  } finally {
    zram.teardown();
  }
});

test('`pageloop feedback` runs the agent from the command line until SIGTERM', async () => {
  const host = `cli-${process.pid}`;
  const runner = join(dirname(fileURLToPath(import.meta.url)), '../cli/main.js');
  const child = spawn(
    process.execPath,
    [runner, 'feedback', '--brokers', broker.bootstrap, '--host', host, '--allow-comm', 'memtouch', '--hint-map', PIN, '--per-process-per-minute', '100'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitFor('the agent to start', () => stderr.includes(`feedback on ${host}`), 30_000);
    const base = await w.map('cli', 2);
    const h = makeHint(identityOf(host, w.pid), base, 2 * MiB, 'keep_base_pages', { pageSizeKb: 4 });
    await sendHints(broker.kafka, [recordOf(h)]);
    const [a] = await actionsOf(broker.kafka, host, (x) => x.length >= 1);
    assert.equal(a?.hintId, h.hintId);
    assert.equal(a?.outcome, 'applied', a?.reason);
    await waitFor('the action line', () => stdout.includes(`applied keep_base_pages hint ${h.hintId}`));
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /feedback stopped: \d+ records, applied 1, refused 0/);
});
