/**
 * The processors on a real Kafka broker (KRaft, 3.9.1): the ground-truth
 * stream in, the expected scores, phase change, hints, tuner changes and
 * dead letters out (read_committed); the same bytes as the pure engine;
 * `pageloop replay` reproduces them byte for byte; two instances in one
 * group give what one gives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { UsageError } from '../lib/errors.js';
import { decodeHint, decodePhaseChange, decodeRegionScore, decodeTunerChange } from '../schemas/derived.js';
import { decodeDeadLetter } from '../schemas/dead-letter.js';
import { TOPIC } from '../schemas/topics.js';
import { replayCommand } from '../cli/commands/replay.js';
import { createProcessorConfig } from './config.js';
import { PartitionEngine, type OutRecord, type OutputRole } from './engine.js';
import { diffByKey, produceRecords, readAll, type TopicRecord } from '../test/kafka-records.js';
import { hostOfHintKey } from './planner.js';
import { DEFAULT_RUNNER_CONFIG, createProcessor, endOffsets, waitForCommitted, type Processor, type ProcessorStats, type RunnerConfig } from './runner.js';
import { CollectorStream, SCENARIO, SEC, T0, WINDOW, faultSummary, kcompactdWake, scenarioRecords, windowStart, type StreamRecord } from './synthetic.js';
import { processorTopics, type ProcessorTopics } from './topics.js';

const { Partitioners } = kafkajs;
const ROLES: readonly OutputRole[] = ['scores', 'phases', 'hints', 'tuner', 'dlq'];
const win = (ns: number): number => Math.round((ns - T0) / WINDOW);
// Malformed, and larger than the broker's default message size (3 MiB, the events topic takes 4): its
// dead letter must still be accepted, or the processor could never move past it.
const GARBAGE = Buffer.concat([Buffer.from('\x08\x96\x01 definitely not an EventBatch \xff\xff\xff'), Buffer.alloc(3 * 1024 * 1024, 0xa5)]);

let broker: TestBroker;
let input: StreamRecord[];
let base: number;

before(async () => {
  broker = await startTestBroker();
  const recs = scenarioRecords({ dupAndGap: true });
  // A malformed record mid-stream on host-a's partition: it goes to the DLQ, the rest goes on.
  input = [...recs.slice(0, 150), { key: SCENARIO.hostA.host, value: GARBAGE, atNs: 0 }, ...recs.slice(150)];
  base = Date.now();
  await produceRecords(broker.kafka, TOPIC.events, input, { baseTimestampMs: base });
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

/**
 * Runs `instances` processors of one group until the group has committed the
 * whole input. With `staggered`, the second instance joins once the first
 * has committed part of the input, so partitions (and their state) move.
 */
