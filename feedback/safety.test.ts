/**
 * Every safety case against the real kernel and a real broker: the hint goes
 * to pageloop.hints.v1 as the planner would send it, the agent refuses it,
 * and the refusal with its reason is read back from pageloop.actions.v1.
 * Each agent runs as its own host, so the cases do not see each other's hints.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { startMemtouch, type Memtouch } from '../bench/workloads/memtouch.js';
import { readSmaps, smapsFieldInRange } from '../lib/procfs.js';
import { openHintMap } from '../bpf/hint-map.js';
import { encodeHint, type HintAction } from '../schemas/derived.js';
import { createFeedbackAgent, type FeedbackAgent } from './agent.js';
import { feedbackConfig, type FeedbackConfig } from './config.js';
import { hintKeyOf } from './policy.js';
import { actionsOf, identityOf, makeHint, recordOf, sendHints } from '../test/feedback.js';

const MiB = 1024 * 1024;
const PIN = `/sys/fs/bpf/pageloop-test-safety-${process.pid}/pl_hints`;
const HOST = {
  safety: `safety-${process.pid}`,
  empty: `empty-${process.pid}`,
  dry: `dry-${process.pid}`,
  rate: `rate-${process.pid}`,
};

let broker: TestBroker;
let w: Memtouch;
let w2: Memtouch;
let sleeper: ChildProcess;
let hot: number;
let other: number;
const agents: FeedbackAgent[] = [];

const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

async function agent(host: string, over: Partial<FeedbackConfig>): Promise<FeedbackAgent> {
  const a = createFeedbackAgent(feedbackConfig({ host, hintMapPinPath: PIN, sweepIntervalMs: 60_000, ...over }), { kafka: broker.kafka, log: () => undefined });
  agents.push(a);
  await a.start();
  await a.caughtUp();
  return a;
}

before(async () => {
  rmSync(dirname(PIN), { recursive: true, force: true });
  broker = await startTestBroker();
  w = await startMemtouch();
  w2 = await startMemtouch();
  hot = await w.map('hot', 4);
  await w.send('touch hot');
  other = await w2.map('other', 2);
  sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  const allMemtouch = { comms: ['memtouch'], executables: [], cgroups: [] };
  await Promise.all([
    // Everything the protected cases name is on this allow-list too: protection comes first.
    agent(HOST.safety, { allow: { comms: ['memtouch', comm(1), comm(2), comm(process.pid)], executables: [], cgroups: [] } }),
    agent(HOST.empty, {}),
    agent(HOST.dry, { allow: allMemtouch, dryRun: true }),
    agent(HOST.rate, { allow: allMemtouch, rateLimits: { perProcessPerMinute: 2, perHostPerMinute: 3 } }),
  ]);
});

after(async () => {
  for (const a of agents) await a.stop();
  sleeper?.kill('SIGKILL');
  await w?.exit();
  await w2?.exit();
  await broker?.close();
  rmSync(dirname(PIN), { recursive: true, force: true });
});

const byId = (actions: HintAction[], id: string) => actions.filter((a) => a.hintId === id);

test('every unsafe hint is refused and the refusal, with its reason, is on pageloop.actions.v1', async () => {
  const host = HOST.safety;
  const me = identityOf(host, w.pid);
  const region = { start: hot, length: 4 * MiB };
  const unknownAction = makeHint(me, hot, 2 * MiB, 'promote');
  const cases = [
    { why: 'reused pid', hint: makeHint({ ...me, startNs: me.startNs + 3e9 }, region.start, region.length, 'promote'), reason: /pid \d+ started at tick \d+, the hint's process at tick \d+: the pid was reused/ },
    { why: 'wrong boot id', hint: makeHint({ ...me, bootId: '00000000-0000-4000-8000-000000000000' }, region.start, region.length, 'promote'), reason: /boot id 00000000-0000-4000-8000-000000000000 is not this boot/ },
    { why: 'outside any mapping', hint: makeHint(me, 0x10000, 4096, 'page_out'), reason: /region 0x10000\+4096 is not inside one current mapping/ },
    { why: 'across two mappings', hint: makeHint(me, hot + 2 * MiB, 4 * MiB, 'mark_cold'), reason: /is not inside one current mapping/ },
    { why: 'not on the allow-list', hint: makeHint(identityOf(host, sleeper.pid!), 0x400000, 4096, 'mark_cold'), reason: /pid \d+ \(comm sleep, exe \/.*sleep\) is not on the allow-list/ },
    { why: 'pid 1', hint: makeHint(identityOf(host, 1), 0x400000, 4096, 'page_out'), reason: /^pid 1 \(init\) is never touched$/ },
    { why: 'kernel thread', hint: makeHint(identityOf(host, 2), 0x400000, 4096, 'page_out'), reason: /^pid 2 \(kthreadd\) is a kernel thread, which is never touched$/ },
    { why: 'pageloop itself', hint: makeHint(identityOf(host, process.pid), 0x400000, 4096, 'page_out'), reason: /is pageloop itself, which is never touched/ },
    { why: 'expired', hint: makeHint(me, hot, 2 * MiB, 'mark_cold', { expiresNs: 1 }), reason: /^expired at 1 ns/ },
    { why: 'promote without a page size', hint: makeHint(me, hot, 2 * MiB, 'promote', { pageSizeKb: 0 }), reason: /^malformed hint: pageSizeKb: promote wants/ },
  ];
  const mismatched = makeHint(me, hot, 2 * MiB, 'mark_cold');
  const elsewhere = makeHint({ ...me, host: `elsewhere-${process.pid}` }, hot, 2 * MiB, 'promote');
  const malformedKey = `${host}|${w.pid}|${me.startNs}|${hot + 8 * MiB}`;
  const unknownKey = hintKeyOf(unknownAction);
  await sendHints(broker.kafka, [
    ...cases.map((c) => recordOf(c.hint)),
    // Not a protobuf at all.
    { key: malformedKey, value: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]) },
    // A valid hint whose action field (4) is overwritten with 99, a value the contract does not have.
    { key: unknownKey, value: Buffer.concat([Buffer.from(encodeHint(unknownAction)), Buffer.from([0x20, 99])]) },
    // The key names another pid than the value: which one is meant is not guessed.
    { key: `${host}|${w.pid + 1}|${me.startNs}|${hot}`, value: Buffer.from(encodeHint(mismatched)) },
    // Another host's hint: not this agent's business, not recorded by it.
    recordOf(elsewhere),
  ]);
  const actions = await actionsOf(broker.kafka, host, (a) => a.length >= cases.length + 3);
  assert.equal(actions.length, cases.length + 3, 'one record per hint of this host, no more');
  const mismatch = byId(actions, mismatched.hintId);
  assert.equal(mismatch.length, 1);
  assert.equal(mismatch[0]!.outcome, 'refused');
  assert.equal(mismatch[0]!.reason, `malformed hint: key and value disagree on pid: key ${w.pid + 1}, value ${w.pid}`);
  assert.equal(byId(actions, elsewhere.hintId).length, 0);
  for (const c of cases) {
    const got = byId(actions, c.hint.hintId);
    assert.equal(got.length, 1, `${c.why}: one record`);
    assert.equal(got[0]!.outcome, 'refused', `${c.why}: refused (${got[0]!.reason})`);
    assert.match(got[0]!.reason, c.reason, c.why);
    assert.equal(got[0]!.process.pid, c.hint.process.pid, `${c.why}: the record names the process`);
    assert.equal(got[0]!.bytesAffected, 0);
  }
  const malformed = byId(actions, `key:${malformedKey}`);
  assert.equal(malformed.length, 1);
  assert.equal(malformed[0]!.outcome, 'refused');
  assert.match(malformed[0]!.reason, /^malformed hint: malformed protobuf/);
  assert.deepEqual([malformed[0]!.process.pid, malformed[0]!.process.startNs, malformed[0]!.region?.start], [w.pid, me.startNs, hot + 8 * MiB], 'identity recovered from the key');
  const unknown = byId(actions, `key:${unknownKey}`);
  assert.equal(unknown.length, 1);
  assert.equal(unknown[0]!.outcome, 'refused');
  assert.match(unknown[0]!.reason, /^malformed hint: .*action: unknown Action value 99/);

  // Nothing was touched: no huge pages, no hint-map entries.
  assert.equal(smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', hot, hot + 4 * MiB), 0);
  const map = openHintMap(PIN);
  try {
    assert.deepEqual(map.entries().filter((e) => [w.pid, 1, 2, process.pid, sleeper.pid].includes(e.pid)), []);
  } finally {
    map.close();
  }
});

test('an empty allow-list touches nothing', async () => {
  const h = makeHint(identityOf(HOST.empty, w.pid), hot, 4 * MiB, 'promote');
  await sendHints(broker.kafka, [recordOf(h)]);
  const [a] = await actionsOf(broker.kafka, HOST.empty, (x) => x.length >= 1);
  assert.equal(a?.hintId, h.hintId);
  assert.equal(a?.outcome, 'refused');
  assert.equal(a?.reason, 'the allow-list is empty: nothing is touched');
  assert.equal(smapsFieldInRange(readSmaps(w.pid), 'AnonHugePages', hot, hot + 4 * MiB), 0);
});

test('dry run: recorded as dry_run with what would be done, and nothing changes', async () => {
  const before = readSmaps(w.pid).filter((e) => e.start >= hot && e.end <= hot + 4 * MiB);
  const h = makeHint(identityOf(HOST.dry, w.pid), hot, 4 * MiB, 'promote');
  await sendHints(broker.kafka, [recordOf(h)]);
  const [a] = await actionsOf(broker.kafka, HOST.dry, (x) => x.length >= 1);
  assert.equal(a?.hintId, h.hintId);
  assert.equal(a?.outcome, 'dry_run');
  assert.match(a!.reason, /^dry run: would process_madvise MADV_COLLAPSE of 4194304 bytes at 0x[0-9a-f]+ \(anon#0\+0x0\); comm memtouch is allowed$/);
  const after = readSmaps(w.pid).filter((e) => e.start >= hot && e.end <= hot + 4 * MiB);
  assert.deepEqual(after, before, 'smaps for the region unchanged');
  assert.equal(smapsFieldInRange(after, 'AnonHugePages', hot, hot + 4 * MiB), 0);
  const map = openHintMap(PIN);
  try {
    assert.deepEqual(map.entries().filter((e) => e.pid === w.pid), [], 'the hint map unchanged');
  } finally {
    map.close();
  }
});

test('rate limits: per process, then per host, each refusal recorded', async () => {
  const host = HOST.rate;
  const a = identityOf(host, w.pid);
  const b = identityOf(host, w2.pid);
  // keep_base_pages only writes the hint map: the limits are what is tested, not the kernel.
  const first = [0, 1, 2].map((i) => makeHint(a, hot + i * 4096, 4096, 'keep_base_pages', { pageSizeKb: 4 }));
  await sendHints(broker.kafka, first.map(recordOf));
  const one = await actionsOf(broker.kafka, host, (x) => x.length >= 3);
  assert.deepEqual(one.map((x) => x.outcome).sort(), ['applied', 'applied', 'refused']);
  assert.equal(one.find((x) => x.outcome === 'refused')!.reason, 'rate limit: 2 actions per minute for this process reached');

  const second = [0, 1].map((i) => makeHint(b, other + i * 4096, 4096, 'keep_base_pages', { pageSizeKb: 4 }));
  await sendHints(broker.kafka, [recordOf(second[0]!)]);
  await actionsOf(broker.kafka, host, (x) => x.length >= 4);
  await sendHints(broker.kafka, [recordOf(second[1]!)]);
  const all = await actionsOf(broker.kafka, host, (x) => x.length >= 5);
  assert.equal(byId(all, second[0]!.hintId)[0]!.outcome, 'applied');
  const limited = byId(all, second[1]!.hintId)[0]!;
  assert.equal(limited.outcome, 'refused');
  assert.equal(limited.reason, 'rate limit: 3 actions per minute on this host reached');
});
