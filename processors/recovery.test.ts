/**
 * Exactly once across crashes, on a real broker: `pageloop process` (here
 * cli/main.js, the pageloop command) killed with SIGKILL mid-stream,
 * twice, then restarted, yields the same outputs (read_committed) as an
 * uninterrupted run: the same records per key, in the same order, nothing
 * lost or doubled; and a restart restores from a checkpoint rather than
 * re-reading the whole input.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { TOPIC } from '../schemas/topics.js';
import { createProcessorConfig } from './config.js';
import type { OutputRole } from './engine.js';
import { diffByKey, produceRecords, readAll } from '../test/kafka-records.js';
import { DEFAULT_RUNNER_CONFIG, createProcessor, endOffsets, waitForCommitted } from './runner.js';
import { scenarioRecords } from './synthetic.js';
import { processorTopics } from './topics.js';

const RUN_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ROLES: readonly OutputRole[] = ['scores', 'phases', 'hints', 'tuner', 'dlq'];
const CHECKPOINT_EVERY = 5;
const PER_TXN = 2;

let broker: TestBroker;
let total = 0;
let ends: Map<number, number>;

before(async () => {
  broker = await startTestBroker();
  const recs = scenarioRecords({ windows: 40, dupAndGap: true });
  total = recs.length;
  await produceRecords(broker.kafka, TOPIC.events, recs);
  const admin = broker.kafka.admin();
  await admin.connect();
  ends = await endOffsets(admin, TOPIC.events);
  await admin.disconnect();
});

after(async () => {
  await broker?.close();
});

async function committedTotal(groupId: string): Promise<number> {
  const admin = broker.kafka.admin();
  await admin.connect();
  try {
    const res = await admin.fetchOffsets({ groupId, topics: [TOPIC.events] });
    return res.flatMap((t) => t.partitions).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

interface Child {
  proc: ChildProcess;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startChild(): Child {
  const proc = spawn(
    process.execPath,
    [
      RUN_MAIN,
      'process',
      '--brokers',
      broker.bootstrap,
      '--group',
      'crash',
      '--instance',
      'crash-1',
      '--output-prefix',
      'crash',
      '--checkpoint-every',
      String(CHECKPOINT_EVERY),
      // By record count only: the replay bound below is in records.
      '--checkpoint-input-ratio',
      '0',
      '--max-records-per-txn',
      String(PER_TXN),
      '--session-timeout-ms',
      '6000',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr: string[] = [];
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => stderr.push(...d.split('\n').filter((l) => l.startsWith('process: '))));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, stderr, exited };
}

async function waitCommitted(groupId: string, atLeast: number, timeoutMs = 60_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const n = await committedTotal(groupId);
    if (n >= atLeast) return n;
    if (Date.now() > until) throw new Error(`group ${groupId} committed ${n} < ${atLeast} in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

describe('SIGKILL and restart', { timeout: 170_000 }, () => {
  it('killed -9 twice mid-stream and restarted: the same outputs as an uninterrupted run, from checkpoints', async () => {
    // The uninterrupted run.
    const topics = processorTopics('clean');
    const clean = createProcessor({ model: createProcessorConfig(), runner: { ...DEFAULT_RUNNER_CONFIG, groupId: 'clean', instanceId: 'clean', topics } }, { kafka: broker.kafka });
    const admin = broker.kafka.admin();
    await admin.connect();
    try {
      await clean.start();
      await waitForCommitted(admin, 'clean', TOPIC.events, ends, { timeoutMs: 60_000, failed: clean.failed });
    } finally {
      await clean.stop();
      await admin.disconnect();
    }

    // Killed at about a quarter and at about two thirds of the input.
    const kills: number[] = [];
    for (const fraction of [0.25, 0.65]) {
      const child = startChild();
      kills.push(await waitCommitted('crash', Math.floor(total * fraction)));
      child.proc.kill('SIGKILL');
      const { signal } = await child.exited;
      assert.equal(signal, 'SIGKILL');
    }
    assert.ok(kills[0]! < total && kills[1]! < total, `killed mid-stream (at ${kills.join(', ')} of ${total})`);

    const last = startChild();
    await waitCommitted('crash', total, 90_000);
    last.proc.kill('SIGTERM');
    const { code } = await last.exited;
    assert.equal(code, 0, last.stderr.join('\n'));

    // It restored from checkpoints: what it replayed per partition is bounded by the checkpoint interval.
    const restores = last.stderr.map((l) => /restored at (\d+), replaying to the committed offset (\d+)/.exec(l)).filter((m) => m !== null);
    assert.ok(restores.length > 0, `a restore with replay happened:\n${last.stderr.join('\n')}`);
    if (process.env.PAGELOOP_TEST_VERBOSE) console.error(last.stderr.join("\n"), kills, total);
    for (const m of restores) {
      const replay = Number(m[2]) - Number(m[1]);
      assert.ok(replay <= CHECKPOINT_EVERY + PER_TXN, `replayed ${replay} records, more than a checkpoint interval`);
    }

    for (const role of ROLES) {
      const want = await readAll(broker.kafka, processorTopics('clean')[role]);
      const got = await readAll(broker.kafka, processorTopics('crash')[role]);
      assert.equal(got.length, want.length, `${role}: nothing lost or doubled`);
      assert.equal(diffByKey(got, want), '', role);
    }
  });
});
