/**
 * The sink end to end: a real Kafka broker, the real embedded ClickHouse
 * engine, known records on every topic.
 *   1. in process: exact rows in every table, bad records to the DLQ and
 *      from there into dead_letters; then a full replay with a fresh
 *      consumer group adds nothing.
 *   2. as a child process killed (SIGKILL) twice mid-stream while records
 *      keep coming, restarted, then a full replay with a fresh group and
 *      other block limits: every table holds exactly one row per distinct
 *      record/event, nothing doubled or missing, rollups equal raw totals.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Kafka, Producer } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { TOPIC } from '../schemas/topics.js';
import { DATABASE } from '../schemas/clickhouse-tables.js';
import { DEFAULT_SINK_CONFIG, createSink, type SinkConfig } from './sink.js';
import { HOSTS, ZERO_TOTALS, actionValue, addTotals, deadLetterValue, eventRecord, hintValue, phaseValue, scoreValue, tunerValue, type EventTotals } from '../test/sink-records.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ALL_TOPICS = [TOPIC.events, TOPIC.scores, TOPIC.phases, TOPIC.hints, TOPIC.actions, TOPIC.tuner, TOPIC.dlq];

/** Totals of what was produced, to compare with the tables. */
interface Produced {
  events: EventTotals;
  eventRecords: number;
  scores: number;
  phases: number;
  hints: number;
  actions: number;
  tuner: number;
  /** Valid dead letters produced directly, plus bad records the sink must turn into dead letters. */
  deadLetters: number;
}

const none = (): Produced => ({ events: ZERO_TOTALS, eventRecords: 0, scores: 0, phases: 0, hints: 0, actions: 0, tuner: 0, deadLetters: 0 });

/** Produces a round of records on every topic; `round` keeps sequences and ids distinct. */
async function produceRound(producer: Producer, round: number, eventsPerHost: number, faults: number): Promise<Produced> {
  const p = none();
  const events = [];
  for (const host of HOSTS) {
    for (let i = 0; i < eventsPerHost; i++) {
      const r = eventRecord(host, round * 1000 + i, { faults, mixed: i % 2 === 0 });
      events.push({ key: host, value: r.value });
      p.events = addTotals(p.events, r.totals);
      p.eventRecords++;
    }
  }
  events.push({ key: 'node-bad', value: Buffer.from([0xff, 0xff, 0xff, 0x01]) });
  p.deadLetters++;
  await producer.send({ topic: TOPIC.events, acks: -1, messages: events });
  const derived = (fn: (host: string, i: number) => Buffer, n: number) =>
    Array.from({ length: n }, (_, i) => ({ key: HOSTS[i % HOSTS.length]!, value: fn(HOSTS[i % HOSTS.length]!, round * 1000 + i) }));
  await producer.send({ topic: TOPIC.scores, acks: -1, messages: [...derived(scoreValue, 6), { key: 'node-a', value: Buffer.from('garbage') }] });
  p.scores += 6;
  p.deadLetters++;
  await producer.send({ topic: TOPIC.phases, acks: -1, messages: derived(phaseValue, 4) });
  p.phases += 4;
  await producer.send({ topic: TOPIC.hints, acks: -1, messages: [...derived(hintValue, 3), { key: 'node-c', value: null }] });
  p.hints += 4;
  await producer.send({ topic: TOPIC.actions, acks: -1, messages: derived(actionValue, 4) });
  p.actions += 4;
  await producer.send({ topic: TOPIC.tuner, acks: -1, messages: Array.from({ length: 3 }, (_, i) => ({ key: 'fleet', value: tunerValue(round * 1000 + i) })) });
  p.tuner += 3;
  await producer.send({ topic: TOPIC.dlq, acks: -1, messages: Array.from({ length: 2 }, (_, i) => ({ key: 'x', value: deadLetterValue(round * 1000 + i) })) });
  p.deadLetters += 2;
  return p;
}

function merge(a: Produced, b: Produced): Produced {
  return {
    events: addTotals(a.events, b.events),
    eventRecords: a.eventRecords + b.eventRecords,
    scores: a.scores + b.scores,
    phases: a.phases + b.phases,
    hints: a.hints + b.hints,
    actions: a.actions + b.actions,
    tuner: a.tuner + b.tuner,
    deadLetters: a.deadLetters + b.deadLetters,
  };
}

