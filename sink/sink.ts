/**
 * The ClickHouse sink: every pageloop topic into the tables of schema.ts.
 *
 * Delivery: at-least-once from Kafka (offsets are committed only after a
 * block's rows are in), made exact by ClickHouse insert deduplication. Each
 * block is one insert per table with the token
 * `${topic}:${partition}:${first}-${last}:${table}` (`events/other` for the
 * events table's second block, see rows.ts), and blocks are cut so
 * that a restart or a replay cuts the same ranges again (blocks.ts: the
 * ledger). A replay of a block therefore inserts identical rows under an
 * identical token, and the engine drops them.
 *
 * Batching: a block is what one fetch brought for a partition, cut further
 * at maxBlockRecords / maxBlockBytes. The time bound is the fetch's: the
 * broker holds a fetch until fetchMinBytes are there or fetchMaxWaitMs
 * pass, so a quiet partition is flushed every fetchMaxWaitMs and a busy one
 * in big blocks.
 *
 * Bad records: a record that does not decode is sent to pageloop.dlq.v1
 * with the reason (before the commit: at-least-once, so a replay sends it
 * again; dead_letters is keyed by the bad record and replacing), and the
 * sink goes on. A dead letter that does not decode itself is only counted.
 *
 * Limits, by design: exactness holds for replays within the last
 * DEDUP_WINDOW_BLOCKS blocks per table (the engine's memory of tokens); to
 * rebuild from older history, truncate the tables and the ledger first.
 * Two sinks must not own the same partition at once (a consumer group
 * guarantees it, short of a zombie past its session timeout).
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { ClickHouseSettings } from '@clickhouse/client';
import { PageloopError, UsageError, errorMessage, isGroupMembershipError, retryHelps } from '../lib/errors.js';
import { createStoppableConsumer, stopForGood } from '../kafka/consumer-stop.js';
import { slowStep } from '../lib/slow-step.js';
import type { PageloopClickHouse } from '../clickhouse/client.js';
import { applyTableMigrations, type MigrationReport } from '../clickhouse/migrations.js';
import { encodeDeadLetter } from '../schemas/dead-letter.js';
import { TOPIC } from '../schemas/topics.js';
import { KnownRanges, cutBlocks, dedupToken, type Cut } from './blocks.js';
import { buildBlocks, eventLoopTurn, pipelineBlocks } from './build.js';
import { insertBlock, insertNativeBlock } from './insert.js';
import { NativeBlock } from '../clickhouse/native-block.js';
import { DECODERS, SINK_TOPICS } from './rows.js';
import type { SinkRecord } from './table-blocks.js';
import { DEFAULT_RAW_TTL_DAYS, TABLE, rawTtlStatement } from '../schemas/clickhouse-tables.js';
import { DEFAULT_TABLE_LAYOUT, LOCAL_SUFFIX, clusterStatement, validateTableLayout } from '../schemas/clickhouse-cluster.js';

export interface SinkConfig {
  /** Consumer group; a new group starts at the beginning of every topic. */
  readonly groupId: string;
  /** Topics to read (those that do not exist on the cluster are skipped and reported). */
  readonly topics: readonly string[];
  readonly maxBlockRecords: number;
  readonly maxBlockBytes: number;
  /** The time bound of a block: how long the broker may hold a fetch for fetchMinBytes. */
  readonly fetchMaxWaitMs: number;
  readonly fetchMinBytes: number;
  readonly maxBytesPerPartition: number;
  readonly partitionsConsumedConcurrently: number;
  /** TTL of the raw event tables (events, damon_regions). */
  readonly rawTtlDays: number;
  /** Where undecodable records go. */
  readonly dlqTopic: string;
  /** Backoff for retriable ClickHouse/Kafka failures (a block is retried until it succeeds or the sink stops). */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Ledger rows read per query. */
  readonly ledgerPage: number;
  /** Consumer group session timeout: how long a dead sink holds its partitions before another takes them. */
  readonly sessionTimeoutMs: number;
  /**
   * The ClickHouse cluster the tables live on (config clickhouse.cluster;
   * schemas/clickhouse-cluster.ts), '' for one server. On a cluster the
   * sink inserts into the Distributed tables in the foreground, so an
   * insert that returns is on its shard and the ledger another sink reads
   * after a rebalance is complete.
   */
  readonly cluster: string;
}