async function runGroup(groupId: string, prefix: string, instances = 1, overrides: Partial<RunnerConfig> = {}, staggered = false): Promise<ProcessorStats[]> {
  const topics = processorTopics(prefix);
  const model = createProcessorConfig();
  const procs: Processor[] = [];
  for (let i = 0; i < instances; i++) {
    procs.push(
      createProcessor({ model, runner: { ...DEFAULT_RUNNER_CONFIG, groupId, instanceId: `${prefix}-${i}`, topics, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, ...overrides } }, { kafka: broker.kafka }),
    );
  }
  const admin = broker.kafka.admin();
  await admin.connect();
  try {
    const ends = await endOffsets(admin, TOPIC.events);
    if (staggered) {
      await procs[0]!.start();
      const until = Date.now() + 60_000;
      while ((await committedTotal(groupId)) < input.length / 8 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      await Promise.all(procs.slice(1).map((p) => p.start()));
    } else {
      await Promise.all(procs.map((p) => p.start()));
    }
    await waitForCommitted(admin, groupId, TOPIC.events, ends, { timeoutMs: 120_000, failed: Promise.race(procs.map((p) => p.failed)) });
  } finally {
    await admin.disconnect();
    await Promise.all(procs.map((p) => p.stop()));
  }
  return procs.map((p) => p.stats());
}

async function outputs(topics: ProcessorTopics): Promise<Record<OutputRole, TopicRecord[]>> {
  const out = {} as Record<OutputRole, TopicRecord[]>;
  for (const role of ROLES) out[role] = await readAll(broker.kafka, topics[role]);
  return out;
}

function sameAsEngine(kafkaOut: TopicRecord[], engineOut: OutRecord[], role: OutputRole): void {
  const mine = engineOut.filter((o) => o.role === role);
  const byKey = (rs: { key: string; value: Uint8Array | null }[]): Map<string, string[]> => {
    const m = new Map<string, string[]>();
    for (const r of rs) (m.get(r.key) ?? m.set(r.key, []).get(r.key)!).push(r.value === null ? 'tombstone' : Buffer.from(r.value).toString('hex'));
    return m;
  };
  assert.deepEqual(byKey(kafkaOut), byKey(mine), `${role}: per key, Kafka's outputs are the engine's`);
}

describe('processors on a real broker', { timeout: 170_000 }, () => {
  let live: Record<OutputRole, TopicRecord[]>;
  let liveStats: ProcessorStats[];

  it('pageloop process: the expected scores, phase change, hints, tuner changes and dead letter, read_committed', async () => {
    liveStats = await runGroup('live', 'live');
    live = await outputs(processorTopics('live'));
    assert.equal(liveStats[0]!.records, input.length);
    assert.equal(liveStats[0]!.hosts.duplicates, 1);
    assert.equal(liveStats[0]!.hosts.gaps, 1);

    // Phase switch of host-a at its window, once.
    const phases = live.phases.map((r) => decodePhaseChange(r.value!));
    assert.deepEqual(
      phases.map((p) => [p.process.host, win(p.atNs), p.phase]),
      [[SCENARIO.hostA.host, SCENARIO.hostA.switchWindow, 1]],
    );

    // Hot region promoted to 2 MiB, cold region marked cold then paged out.
    const hints = live.hints.map((r) => ({ key: r.key, partition: r.partition, hint: r.value ? decodeHint(r.value) : null }));
    const a = hints.filter((h) => h.key === `host-a|100|${SCENARIO.hostA.startNs}|${SCENARIO.hostA.A}`).map((h) => [h.hint?.action, h.hint?.pageSizeKb, win(h.hint!.issuedNs)]);
    assert.deepEqual(a[0], ['promote', 2048, 2]);
    const c = hints.filter((h) => h.key.endsWith(`|${SCENARIO.hostA.C}`)).map((h) => [h.hint?.action, win(h.hint!.issuedNs)]);
    assert.deepEqual(c, [
      ['mark_cold', 4],
      ['page_out', 7],
    ]);
    // The compaction storm moves host-b's region to 64 KiB and back.
    const b = hints.filter((h) => h.key.startsWith('host-b|')).map((h) => h.hint?.pageSizeKb);
    assert.deepEqual(b, [2048, 64, 2048]);
    const storm = live.scores.map((r) => decodeRegionScore(r.value!)).find((s) => s.process.host === 'host-b' && win(s.windowStartNs) === SCENARIO.hostB.stormFrom)!;
    assert.equal(storm.preferredSizeKb, 64);

    // A host's hints share one partition: the one its name hashes to (hint keys are host|pid|start|region).
    const byDefault = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    for (const h of hints) {
      const host = hostOfHintKey(h.key);
      assert.equal(h.partition, byDefault({ topic: 'x', partitionMetadata, message: { key: host, value: null } }), h.key);
    }
    // Withdrawals are tombstones (the refaulted page-out of host-c).
    assert.ok(hints.some((h) => h.key.startsWith('host-c|') && h.hint === null));

    // The tuner: host-c judged cold later after refaults, host-d pages out sooner.
    const tuner = live.tuner.map((r) => ({ key: r.key, c: decodeTunerChange(r.value!) }));
    assert.deepEqual(tuner.filter((t) => t.key === 'host-d').map((t) => [t.c.oldValue, t.c.newValue]), [[3, 2]]);
    assert.deepEqual(tuner.find((t) => t.key === 'host-c')!.c.newValue, 4);

    // The malformed record: a DeadLetter with the reason and the bytes; later records were processed.
    assert.equal(live.dlq.length, 1);
    const dl = decodeDeadLetter(live.dlq[0]!.value!);
    assert.equal(dl.topic, TOPIC.events);
    assert.match(dl.reason, /cannot decode pageloop\.v1\.EventBatch/);
    assert.ok(Buffer.from(dl.raw).equals(GARBAGE));
    assert.equal(Buffer.from(dl.key).toString(), SCENARIO.hostA.host);
    assert.equal(dl.consumer, 'pageloop-processor');
    assert.ok(phases.length === 1, 'host-a was processed past the bad record (its phase change comes later)');
    const lastA = live.scores.map((r) => decodeRegionScore(r.value!)).filter((s) => s.process.host === 'host-a').at(-1)!;
    assert.equal(lastA.windowStartNs, windowStart(25));

    // Outputs carry their input record's timestamp (deterministic, and recent).
    assert.ok(live.scores.every((r) => Number(r.timestamp) >= base && Number(r.timestamp) < base + input.length));
  });

  it('Kafka\'s outputs are, per key, exactly the pure engine\'s over the same stream', () => {
    const engine = new PartitionEngine({ config: createProcessorConfig(), inputTopic: TOPIC.events }, 0);
    const out: OutRecord[] = [];
    input.forEach((r, i) => engine.process({ offset: i, key: Buffer.from(r.key), value: Buffer.from(r.value), timestamp: String(base + i) }, out));
    for (const role of ['scores', 'phases', 'hints', 'tuner'] as const) sameAsEngine(live[role], out, role);
  });

  it('pageloop replay --from-start into fresh topics reproduces every output byte for byte', async () => {
    const status = await replayCommand.run(['--from-start', '--to-prefix', 'replay1', '--brokers', broker.bootstrap, '--quiet', '--max-records-per-txn', '13']);
    assert.equal(status, 0);
    const replayed = await outputs(processorTopics('replay1'));
    for (const role of ROLES) {
      assert.equal(replayed[role].length, live[role].length, role);
      assert.equal(diffByKey(replayed[role], live[role]), '', role);
    }
    // A replay target must be fresh.
    await assert.rejects(replayCommand.run(['--from-start', '--to-prefix', 'replay1', '--brokers', broker.bootstrap, '--quiet']), (e: unknown) => e instanceof UsageError && /choose a new --to-prefix/.test(e.message));
    await assert.rejects(replayCommand.run(['--to-prefix', 'x', '--brokers', broker.bootstrap]), (e: unknown) => e instanceof UsageError && /--from-start/.test(e.message));
  });

  it('a window whose outputs exceed a broker record batch (1 MiB) is sent in several requests of one transaction', async () => {
    // 12,000 regions scored in one window: about 2 MB of RegionScores for one partition.
    const events = 'big.events';
    const admin = broker.kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: events, numPartitions: 1, replicationFactor: 1 }] });
    await admin.disconnect();
    const stream = new CollectorStream('big-host', 'boot', 'big');
    const t = windowStart(0) + SEC;
    const regions = 12_000;
    const recs = [
      { key: 'big-host', value: stream.batch(Array.from({ length: regions }, (_, r) => faultSummary(t + r, 7, SEC, 0x7f0000000000 + r * 2 * 1024 * 1024, 3))) },
      { key: 'big-host', value: stream.batch([kcompactdWake(windowStart(1) + 5 * SEC)]) },
    ];
    await produceRecords(broker.kafka, events, recs);
    const topics = processorTopics('big', events);
    // With the engines in a worker thread: large outputs cross back to the producing thread intact
    // (and without read-ahead: that path is covered on a real broker too).
    const proc = createProcessor({ model: createProcessorConfig(), runner: { ...DEFAULT_RUNNER_CONFIG, groupId: 'big', instanceId: 'big', topics, engineWorkers: 1, readAhead: false } }, { kafka: broker.kafka });
    const waiter = broker.kafka.admin();
    await waiter.connect();
    try {
      await proc.start();
      await waitForCommitted(waiter, 'big', events, await endOffsets(waiter, events), { timeoutMs: 60_000, failed: proc.failed });
    } finally {
      await waiter.disconnect();
      await proc.stop();
    }
    const scores = await readAll(broker.kafka, topics.scores);
    assert.equal(scores.length, regions);
    // All of them come out of the one record that closes the window: one transaction.
    assert.ok(scores.reduce((n, r) => n + r.value!.length, 0) > 1024 * 1024);
  });

  it('one instance with its engines in its main thread (no workers) produces what it does with workers', async () => {
    const stats = await runGroup('pool', 'pool', 1, { engineWorkers: 0 });
    assert.equal(stats[0]!.records, input.length);
    const pool = await outputs(processorTopics('pool'));
    for (const role of ROLES) {
      assert.equal(pool[role].length, live[role].length, role);
      assert.equal(diffByKey(pool[role], live[role]), '', role);
    }
  });

  it('a partition whose producer is fenced mid-stream reads again from its last commit and ends with the same outputs', async () => {
    // Another producer takes a partition's transactional id just before its third commit: that
    // transaction fails, and with read-ahead kafkajs is past the batch already, so the partition
    // must seek back to its commit and restore, or that batch's outputs would be lost.
    const topics = processorTopics('fenced');
    const lines: string[] = [];
    const commits = new Map<number, number>();
    let fenced = -1;
    const fence = async (partition: number): Promise<void> => {
      const intruder = broker.kafka.producer({ transactionalId: `pageloop-processor.fenced.${TOPIC.events}.${partition}`, idempotent: true, maxInFlightRequests: 1 });
      await intruder.connect();
      const t = await intruder.transaction();
      await t.abort();
      await intruder.disconnect();
    };
    const proc = createProcessor(
      {
        model: createProcessorConfig(),
        runner: { ...DEFAULT_RUNNER_CONFIG, groupId: 'fenced', instanceId: 'fenced-0', topics, maxRecordsPerTransaction: 2, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000 },
      },
      {
        kafka: broker.kafka,
        log: (line) => lines.push(line),
        beforeCommit: async (partition) => {
          const n = (commits.get(partition) ?? 0) + 1;
          commits.set(partition, n);
          if (fenced >= 0 || n < 3) return;
          fenced = partition;
          await fence(partition);
        },
      },
    );
    const admin = broker.kafka.admin();
    await admin.connect();
    try {
      await proc.start();
      await waitForCommitted(admin, 'fenced', TOPIC.events, await endOffsets(admin, TOPIC.events), { timeoutMs: 120_000, failed: proc.failed });
    } finally {
      await admin.disconnect();
      await proc.stop();
    }
    assert.ok(fenced >= 0, 'a partition had a third transaction to fence');
    assert.ok(lines.some((l) => l.includes(`partition ${fenced}: fenced by another owner`)), lines.join('\n'));
    assert.ok(proc.stats().restores >= 1, 'the partition was restored');
    const out = await outputs(topics);
    for (const role of ROLES) assert.equal(diffByKey(out[role], live[role]), '', role);
  });

  it('two instances in one consumer group share the partitions and produce what one instance does', async () => {
    // Small transactions and frequent checkpoints: the second instance joins mid-stream and state moves.
    const stats = await runGroup('pair', 'pair', 2, { maxRecordsPerTransaction: 1, checkpointEveryRecords: 5, checkpointInputRatio: 0 }, true);
    const parts = stats.flatMap((s) => s.partitions).sort((x, y) => x - y);
    assert.ok(stats.every((s) => s.partitions.length > 0), `both instances got partitions: ${JSON.stringify(stats.map((s) => s.partitions))}`);
    assert.ok(stats.every((s) => s.records > 0), 'both processed records');
    assert.deepEqual([...new Set(parts)], Array.from({ length: 12 }, (_, i) => i));
    const pair = await outputs(processorTopics('pair'));
    for (const role of ROLES) assert.equal(diffByKey(pair[role], live[role]), '', role);
  });
});