/** Whether the group has committed every partition of every topic up to its end. */
async function caughtUp(kafka: Kafka, groupId: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics: ALL_TOPICS });
    for (const t of committed) {
      const ends = await admin.fetchTopicOffsets(t.topic);
      for (const e of ends) {
        const c = t.partitions.find((p) => p.partition === e.partition);
        const high = Number(e.high);
        if (high > Number(e.low) && Number(c?.offset ?? -1) < high) return false;
      }
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the group is caught up twice in a row (the sink's own dead letters arrive after). */
async function waitCaughtUp(kafka: Kafka, groupId: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  while (streak < 2) {
    if (Date.now() > deadline) throw new Error(`group ${groupId} did not catch up within ${timeoutMs} ms`);
    streak = (await caughtUp(kafka, groupId)) ? streak + 1 : 0;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Row counts and totals, as they are in ClickHouse. */
async function tableFacts(ch: PageloopClickHouse): Promise<Record<string, number>> {
  const one = async (sql: string): Promise<number> => Number(Object.values((await ch.queryRows<Record<string, string>>(sql))[0]!)[0]);
  return {
    events: await one('SELECT count() FROM events'),
    eventsDistinct: await one('SELECT uniqExact(kafka_partition, kafka_offset, type, ts_ns, address, ip, cpu) FROM events'),
    faults: await one("SELECT sum(weight) FROM events WHERE type IN ('fault', 'fault_summary')"),
    rollupFaults: await one('SELECT sum(faults) FROM region_minute'),
    rollupWriteFaults: await one('SELECT sum(write_faults) FROM region_minute'),
    rawWriteFaults: await one("SELECT sum(write_faults) FROM events WHERE type IN ('fault', 'fault_summary')"),
    rollupPromotions: await one('SELECT sum(promotions) FROM region_minute'),
    rawPromotions: await one("SELECT countIf(type = 'promotion' AND failed = 0) FROM events"),
    rollupFallbacks: await one('SELECT sum(fallbacks) FROM region_minute'),
    rollupSwapOuts: await one('SELECT sum(swap_outs) FROM region_minute'),
    rollupSwapIns: await one('SELECT sum(swap_ins) FROM region_minute'),
    compactionRuns: await one('SELECT count() FROM compaction_runs'),
    batches: await one('SELECT count() FROM collector_batches'),
    batchesDistinct: await one('SELECT uniqExact(kafka_partition, kafka_offset) FROM collector_batches'),
    loss: await one('SELECT count() FROM collector_loss'),
    drops: await one('SELECT count() FROM collector_drops'),
    vmstat: await one('SELECT count() FROM vmstat'),
    psi: await one('SELECT count() FROM psi'),
    damon: await one('SELECT count() FROM damon_regions'),
    scores: await one('SELECT count() FROM scores'),
    scoreSizes: await one('SELECT count() FROM score_sizes'),
    phases: await one('SELECT count() FROM phase_changes'),
    hints: await one('SELECT count() FROM hints'),
    actions: await one('SELECT count() FROM hint_actions'),
    tuner: await one('SELECT count() FROM tuner_changes'),
    deadLetters: await one('SELECT count() FROM dead_letters FINAL'),
  };
}

function expectedFacts(p: Produced): Record<string, number> {
  const e = p.events;
  return {
    events: e.events,
    eventsDistinct: e.events,
    faults: e.faults,
    rollupFaults: e.faults,
    rollupWriteFaults: e.writeFaults,
    rawWriteFaults: e.writeFaults,
    rollupPromotions: e.promotions,
    rawPromotions: e.promotions,
    rollupFallbacks: e.fallbacks,
    rollupSwapOuts: e.swapOuts,
    rollupSwapIns: e.swapIns,
    compactionRuns: e.compactions,
    batches: p.eventRecords,
    batchesDistinct: p.eventRecords,
    loss: e.lossRows,
    drops: e.dropRows,
    vmstat: e.vmstatRows,
    psi: e.psiRows,
    damon: e.damonRows,
    scores: p.scores,
    scoreSizes: p.scores * 3,
    phases: p.phases,
    hints: p.hints,
    actions: p.actions,
    tuner: p.tuner,
    deadLetters: p.deadLetters,
  };
}

async function ensureTunerTopic(kafka: Kafka): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(TOPIC.tuner)) {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC.tuner, numPartitions: 1, replicationFactor: 1 }] });
    }
  } finally {
    await admin.disconnect();
  }
}

