/**
 * Kafka as a cluster, for real: three KRaft nodes (startTestCluster), events
 * replicated 3 times with min.insync.replicas 2. While the collector's
 * producer (collectors/kafka-producer.ts, acks=all, idempotent, with the
 * collector's retry and backoff) sends a stream and `pageloop process`
 * (cli/main.js) consumes it, the node leading the most events partitions is
 * killed with SIGKILL. Then: every event sent is in the events topic exactly
 * once, in order per key (the same bytes), and the processor's outputs equal
 * those of an uninterrupted run over the same events: nothing lost, nothing
 * doubled. The time to recover (the longest pause in successful sends, and
 * until the processor commits again) is printed, not asserted: see
 * RELIABILITY-kafka.md.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startTestCluster, type TestCluster } from './broker.js';
import { diffByKey, readAll } from './kafka-records.js';
import { TOPIC } from '../schemas/topics.js';
import { createKafkaEventsProducer } from '../collectors/kafka-producer.js';
import { createProcessorConfig } from '../processors/config.js';
import type { OutputRole } from '../processors/engine.js';
import { DEFAULT_RUNNER_CONFIG, createProcessor, endOffsets, waitForCommitted } from '../processors/runner.js';
import { scenarioRecords } from '../processors/synthetic.js';
import { processorTopics } from '../processors/topics.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ROLES: readonly OutputRole[] = ['scores', 'phases', 'hints', 'tuner', 'dlq'];
const WINDOWS = 120;
/** Of the stream, sent before the kill. */
const KILL_AT = 1 / 3;

let cluster: TestCluster;
const say = (line: string): boolean => process.stderr.write(`  [failover] ${line}\n`);

before(async () => {
  cluster = await startTestCluster({ brokers: 3, heap: '256m' });
});

let child: ChildProcess | undefined;

after(async () => {
  // Whatever failed: no processor and no node left running.
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await cluster?.close();
});

function digest(b: Uint8Array | Buffer | null): string {
  return b === null ? 'null' : createHash('sha256').update(b).digest('hex').slice(0, 16);
}

async function committedTotal(groupId: string): Promise<number> {
  const admin = cluster.kafka.admin();
  await admin.connect();
  try {
    const res = await admin.fetchOffsets({ groupId, topics: [TOPIC.events] });
    return res.flatMap((t) => t.partitions).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } catch {
    return -1;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The node leading the most events partitions (ties: the lowest id). */
async function eventsLeader(): Promise<{ nodeId: number; partitions: number[] }> {
  const admin = cluster.kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC.events] });
    const led = new Map<number, number[]>();
    for (const p of meta.topics[0]!.partitions) (led.get(p.leader) ?? led.set(p.leader, []).get(p.leader)!).push(p.partitionId);
    const [nodeId, partitions] = [...led].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])[0]!;
    return { nodeId, partitions };
  } finally {
    await admin.disconnect();
  }
}

