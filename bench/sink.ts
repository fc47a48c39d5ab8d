/**
 * Sink benchmark: rows per second into the embedded ClickHouse engine.
 *
 * Two modes:
 *   core (default): encoded EventBatch records, as a fetch hands them over,
 *     through the sink's own path (sink/build.ts, sink/insert.ts): decode, Native blocks, one insert per
 *     table and block with its deduplication token, rollup and compaction
 *     views included. No broker: this is the sink's ceiling.
 *   --kafka: end to end. The records are produced to a real local broker
 *     first; the clock runs from the sink's start to the consumer group's
 *     last commit, so it includes fetching, the ledger and offset commits.
 *
 * Rows are rows written to the events table (the rollups' and batch
 * tables' rows come on top). Each round uses a fresh engine directory.
 *
 *   node dist/bench/sink.js [--rows 2000000] [--per-record 32768] [--block-records 8] [--rounds 3] [--mixed] [--kafka]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBroker } from '../test/broker.js';
import { applyMigrations } from '../clickhouse/migrations.js';
import { createClickHouseClient } from '../clickhouse/client.js';
import { TOPIC } from '../schemas/topics.js';
import type { SinkRecord } from '../sink/table-blocks.js';
import { DATABASE, MIGRATIONS } from '../schemas/clickhouse-tables.js';
import { buildBlocks, eventLoopTurn, pipelineBlocks } from '../sink/build.js';
import { insertBlock } from '../sink/insert.js';
import { DEFAULT_SINK_CONFIG, createSink } from '../sink/sink.js';
import { HOSTS, eventRecord } from '../test/sink-records.js';
import { machine, median } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const ROWS = Number(opt('rows', '2000000'));
const PER_RECORD = Number(opt('per-record', '32768'));
const BLOCK_RECORDS = Number(opt('block-records', '8'));
const ROUNDS = Number(opt('rounds', '3'));
const MIXED = args.includes('--mixed');
const KAFKA = args.includes('--kafka');

interface Round {
  rows: number;
  seconds: number;
  buildSeconds: number;
  /** CPU time of this process (JS and the engine's threads) during the round. */
  cpuSeconds: number;
  /** 1-minute load average at the end: other work on the machine shows here. */
  load: number;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function makeRecords(): { records: SinkRecord[]; rows: number } {
  const records: SinkRecord[] = [];
  let rows = 0;
  const n = Math.ceil(ROWS / PER_RECORD);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const r = eventRecord(HOSTS[i % HOSTS.length]!, i, { faults: PER_RECORD, mixed: MIXED });
    rows += r.totals.events;
    records.push({ topic: TOPIC.events, partition: 0, offset: i, timestampMs: now + i, key: Buffer.from(HOSTS[i % HOSTS.length]!), value: r.value });
  }
  return { records, rows };
}