const FAST: Partial<SinkConfig> = { fetchMaxWaitMs: 100, fetchMinBytes: 1 };

describe('pageloop sink', () => {
  let broker: TestBroker;
  let producer: Producer;
  let produced = none();

  before(async () => {
    broker = await startTestBroker();
    await ensureTunerTopic(broker.kafka);
    // Idempotent: a produce retried on a slow broker must not put a record in twice (the sink would rightly keep both).
    producer = broker.kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
  });
  after(async () => {
    // A test that failed mid-way may leave a child running: it would keep this file from ending.
    for (const child of liveChildren) child.kill('SIGKILL');
    await producer?.disconnect();
    await broker?.close();
  });

  test('every topic into its tables with exact rows; a full replay with a fresh group adds nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pageloop-sink-a-'));
    const ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
    try {
      produced = merge(produced, await produceRound(producer, 0, 4, 300));
      const first = createSink({ ...DEFAULT_SINK_CONFIG, ...FAST, groupId: 'sink-a' }, { kafka: broker.kafka, clickhouse: ch });
      await first.start();
      await waitCaughtUp(broker.kafka, 'sink-a');
      await first.stop();
      // At least once: a batch redone after a rebalance sends its dead letters again (dead_letters keeps one per bad record and group).
      assert.ok(first.stats().deadLetters >= 2, 'the bad event and the bad score went to the DLQ');
      assert.deepEqual(await tableFacts(ch), expectedFacts(produced));

      // Exact values survive the whole path (one row of a derived table).
      const [s] = await ch.queryRows<{ host: string; pid: number; size_kb: number[]; region: string }>('SELECT host, pid, size_kb, region FROM scores ORDER BY kafka_partition, kafka_offset LIMIT 1');
      assert.ok(HOSTS.includes(s!.host));
      assert.deepEqual(s!.size_kb, [4, 64, 2048]);
      assert.equal(s!.region, 'anon:2+0x200000');
      const reasons = await ch.queryRows<{ topic: string; consumer: string }>("SELECT topic, consumer FROM dead_letters FINAL WHERE consumer = 'sink-a' ORDER BY topic");
      assert.deepEqual(reasons, [
        { topic: TOPIC.events, consumer: 'sink-a' },
        { topic: TOPIC.scores, consumer: 'sink-a' },
      ]);

      // Replay everything with a fresh group: same blocks, same tokens, nothing added.
      const replay = createSink({ ...DEFAULT_SINK_CONFIG, ...FAST, groupId: 'sink-a-replay', maxBlockRecords: 2 }, { kafka: broker.kafka, clickhouse: ch });
      await replay.start();
      await waitCaughtUp(broker.kafka, 'sink-a-replay');
      await replay.stop();
      assert.ok(replay.stats().records >= first.stats().records, 'the replay read everything again');
      const facts = await tableFacts(ch);
      // The replay's own dead letters name another consumer: two more distinct bad-record rows.
      assert.deepEqual(facts, { ...expectedFacts(produced), deadLetters: produced.deadLetters + 2 });
    } finally {
      await ch.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('killed and restarted mid-stream, then a full replay: one row per distinct record, nothing doubled or missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pageloop-sink-k-'));
    const run = (groupId: string, sink: Partial<SinkConfig>) => startChild({ brokers: [broker.bootstrap], dataDir: dir, sink: { ...FAST, groupId, ...sink } });
    try {
      // Small blocks and small fetches: many blocks, so the kills land between and inside them.
      const small: Partial<SinkConfig> = { maxBlockRecords: 3, maxBytesPerPartition: 32 * 1024 };
      let child = run('sink-k', small);
      await child.started;
      const more = produceRound(producer, 1, 20, 400);
      await child.commits(8);
      child.kill();
      produced = merge(produced, await more);

      child = run('sink-k', small);
      await child.started;
      const evenMore = produceRound(producer, 2, 10, 400);
      await child.commits(5);
      child.kill();
      produced = merge(produced, await evenMore);

      child = run('sink-k', small);
      await child.started;
      await waitCaughtUp(broker.kafka, 'sink-k', 120_000);
      await child.stop();

      // A full replay with a fresh group and other limits: the ledger decides the cuts.
      child = run('sink-k-replay', { maxBlockRecords: 1000 });
      await child.started;
      await waitCaughtUp(broker.kafka, 'sink-k-replay', 120_000);
      await child.stop();

      const ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
      try {
        const facts = await tableFacts(ch);
        const want = expectedFacts(produced);
        // Dead letters: each bad record once per consumer group that met it (sink-k, sink-k-replay; the in-process groups' too, read from the DLQ topic).
        const { deadLetters: gotDead, ...got } = facts;
        const { deadLetters: _wantDead, ...wantRest } = want;
        assert.deepEqual(got, wantRest);
        const [dl] = await ch.queryRows<{ n: string; d: string }>('SELECT count() AS n, uniqExact(topic, partition, offset, consumer) AS d FROM dead_letters FINAL');
        assert.equal(Number(dl!.n), Number(dl!.d));
        assert.equal(gotDead, Number(dl!.d));
      } finally {
        await ch.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface Child {
  readonly started: Promise<void>;
  /** Resolves once n more blocks were committed; rejects, saying why, when the child exits first or takes over two minutes. */
  commits(n: number): Promise<void>;
  kill(): void;
  stop(): Promise<void>;
}

const liveChildren = new Set<ChildProcess>();

function startChild(options: object): Child {
  const proc: ChildProcess = spawn(process.execPath, [join(HERE, '../test/sink-child.js'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  liveChildren.add(proc);
  proc.once('exit', () => liveChildren.delete(proc));
  let commits = 0;
  const waiters: { at: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  // The child's last log lines, for a failure to show what it was doing.
  const logs: string[] = [];
  const lastLogs = (): string => (logs.length > 0 ? `; its last log lines: ${logs.join(' | ')}` : '; it logged nothing');
  let exitCode: number | null | undefined;
  let onStarted: () => void = () => undefined;
  let onFailed: (e: Error) => void = () => undefined;
  const started = new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`sink child did not start within 120 s${lastLogs()}`)), 120_000);
    onStarted = () => {
      clearTimeout(timer);
      res();
    };
    onFailed = (e) => {
      clearTimeout(timer);
      rej(e);
    };
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let msg: { event?: string; error?: string };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (msg.event === 'log') {
      logs.push(String((msg as { line?: unknown }).line));
      if (logs.length > 10) logs.shift();
    }
    if (msg.event === 'started') onStarted();
    if (msg.event === 'failed') onFailed(new Error(`sink child failed: ${msg.error}`));
    if (msg.event === 'commit') {
      commits++;
      for (const w of waiters.splice(0)) {
        if (commits >= w.at) w.resolve();
        else waiters.push(w);
      }
    }
  });
  void exited.then((code) => {
    exitCode = code;
    onFailed(new Error(`sink child exited (${code}) before it started${lastLogs()}`));
    for (const w of waiters.splice(0)) w.reject(new Error(`sink child exited (${code}) after ${commits} commits, before commit ${w.at}${lastLogs()}`));
  });
  const COMMITS_TIMEOUT_MS = 120_000;
  return {
    started,
    commits: (n) =>
      new Promise<void>((resolve, reject) => {
        const at = commits + n;
        if (exitCode !== undefined) {
          reject(new Error(`sink child exited (${exitCode}) after ${commits} commits, before commit ${at}${lastLogs()}`));
          return;
        }
        const timer = setTimeout(() => reject(new Error(`sink child: ${commits} commits after ${COMMITS_TIMEOUT_MS} ms, waiting for ${at}${lastLogs()}`)), COMMITS_TIMEOUT_MS);
        waiters.push({
          at,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      }),
    kill: () => void proc.kill('SIGKILL'),
    async stop() {
      proc.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 0, 'the sink child stopped cleanly');
    },
  };
}