function startProcessor(): { proc: ChildProcess; stderr: string[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const proc = spawn(
    process.execPath,
    [CLI, 'process', '--brokers', cluster.bootstraps.join(','), '--group', 'failover', '--instance', 'failover-1', '--output-prefix', 'failover', '--session-timeout-ms', '10000'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child = proc;
  const stderr: string[] = [];
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => stderr.push(...d.split('\n').filter((l) => l.trim() !== '')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, stderr, exited };
}

describe('3-node cluster, the events leader killed mid-stream', { timeout: 10 * 60_000 }, () => {
  it('loses no event, doubles none, and the processor outputs what an uninterrupted run does', async () => {
    const records = scenarioRecords({ windows: WINDOWS });
    const processor = startProcessor();
    const producer = createKafkaEventsProducer(cluster.kafka, { compression: 'gzip', sendTimeoutMs: 10_000 });
    const sentAt: number[] = [];
    let killedAt = 0;
    let killed: { nodeId: number; partitions: number[]; pid: number } | undefined;
    let committedAtKill = 0;
    let failedSends = 0;
    try {
      for (let i = 0; i < records.length; i++) {
        if (i === Math.floor(records.length * KILL_AT)) {
          const leader = await eventsLeader();
          const pid = await cluster.pidOf(leader.nodeId);
          assert.ok(pid !== undefined, `node ${leader.nodeId} is running`);
          committedAtKill = await committedTotal('failover');
          killedAt = Date.now();
          process.kill(pid, 'SIGKILL');
          killed = { ...leader, pid };
          say(`${i} of ${records.length} sent, processor committed ${committedAtKill}; killed node ${leader.nodeId} (pid ${pid}), leader of events partitions ${leader.partitions.join(', ')}`);
        }
        const r = records[i]!;
        // The collector's loop: keep the batch, back off 100 ms doubling to 2 s, send it again.
        for (let backoff = 100; ; backoff = Math.min(2000, backoff * 2)) {
          try {
            await producer.send(TOPIC.events, r.key, Buffer.from(r.value), Date.now());
            break;
          } catch (err) {
            failedSends++;
            if (!(err instanceof Error && 'retriable' in err && err.retriable)) throw err;
            await sleep(backoff);
          }
        }
        sentAt.push(Date.now());
      }
    } finally {
      await producer.close();
    }
    assert.ok(killed, 'a node was killed');
    say(`all ${records.length} sent (${failedSends} failed attempts retried)`);

    // Every event exactly once, in order per key, the same bytes.
    const events = await readAll(cluster.kafka, TOPIC.events, 120_000);
    say(`${events.length} events read back`);
    assert.equal(events.length, records.length, `events in the topic: ${events.length}, sent ${records.length}`);
    const want = new Map<string, string[]>();
    for (const r of records) (want.get(r.key) ?? want.set(r.key, []).get(r.key)!).push(digest(r.value));
    const got = new Map<string, string[]>();
    for (const e of events) (got.get(e.key) ?? got.set(e.key, []).get(e.key)!).push(digest(e.value));
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [key, list] of want) assert.deepEqual(got.get(key), list, `events of ${key}: the same, once each, in order`);

    // The processor catches up with the whole input, then stops cleanly.
    const admin = cluster.kafka.admin();
    await admin.connect();
    let processorBackAt = 0;
    try {
      const ends = await endOffsets(admin, TOPIC.events);
      const deadline = Date.now() + 5 * 60_000;
      for (;;) {
        const n = await committedTotal('failover');
        if (processorBackAt === 0 && n > committedAtKill) processorBackAt = Date.now();
        if (n >= records.length) break;
        if (Date.now() > deadline) assert.fail(`the processor committed ${n} of ${records.length} within 5 min:\n${processor.stderr.slice(-30).join('\n')}`);
        await sleep(100);
      }
      say('the processor caught up');
      processor.proc.kill('SIGTERM');
      // Bounded, so a stop that hangs fails with what the processor said, not the suite's timeout.
      const exit = await Promise.race([processor.exited, sleep(90_000, undefined, { ref: false })]);
      assert.ok(exit, `the processor did not stop within 90 s of SIGTERM:\n${processor.stderr.slice(-30).join('\n')}`);
      assert.equal(exit.code, 0, processor.stderr.slice(-30).join('\n'));

      // The uninterrupted run over the same events.
      const clean = createProcessor({ model: createProcessorConfig(), runner: { ...DEFAULT_RUNNER_CONFIG, groupId: 'clean', instanceId: 'clean', topics: processorTopics('clean') } }, { kafka: cluster.kafka });
      try {
        await clean.start();
        await waitForCommitted(admin, 'clean', TOPIC.events, ends, { timeoutMs: 120_000, failed: clean.failed });
      } finally {
        await clean.stop();
      }
    } finally {
      await admin.disconnect();
      if (processor.proc.exitCode === null && processor.proc.signalCode === null) processor.proc.kill('SIGKILL');
    }
    for (const role of ROLES) {
      const wantOut = await readAll(cluster.kafka, processorTopics('clean')[role], 120_000);
      const gotOut = await readAll(cluster.kafka, processorTopics('failover')[role], 120_000);
      assert.equal(gotOut.length, wantOut.length, `${role}: ${gotOut.length} records, an uninterrupted run has ${wantOut.length}`);
      assert.equal(diffByKey(gotOut, wantOut), '', role);
    }

    // The figures (printed, not asserted).
    let longestGap = 0;
    for (let i = 1; i < sentAt.length; i++) longestGap = Math.max(longestGap, sentAt[i]! - sentAt[i - 1]!);
    const firstAfter = sentAt[Math.floor(records.length * KILL_AT)]!;
    const figures = {
      events: records.length,
      killedNode: killed.nodeId,
      itLedEventsPartitions: killed.partitions,
      producerFirstSendAfterKillMs: firstAfter - killedAt,
      longestPauseBetweenSendsMs: longestGap,
      failedSendAttempts: failedSends,
      processorFirstCommitAfterKillMs: processorBackAt === 0 ? null : processorBackAt - killedAt,
      cores: cpus().length,
    };
    console.log(`RELIABILITY ${JSON.stringify(figures)}`);
  });
});