export const DEFAULT_SINK_CONFIG: SinkConfig = {
  groupId: 'pageloop-sink',
  topics: SINK_TOPICS,
  maxBlockRecords: 5_000,
  maxBlockBytes: 32 * 1024 * 1024,
  fetchMaxWaitMs: 1_000,
  fetchMinBytes: 256 * 1024,
  maxBytesPerPartition: 32 * 1024 * 1024,
  partitionsConsumedConcurrently: 2,
  rawTtlDays: DEFAULT_RAW_TTL_DAYS,
  dlqTopic: TOPIC.dlq,
  retryInitialMs: 200,
  retryMaxMs: 10_000,
  ledgerPage: 10_000,
  // kafkajs's default: a rebalance waits this long for a sink that died.
  sessionTimeoutMs: 30_000,
  cluster: '',
};

/** Checks a config, naming the bad key. */
export function validateSinkConfig(c: SinkConfig): SinkConfig {
  const positiveInt = (key: keyof SinkConfig, max = Number.MAX_SAFE_INTEGER): void => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new UsageError(`sink.${key}: must be an integer 1..${max}, got ${JSON.stringify(v)}`);
  };
  if (typeof c.groupId !== 'string' || c.groupId.trim() === '') throw new UsageError('sink.groupId: must be a non-empty string');
  if (!Array.isArray(c.topics) || c.topics.length === 0) throw new UsageError('sink.topics: must list at least one topic');
  for (const t of c.topics) {
    if (!(t in DECODERS)) throw new UsageError(`sink.topics: '${t}' is not a topic the sink knows (${SINK_TOPICS.join(', ')})`);
  }
  positiveInt('maxBlockRecords', 10_000_000);
  positiveInt('maxBlockBytes');
  positiveInt('fetchMaxWaitMs', 60_000);
  positiveInt('fetchMinBytes');
  positiveInt('maxBytesPerPartition');
  positiveInt('partitionsConsumedConcurrently', 64);
  positiveInt('rawTtlDays', 36_500);
  positiveInt('retryInitialMs');
  positiveInt('retryMaxMs');
  positiveInt('ledgerPage', 1_000_000);
  // The broker's group.min/max.session.timeout.ms defaults bound it: 6 s to 30 min.
  if (!Number.isInteger(c.sessionTimeoutMs) || c.sessionTimeoutMs < 6_000 || c.sessionTimeoutMs > 1_800_000) {
    throw new UsageError(`sink.sessionTimeoutMs: must be an integer 6000..1800000 (the broker's bounds), got ${JSON.stringify(c.sessionTimeoutMs)}`);
  }
  if (typeof c.dlqTopic !== 'string' || c.dlqTopic === '') throw new UsageError('sink.dlqTopic: must be a topic name');
  validateTableLayout({ ...DEFAULT_TABLE_LAYOUT, cluster: c.cluster });
  return c;
}

export interface SinkStats {
  records: number;
  blocks: number;
  /** Rows sent per table (a deduplicated replay counts here too: these are rows sent, not rows stored). */
  rows: Record<string, number>;
  deadLetters: number;
  /** Dead letters that could not be decoded themselves (not re-sent, to avoid a loop). */
  badDeadLetters: number;
  retries: number;
  commits: number;
  /** Topics asked for that the cluster does not have. */
  missingTopics: string[];
}

export interface SinkDeps {
  readonly kafka: Kafka;
  readonly clickhouse: PageloopClickHouse;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Called after each block's offsets are committed (progress, tests). */
  readonly onCommit?: (block: { topic: string; partition: number; first: number; last: number; records: number }) => void;
}

export interface Sink {
  /** Applies migrations, subscribes and starts consuming; resolves once running. */
  start(): Promise<MigrationReport>;
  /** Stops consuming (uncommitted work is left for the next run) and disconnects. */
  stop(): Promise<void>;
  stats(): SinkStats;
  /** Settles when the sink stops: rejects with the error that stopped it, if any. */
  readonly done: Promise<void>;
}

interface PartitionState {
  pending: SinkRecord[];
  readonly known: KnownRanges;
  /** Ledger rows with last_offset below this were loaded (or do not matter). */
  ledgerFrom: number;
  /** The ledger has no rows past what was loaded. */
  ledgerComplete: boolean;
  /** Highest offset the ledger rows loaded so far reach. */
  ledgerLoadedThrough: number;
}