async function coreRound(records: readonly SinkRecord[], rows: number): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-bench-sink-'));
  const ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
  try {
    await applyMigrations(ch, MIGRATIONS);
    let build = 0;
    const c0 = cpuSeconds();
    const blocks: SinkRecord[][] = [];
    for (let i = 0; i < records.length; i += BLOCK_RECORDS) blocks.push(records.slice(i, i + BLOCK_RECORDS));
    const t0 = performance.now();
    // The sink's own loop: block i+1 is decoded and built while block i is inserted.
    await pipelineBlocks(
      blocks,
      async (block) => {
        const b0 = performance.now();
        const built = await buildBlocks(block, eventLoopTurn);
        build += performance.now() - b0;
        return built;
      },
      async (block, built) => {
        await insertBlock(ch, TOPIC.events, 0, { first: block[0]!.offset, last: block[block.length - 1]!.offset }, built.tables);
      },
      () => true,
    );
    const seconds = (performance.now() - t0) / 1000;
    const stored = Number((await ch.queryRows<{ n: string }>('SELECT count() AS n FROM events'))[0]!.n);
    if (stored !== rows) throw new Error(`stored ${stored} rows, expected ${rows}`);
    // Tokens hold: the same blocks again add nothing.
    await insertBlock(ch, TOPIC.events, 0, { first: 0, last: Math.min(BLOCK_RECORDS, records.length) - 1 }, (await buildBlocks(records.slice(0, BLOCK_RECORDS))).tables);
    const again = Number((await ch.queryRows<{ n: string }>('SELECT count() AS n FROM events'))[0]!.n);
    if (again !== rows) throw new Error(`a replayed block was not deduplicated (${again} rows)`);
    return { rows, seconds, buildSeconds: build / 1000, cpuSeconds: cpuSeconds() - c0, load: loadavg()[0]! };
  } finally {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function kafkaRounds(records: readonly SinkRecord[], rows: number): Promise<Round[]> {
  const broker = await startTestBroker();
  const out: Round[] = [];
  try {
    // Idempotent: a retried produce must not put a record in twice (the sink would rightly store both).
    const producer = broker.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < records.length; i += 4) {
      await producer.send({ topic: TOPIC.events, acks: -1, messages: records.slice(i, i + 4).map((r) => ({ key: r.key, value: r.value })) });
    }
    await producer.disconnect();
    for (let r = 0; r < ROUNDS; r++) {
      const dir = mkdtempSync(join(tmpdir(), 'pageloop-bench-sink-'));
      const ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
      try {
        let committed = 0;
        let done: () => void = () => undefined;
        const finished = new Promise<void>((res) => (done = res));
        const sink = createSink(
          { ...DEFAULT_SINK_CONFIG, groupId: `bench-${r}-${Date.now()}`, topics: [TOPIC.events], maxBlockRecords: BLOCK_RECORDS, fetchMinBytes: 1, fetchMaxWaitMs: 100 },
          {
            kafka: broker.kafka,
            clickhouse: ch,
            onCommit: (b) => {
              committed += b.records;
              if (committed >= records.length) done();
            },
          },
        );
        const t0 = performance.now();
        const c0 = cpuSeconds();
        await sink.start();
        await finished;
        const seconds = (performance.now() - t0) / 1000;
        await sink.stop();
        const stored = Number((await ch.queryRows<{ n: string }>('SELECT count() AS n FROM events'))[0]!.n);
        if (stored !== rows) {
          const admin = broker.kafka.admin();
          await admin.connect();
          const ends = await admin.fetchTopicOffsets(TOPIC.events);
          await admin.disconnect();
          const inTopic = ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0);
          const odd = await ch.queryRows<Record<string, string>>(
            `SELECT kafka_partition, kafka_offset, count() AS n FROM events GROUP BY kafka_partition, kafka_offset HAVING n != ${PER_RECORD} LIMIT 10`,
          );
          throw new Error(`stored ${stored} rows, expected ${rows}; the topic holds ${inTopic} records (${records.length} produced); records with other row counts: ${JSON.stringify(odd)}; stats ${JSON.stringify(sink.stats())}`);
        }
        out.push({ rows, seconds, buildSeconds: 0, cpuSeconds: cpuSeconds() - c0, load: loadavg()[0]! });
      } finally {
        await ch.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await broker.close();
  }
  return out;
}

async function main(): Promise<void> {
  const { records, rows } = makeRecords();
  const bytes = records.reduce((n, r) => n + (r.value?.length ?? 0), 0);
  console.log(`sink bench (${KAFKA ? 'kafka end to end' : 'core'}): ${rows} event rows in ${records.length} records (${(bytes / 2 ** 20).toFixed(1)} MiB encoded), ${BLOCK_RECORDS} records per block${MIXED ? ', mixed types' : ''}`);
  console.log(machine());
  let rounds: Round[] = [];
  if (KAFKA) rounds = await kafkaRounds(records, rows);
  else for (let r = 0; r < ROUNDS; r++) rounds.push(await coreRound(records, rows));
  for (const [i, r] of rounds.entries()) {
    const extra = KAFKA ? '' : ` (decode + build ${r.buildSeconds.toFixed(2)} s, overlapping the inserts)`;
    console.log(
      `round ${i + 1}: ${r.rows} rows in ${r.seconds.toFixed(2)} s = ${Math.round(r.rows / r.seconds)} rows/s${extra}; ` +
        `${r.cpuSeconds.toFixed(2)} CPU-s (${((r.cpuSeconds / r.rows) * 1e6).toFixed(2)} us/row), load ${r.load.toFixed(1)}`,
    );
  }
  const rate = median(rounds.map((r) => r.rows / r.seconds));
  console.log(`median: ${Math.round(rate)} rows/s (target >= 500000: ${rate >= 500_000 ? 'met' : 'NOT met'})`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