function sleep(ms: number, signal: { stopped: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal.stopped) {
      clearTimeout(t);
      resolve();
    }
  });
}

export function toSinkRecord(topic: string, partition: number, m: KafkaMessage): SinkRecord {
  return { topic, partition, offset: Number(m.offset), timestampMs: Number(m.timestamp), key: m.key ?? null, value: m.value ?? null };
}

export function createSink(config: SinkConfig, deps: SinkDeps): Sink {
  const cfg = validateSinkConfig(config);
  const ch = deps.clickhouse;
  const log = deps.log ?? (() => undefined);
  const insertSettings = insertSettingsFor(cfg.cluster);
  const stats: SinkStats = { records: 0, blocks: 0, rows: {}, deadLetters: 0, badDeadLetters: 0, retries: 0, commits: 0, missingTopics: [] };
  const partitions = new Map<string, PartitionState>();
  const halt = { stopped: false };
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let fatal: unknown;
  let resolveDone: () => void = () => undefined;
  let rejectDone: (err: unknown) => void = () => undefined;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // A caller that never awaits `done` must not see an unhandled rejection.
  done.catch(() => undefined);

  const stateOf = (topic: string, partition: number): PartitionState => {
    const key = `${topic}:${partition}`;
    let s = partitions.get(key);
    if (!s) {
      s = { pending: [], known: new KnownRanges(), ledgerFrom: -1, ledgerComplete: false, ledgerLoadedThrough: -1 };
      partitions.set(key, s);
    }
    return s;
  };

  /** Loads the ledger's ranges that reach `through` (paging past what is loaded). */
  const loadLedger = async (topic: string, partition: number, s: PartitionState, from: number, through: number): Promise<void> => {
    if (s.ledgerFrom < 0 || from < s.ledgerFrom) {
      s.ledgerFrom = from;
      s.ledgerComplete = false;
      s.ledgerLoadedThrough = from - 1;
    }
    while (!s.ledgerComplete && s.ledgerLoadedThrough < through) {
      const rows = await ch.queryRows<{ first_offset: string; last_offset: string }>(
        `SELECT first_offset, last_offset FROM ${TABLE.sinkBlocks} FINAL
         WHERE topic = {topic:String} AND partition = {partition:UInt32} AND last_offset > {after:Int64}
         ORDER BY first_offset LIMIT {page:UInt32}`,
        { params: { topic, partition, after: s.ledgerLoadedThrough, page: cfg.ledgerPage } },
      );
      const ranges = rows.map((r) => ({ first: Number(r.first_offset), last: Number(r.last_offset) }));
      s.known.add(ranges);
      if (ranges.length < cfg.ledgerPage) s.ledgerComplete = true;
      const last = ranges[ranges.length - 1];
      if (last) s.ledgerLoadedThrough = Math.max(s.ledgerLoadedThrough, last.last);
    }
  };

  const writeLedger = async (topic: string, partition: number, cuts: readonly Cut[]): Promise<void> => {
    const fresh = cuts.filter((c) => !c.known);
    if (fresh.length === 0) return;
    const block = new NativeBlock(TABLE.sinkBlocks, [
      { name: 'topic', type: 'String' },
      { name: 'partition', type: 'UInt32' },
      { name: 'first_offset', type: 'UInt64' },
      { name: 'last_offset', type: 'UInt64' },
      { name: 'records', type: 'UInt32' },
    ]);
    for (const c of fresh) {
      const row = block.addRows(1);
      block.str(0, row, topic);
      block.u32(1, row, partition);
      block.u64(2, row, c.first);
      block.u64(3, row, c.last);
      block.u32(4, row, c.records);
    }
    await insertNativeBlock(ch, block, dedupToken(topic, partition, { first: fresh[0]!.first, last: fresh[fresh.length - 1]!.last }, TABLE.sinkBlocks), insertSettings);
  };

  const sendDeadLetters = async (bad: readonly { rec: SinkRecord; reason: string }[]): Promise<void> => {
    const messages = [];
    for (const { rec, reason } of bad) {
      if (rec.topic === cfg.dlqTopic) {
        // Re-sending a bad dead letter to its own topic would loop.
        stats.badDeadLetters++;
        log(`dead letter ${rec.topic}:${rec.partition}@${rec.offset} does not decode (${reason}); skipped`);
        continue;
      }
      messages.push({
        key: `${rec.topic}:${rec.partition}`,
        value: Buffer.from(
          encodeDeadLetter({
            topic: rec.topic,
            partition: rec.partition,
            offset: rec.offset,
            key: rec.key ?? new Uint8Array(0),
            reason,
            raw: rec.value ?? new Uint8Array(0),
            consumer: cfg.groupId,
            timestampMs: rec.timestampMs,
          }),
        ),
      });
    }
    if (messages.length === 0) return;
    if (!producer) {
      const p = deps.kafka.producer({ allowAutoTopicCreation: false });
      await p.connect();
      producer = p;
    }
    await producer.send({ topic: cfg.dlqTopic, acks: -1, messages });
    stats.deadLetters += messages.length;
  };

  /** Runs `fn` until it succeeds, backing off on retriable errors; rethrows the others. */
  const withRetry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    let delay = cfg.retryInitialMs;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        // A group error is kafkajs's to fix (it rejoins): retried here, the chaos run's cluster restart
        // gave minutes of "not the correct coordinator" on the same commit, then a final "not aware of this member".
        if (retryHelps(err) !== true || halt.stopped || isGroupMembershipError(err)) throw err;
        stats.retries++;
        log(`${what} failed, retrying in ${delay} ms: ${errorMessage(err)}`);
        await sleep(delay, halt);
        delay = Math.min(cfg.retryMaxMs, delay * 2);
      }
    }
  };

  const processBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch } = payload;
    const { topic, partition } = batch;
    const s = stateOf(topic, partition);
    for (const m of batch.messages) {
      const rec = toSinkRecord(topic, partition, m);
      const last = s.pending[s.pending.length - 1];
      // A re-fetch after a failed batch brings records again: keep the first copy.
      if (last && rec.offset <= last.offset) continue;
      s.pending.push(rec);
    }
    if (s.pending.length === 0) return;
    const fetchedThrough = Number(batch.lastOffset());
    const first = s.pending[0]!.offset;
    await withRetry('reading the block ledger', () => loadLedger(topic, partition, s, first, s.pending[s.pending.length - 1]!.offset));
    const cuts = cutBlocks(
      s.pending.map((r) => ({ offset: r.offset, bytes: r.value?.length ?? 0 })),
      s.known.from(first),
      fetchedThrough,
      { maxRecords: cfg.maxBlockRecords, maxBytes: cfg.maxBlockBytes },
      true,
    );
    if (cuts.length === 0) return;
    await withRetry('writing the block ledger', () => writeLedger(topic, partition, cuts));
    s.known.add(cuts.filter((c) => !c.known));
    const items: { cut: Cut; records: SinkRecord[] }[] = [];
    let at = 0;
    for (const cut of cuts) {
      items.push({ cut, records: s.pending.slice(at, at + cut.records) });
      at += cut.records;
    }
    await pipelineBlocks(
      items,
      (item) => buildBlocks(item.records, eventLoopTurn),
      async ({ cut, records }, { tables, bad }) => {
        const rows = await withRetry(`inserting ${topic}:${partition} ${cut.first}-${cut.last}`, () => insertBlock(ch, topic, partition, cut, tables, insertSettings));
        if (bad.length > 0) await withRetry('sending dead letters', () => sendDeadLetters(bad));
        await withRetry('committing offsets', () => consumer!.commitOffsets([{ topic, partition, offset: String(cut.last + 1) }]));
        s.pending = s.pending.slice(cut.records);
        stats.commits++;
        stats.blocks++;
        stats.records += records.length;
        for (const [t, n] of rows) stats.rows[t] = (stats.rows[t] ?? 0) + n;
        deps.onCommit?.({ topic, partition, first: cut.first, last: cut.last, records: records.length });
        await payload.heartbeat();
      },
      () => payload.isRunning() && !payload.isStale(),
    );
  };

  const fail = (err: unknown): void => {
    if (fatal !== undefined) return;
    fatal = err;
    log(`sink stopping: ${errorMessage(err)}`);
    // Not awaited here: consumer.stop() waits for the running batch, which is the caller.
    setImmediate(() => void sink.stop().catch(() => undefined));
  };

  const sink: Sink = {
    async start() {
      const report = await applyTableMigrations(ch, cfg.cluster);
      await applyRawTtl(ch, cfg.rawTtlDays, cfg.cluster);
      const admin = deps.kafka.admin();
      await admin.connect();
      let existing: Set<string>;
      try {
        existing = new Set(await admin.listTopics());
      } finally {
        await admin.disconnect();
      }
      const topics = cfg.topics.filter((t) => existing.has(t));
      stats.missingTopics = cfg.topics.filter((t) => !existing.has(t));
      if (topics.length === 0) throw new PageloopError('sink-no-topics', `none of the sink's topics exist (${cfg.topics.join(', ')}): run \`pageloop kafka topics\``, { retriable: true });
      const c = createStoppableConsumer(deps.kafka, {
        groupId: cfg.groupId,
        allowAutoTopicCreation: false,
        readUncommitted: false,
        minBytes: cfg.fetchMinBytes,
        maxWaitTimeInMs: cfg.fetchMaxWaitMs,
        maxBytesPerPartition: cfg.maxBytesPerPartition,
        maxBytes: Math.max(cfg.maxBytesPerPartition * 4, 64 * 1024 * 1024),
        sessionTimeout: cfg.sessionTimeoutMs,
        // kafkajs's ratio (3 s of 30 s): a heartbeat must fit a few times in a session.
        heartbeatInterval: Math.max(500, Math.floor(cfg.sessionTimeoutMs / 10)),
      });
      consumer = c;
      // After a rebalance kafkajs fetches again from the committed offsets: drop what was pending, and re-read the ledger (another sink may have cut).
      c.on(c.events.GROUP_JOIN, () => partitions.clear());
      c.on(c.events.CRASH, (e) => {
        const err = e.payload.error;
        if (!e.payload.restart) fail(err);
      });
      await c.connect();
      await c.subscribe({ topics, fromBeginning: true });
      await c.run({
        autoCommit: false,
        partitionsConsumedConcurrently: cfg.partitionsConsumedConcurrently,
        eachBatch: async (payload) => {
          // A consumer kafkajs brought back after the stop (kafka/consumer-stop.ts) writes nothing.
          if (halt.stopped) return;
          try {
            await processBatch(payload);
          } catch (err) {
            // Nothing past the last commit is kept: the next fetch (or run) starts there again.
            partitions.delete(`${payload.batch.topic}:${payload.batch.partition}`);
            // The records are read again from the last commit after the rejoin; their inserts dedup by token.
            if (retryHelps(err) !== true && !isGroupMembershipError(err)) fail(err);
            throw err;
          }
        },
      });
      log(`sink consuming ${topics.join(', ')} as group ${cfg.groupId}${stats.missingTopics.length ? ` (missing: ${stats.missingTopics.join(', ')})` : ''}`);
      return report;
    },
    async stop() {
      if (halt.stopped) return done;
      halt.stopped = true;
      try {
        const c = consumer;
        if (c) await slowStep(log, 'leaving the group (the batch in hand finishes first)', () => stopForGood(c, { log }));
        const p = producer;
        if (p) await slowStep(log, 'closing the dead-letter producer', () => p.disconnect());
      } catch (err) {
        if (fatal === undefined) fatal = err;
      }
      if (fatal !== undefined) rejectDone(fatal);
      else resolveDone();
      return done;
    },
    stats: () => ({ ...stats, rows: { ...stats.rows }, missingTopics: [...stats.missingTopics] }),
    done,
  };
  return sink;
}

/** Settings added to every insert: on a cluster, Distributed inserts in the foreground (the old name, which newer servers still accept). */
export function insertSettingsFor(cluster: string): ClickHouseSettings {
  return cluster === '' ? {} : { insert_distributed_sync: 1 };
}

/** Moves the raw tables' TTL to `days` if it is not there already (on a cluster: the _local tables, on every server). */
export async function applyRawTtl(ch: PageloopClickHouse, days: number, cluster = ''): Promise<void> {
  for (const table of [TABLE.events, TABLE.damonRegions] as const) {
    const holder = cluster === '' ? table : `${table}${LOCAL_SUFFIX}`;
    const rows = await ch.queryRows<{ q: string }>('SELECT create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name = {t:String}', {
      params: { t: holder },
    });
    if (new RegExp(`toIntervalDay\\(${days}\\)`).test(rows[0]?.q ?? '')) continue;
    const statement = cluster === '' ? rawTtlStatement(table, days) : clusterStatement(rawTtlStatement(table, days), { cluster, database: ch.database })[0]!;
    // Not materialized now: existing parts get the new TTL as they merge.
    await ch.command(statement, { settings: { materialize_ttl_after_modify: 0 } });
  }
}
