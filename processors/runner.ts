/**
 * The processors on Kafka, exactly once: a consumer group over
 * pageloop.events.v1; for every chunk of an input partition's records, one
 * transaction holds the outputs, sometimes a state checkpoint (changelog),
 * and the input offsets. Either all of it becomes visible (read_committed)
 * or none.
 *
 * Fencing: one transactional producer per input partition, with the id
 * `<name>.<group>.<input topic>.<partition>`. Whoever is assigned the
 * partition initialises that id first, which bumps its epoch: the previous
 * owner (a SIGKILLed instance, or a zombie that slept through a rebalance)
 * can no longer commit, and its open transaction is aborted. Only then are
 * the committed offset and the checkpoint read, so they are final.
 *
 * Restore: the newest committed checkpoint of the partition (any committed
 * one is consistent) is loaded and the input replayed from its offset to
 * the committed offset with outputs suppressed (they were committed
 * already; the engine is deterministic so the state comes out the same),
 * then processing goes on. Checkpoints are written every
 * `checkpointEveryRecords` records or `checkpointIntervalMs`, which bounds
 * the replay; when to checkpoint never changes what is output.
 */
import { hostname } from 'node:os';
import type { Admin, Consumer, EachBatchPayload, Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import { PageloopError, errorMessage, retryHelps } from '../lib/errors.js';
import { createLimiter } from '../lib/limiter.js';
import { installFastProduceEncoder } from '../kafka/produce-encoder.js';
import { createStoppableConsumer, stopForGood } from '../kafka/consumer-stop.js';
import { slowStep as slowStepOf } from '../lib/slow-step.js';
import { ChangelogReader, stateKey } from './changelog.js';
import { type EngineContext, type OutRecord, type OutputRole } from './engine.js';
import { localEngineHost, workerPoolEngineHost, type EngineHost, type EngineStats } from './engine-host.js';
import { validateProcessorComponentConfig, type ProcessorComponentConfig, type RunnerConfig } from './runner-config.js';
import { createMissingTopics, hintPartitioner, retrying, topicOfRole } from './topics.js';
import { STATE_MAX_MESSAGE_BYTES } from '../schemas/topics.js';

export { DEFAULT_RUNNER_CONFIG, MAX_ENGINE_WORKERS, validateProcessorComponentConfig, validateRunnerConfig, type ProcessorComponentConfig, type RunnerConfig } from './runner-config.js';

export interface ProcessorStats {
  instanceId: string;
  groupId: string;
  partitions: number[];
  /** Input records applied (replays included). */
  records: number;
  /** Input records re-applied after a restore, outputs suppressed. */
  replayed: number;
  transactions: number;
  checkpoints: number;
  /** Checkpoints not written because they were over the state topic's record limit (a restore replays further instead). */
  checkpointsTooLarge: number;
  restores: number;
  outputs: Record<OutputRole, number>;
  /** Summed over the hosts of the partitions this instance holds now. */
  hosts: { hosts: number; processes: number; regions: number; duplicates: number; gaps: number; lateEvents: number; events: number };
  lastError: string | null;
}

export interface Processor {
  start(): Promise<void>;
  /** Finishes the current transaction, leaves the group, disconnects. */
  stop(): Promise<void>;
  stats(): ProcessorStats;
  /** Rejects when the processor has failed for good (a crash kafkajs will not restart). */
  readonly failed: Promise<never>;
}

export interface ProcessorHooks {
  log?: (line: string) => void;
  /** Awaited before each transaction of partition p commits (its last input offset): tests inject failures here. */
  beforeCommit?: (partition: number, lastOffset: number) => Promise<void>;
}

interface Entry {
  /** The partition's engine (in the engine host): its next offset and stats as of the last operation. */
  nextOffset: number;
  engineStats: EngineStats;
  producer: Producer;
  /** Group generation the entry was verified in. */
  generation: number;
  /** Records below this offset were committed already: their outputs are dropped. */
  suppressUntil: number;
  sinceCheckpoint: number;
  lastCheckpointAt: number;
  /** Input bytes applied since the last checkpoint, and that checkpoint's size (0 before the first). */
  bytesSinceCheckpoint: number;
  lastCheckpointBytes: number;
}

/**
 * Whether partition state is checkpointed in this transaction: after
 * checkpointEveryRecords records or checkpointIntervalMs, but not before
 * checkpointInputRatio times the last checkpoint's size of input has been
 * applied since. A state large against its input (many hosts per
 * partition, short-lived processes) is then written less often, in
 * proportion, instead of the processor spending its time serializing it,
 * and a restore replays at most that much input after its checkpoint.
 */
export function checkpointDue(
  c: Pick<RunnerConfig, 'checkpointEveryRecords' | 'checkpointIntervalMs' | 'checkpointInputRatio'>,
  e: Pick<Entry, 'sinceCheckpoint' | 'lastCheckpointAt' | 'bytesSinceCheckpoint' | 'lastCheckpointBytes'>,
  nowMs: number,
): boolean {
  if (e.sinceCheckpoint < c.checkpointEveryRecords && nowMs - e.lastCheckpointAt < c.checkpointIntervalMs) return false;
  return e.bytesSinceCheckpoint >= c.checkpointInputRatio * e.lastCheckpointBytes;
}

/**
 * kafkajs does not retry AddOffsetsToTxn, and the coordinator answers
 * CONCURRENT_TRANSACTIONS while the previous transaction's markers are
 * still being written (the Java client retries it): retry with backoff.
 */
async function concurrentRetry<T>(fn: () => Promise<T>, tries = 12): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const type = (err as { type?: string } | undefined)?.type;
      if (type !== 'CONCURRENT_TRANSACTIONS' || i >= tries) throw err;
      await new Promise((r) => setTimeout(r, Math.min(500, 10 * 2 ** i)));
    }
  }
}

/** Bytes of outputs per produce request: well under the broker's default max.message.bytes (1 MiB). */
const SEND_BUDGET = 512 * 1024;
/** Per-record framing, headers and timestamp deltas, over-estimated. */
const RECORD_OVERHEAD = 32;
/**
 * Records per produce request. kafkajs's own grouping of a request's
 * records by partition is quadratic (pageloop's entry points load a linear
 * one: kafka/preload.js), which this bounds where that did not
 * happen; with the linear one, 1000 and 2400 measured the same.
 */
const SEND_MAX_RECORDS = 1000;

/**
 * With read-ahead, how many partitions' batches kafkajs hands over at once
 * (its partitionsConsumedConcurrently): handing over is waiting for the
 * partition's previous batch, so every partition of a fetch should get its
 * turn without waiting for others'. runner.partitionsConcurrently bounds the
 * processing.
 */
const READ_AHEAD_HANDOFFS = 64;

function isRebalance(err: unknown): boolean {
  const type = (err as { type?: string } | undefined)?.type;
  return type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION' || type === 'UNKNOWN_MEMBER_ID';
}

function isFencing(err: unknown): boolean {
  const e = err as { type?: string; name?: string; cause?: unknown } | undefined;
  const t = `${e?.type ?? ''} ${e?.name ?? ''} ${errorMessage(err)}`;
  return /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|fenced/i.test(t);
}

/** What a processor is given: the Kafka client, and the hooks (log, test fault injection). */
export interface ProcessorDeps extends ProcessorHooks {
  readonly kafka: Kafka;
}

export function createProcessor(config: ProcessorComponentConfig, deps: ProcessorDeps): Processor {
  validateProcessorComponentConfig(config);
  const { model, runner } = config;
  const { kafka, ...hooks } = deps;
  const log = hooks.log ?? (() => undefined);
  // Outputs are many small records: kafkajs's own encoder would cost about as much CPU as computing them.
  const fastProduce = installFastProduceEncoder();
  if (!fastProduce.installed) log(`outputs are encoded by kafkajs (slower): ${fastProduce.reason}`);
  const topics = runner.topics;
  const ctx: EngineContext = { config: model, inputTopic: topics.events, log };
  const txPrefix = `${model.name}.${runner.groupId}.${topics.events}`;
  const partitioner = hintPartitioner(topics.hints);

  const entries = new Map<number, Entry>();
  let host: EngineHost | undefined;
  let generation = 0;
  let assignment: number[] = [];
  let statePartitions = 1;
  let admin: Admin | undefined;
  let consumer: Consumer | undefined;
  let reader: ChangelogReader | undefined;
  const retiring = new Set<Promise<void>>();
  /** Batches processed at once (with read-ahead; without it, kafkajs's concurrency does this). */
  const limiter = createLimiter(runner.partitionsConcurrently);
  const stats: ProcessorStats = {
    instanceId: runner.instanceId,
    groupId: runner.groupId,
    partitions: [],
    records: 0,
    replayed: 0,
    transactions: 0,
    checkpoints: 0,
    checkpointsTooLarge: 0,
    restores: 0,
    outputs: { scores: 0, phases: 0, hints: 0, tuner: 0, dlq: 0 },
    hosts: { hosts: 0, processes: 0, regions: 0, duplicates: 0, gaps: 0, lateEvents: 0, events: 0 },
    lastError: null,
  };
  let final: ProcessorStats | undefined;
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);

  const retire = (p: Producer): void => {
    const done = p
      .disconnect()
      .catch(() => undefined)
      .finally(() => retiring.delete(done));
    retiring.add(done);
  };

  const slowStep = (what: string, step: () => Promise<unknown> | undefined): Promise<unknown> => slowStepOf(log, what, step);

  const statePartition = (p: number): number => p % statePartitions;

  async function committedOffset(p: number): Promise<number> {
    const res = await retrying(() => admin!.fetchOffsets({ groupId: runner.groupId, topics: [topics.events] }));
    const part = res.find((t) => t.topic === topics.events)?.partitions.find((x) => x.partition === p);
    const n = Number(part?.offset ?? -1);
    return Number.isFinite(n) ? n : -1;
  }

  async function lowOffset(p: number): Promise<number> {
    const offs = await retrying(() => admin!.fetchTopicOffsets(topics.events));
    return Number(offs.find((o) => o.partition === p)?.low ?? 0);
  }

  async function newProducer(p: number): Promise<Producer> {
    const producer = kafka.producer({
      transactionalId: `${txPrefix}.${p}`,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: runner.transactionTimeoutMs,
      allowAutoTopicCreation: false,
      createPartitioner: partitioner,
    });
    await producer.connect();
    // InitProducerId for the transactional id: fences the previous owner and
    // waits until its open transaction is aborted (kafkajs inits lazily, here).
    const t = await producer.transaction();
    await t.abort();
    return producer;
  }

  /**
   * Takes ownership of partition p for this generation. Returns the entry, or
   * null when it has seeked the consumer (the batch in hand is not the one to process).
   */
  async function own(p: number, firstOffset: number, payload: EachBatchPayload): Promise<Entry | null> {
    const prior = entries.get(p);
    entries.delete(p);
    if (prior) retire(prior.producer);
    const producer = await newProducer(p);
    try {
      const committed = await committedOffset(p);
      let engine: { nextOffset: number; stats: EngineStats };
      if (prior && prior.nextOffset === committed && committed >= 0) {
        // Nobody else processed it meanwhile: the state in memory (in the host) is current.
        engine = { nextOffset: prior.nextOffset, stats: prior.engineStats };
      } else {
        if (committed >= 0) stats.restores++;
        const { checkpoint } = await reader!.checkpointFor(p, statePartition(p), runner.restoreTimeoutMs, payload.heartbeat);
        engine = await host!.open(p, checkpoint, committed);
      }
      const entry: Entry = { nextOffset: engine.nextOffset, engineStats: engine.stats, producer, generation, suppressUntil: committed, sinceCheckpoint: 0, lastCheckpointAt: Date.now(), bytesSinceCheckpoint: 0, lastCheckpointBytes: 0 };
      entries.set(p, entry);
      const start = engine.nextOffset >= 0 ? engine.nextOffset : committed >= 0 ? await lowOffset(p) : firstOffset;
      if (committed > start) {
        stats.replayed += committed - start;
        log(`partition ${p}: restored at ${start}, replaying to the committed offset ${committed} with outputs suppressed`);
      }
      if (start < firstOffset) {
        consumer!.seek({ topic: topics.events, partition: p, offset: String(start) });
        return null;
      }
      return entry;
    } catch (err) {
      entries.delete(p);
      retire(producer);
      throw err;
    }
  }

  /**
   * Outputs as sendBatch requests, in order, each under SEND_BUDGET bytes and SEND_MAX_RECORDS records:
   * kafkajs sends a partition's messages of one request as one record batch,
   * and the broker refuses a batch over max.message.bytes (1 MiB by default).
   */
  function toRequests(outs: OutRecord[]): TopicMessages[][] {
    const requests: TopicMessages[][] = [];
    let byTopic = new Map<string, Message[]>();
    let bytes = 0;
    let count = 0;
    const flush = (): void => {
      if (byTopic.size > 0) requests.push([...byTopic].map(([topic, messages]) => ({ topic, messages })));
      byTopic = new Map();
      bytes = 0;
      count = 0;
    };
    for (const o of outs) {
      const size = o.key.length + (o.value?.byteLength ?? 0) + RECORD_OVERHEAD;
      if (bytes + size > SEND_BUDGET || count >= SEND_MAX_RECORDS) flush();
      const topic = topicOfRole(topics, o.role);
      let list = byTopic.get(topic);
      if (!list) {
        list = [];
        byTopic.set(topic, list);
      }
      // Most outputs are Buffers already (the score encoder's): no second view per record.
      const value = o.value === null ? null : Buffer.isBuffer(o.value) ? o.value : Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength);
      list.push({ key: o.key, value, timestamp: o.timestampMs });
      bytes += size;
      count++;
    }
    flush();
    return requests;
  }

  async function commit(p: number, e: Entry, outs: OutRecord[], lastOffset: number): Promise<void> {
    const txn = await e.producer.transaction();
    try {
      // Sequential requests keep each partition's order (one request in flight).
      for (const topicMessages of toRequests(outs)) await txn.sendBatch({ topicMessages, acks: -1 });
      const due = checkpointDue(runner, e, Date.now());
      let tooLarge = false;
      let checkpointBytes = 0;
      if (due) {
        const key = stateKey(runner.groupId, topics.events, p);
        const checkpoint = await host!.checkpoint(p);
        checkpointBytes = checkpoint.length;
        // Over the state topic's limit the broker refuses the whole transaction, and would refuse it again
        // after every restart: a checkpoint is only a shortcut for a restore, so this one is left out.
        tooLarge = checkpoint.length + key.length + RECORD_OVERHEAD > STATE_MAX_MESSAGE_BYTES;
        if (tooLarge) {
          log(`partition ${p}: checkpoint of ${(checkpoint.length / 1024 / 1024).toFixed(1)} MiB is over the state topic's ${STATE_MAX_MESSAGE_BYTES / 1024 / 1024} MiB: not written (a restore replays from the one before)`);
        } else {
          await txn.send({ topic: topics.state, acks: -1, messages: [{ key, value: checkpoint, partition: statePartition(p) }] });
        }
      }
      await concurrentRetry(() =>
        txn.sendOffsets({ consumerGroupId: runner.groupId, topics: [{ topic: topics.events, partitions: [{ partition: p, offset: String(lastOffset + 1) }] }] }),
      );
      await hooks.beforeCommit?.(p, lastOffset);
      await txn.commit();
      stats.transactions++;
      for (const o of outs) stats.outputs[o.role]++;
      if (due) {
        if (tooLarge) stats.checkpointsTooLarge++;
        else stats.checkpoints++;
        e.sinceCheckpoint = 0;
        e.lastCheckpointAt = Date.now();
        e.bytesSinceCheckpoint = 0;
        e.lastCheckpointBytes = checkpointBytes;
      }
    } catch (err) {
      if (txn.isActive()) await txn.abort().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Processes one batch of partition p: applies it in chunks of at most
   * maxRecordsPerTransaction records, each committed in a transaction.
   * `resolveEach`: tell kafkajs each chunk's last offset once committed
   * (without read-ahead; with it, kafkajs was told the batch's end already).
   * A batch left unfinished (a seek to restore, a pending seek, a stop) breaks
   * the partition's run of batches (see eachBatch).
   */
  async function processBatch(payload: EachBatchPayload, resolveEach: boolean): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const p = batch.partition;
    const messages = batch.messages;
    if (messages.length === 0) return;
    let e = entries.get(p);
    // True from applying a chunk until its transaction commits: the state in memory is ahead of Kafka.
    let ahead = false;
    try {
      if (!e || e.generation !== generation) {
        const owned = await own(p, Number(messages[0]!.offset), payload);
        if (!owned) {
          breakRun(p);
          return;
        }
        e = owned;
      }
      let i = 0;
      while (i < messages.length && isRunning() && !isStale()) {
        const end = Math.min(messages.length, i + runner.maxRecordsPerTransaction);
        ahead = true;
        const chunk = messages.slice(i, end);
        const { outs, last, applied, nextOffset, stats: engineStats } = await host!.apply(p, chunk, e.suppressUntil);
        i = end;
        e.nextOffset = nextOffset;
        e.engineStats = engineStats;
        e.sinceCheckpoint += applied;
        for (const m of chunk) e.bytesSinceCheckpoint += m.value?.length ?? 0;
        stats.records += applied;
        if (last >= 0) {
          if (last >= e.suppressUntil) await commit(p, e, outs, last);
          if (resolveEach) resolveOffset(String(last));
        }
        ahead = false;
        await heartbeat();
      }
      // Stopped or seeked midway: the records from i on were not applied.
      if (i < messages.length) breakRun(p);
    } catch (err) {
      if (ahead) {
        // The state in memory is past what was committed: drop it; the next
        // batch of this partition restores from the changelog.
        const lost = entries.get(p);
        entries.delete(p);
        if (lost) retire(lost.producer);
        stats.lastError = errorMessage(err);
        log(`partition ${p}: ${isFencing(err) ? 'fenced by another owner' : 'transaction failed'}: ${errorMessage(err)}; will restore`);
      }
      // kafkajs must see its own rebalance errors (from heartbeat) as they are, to rejoin the group.
      if (isRebalance(err)) throw err;
      // A fenced producer is retried (ownership is re-taken); an error Kafka calls final
      // (a record too large, authorization) would fail the same way forever: the
      // processor stops with it instead of looping.
      const retriable = isFencing(err) || retryHelps(err) !== false;
      // No `cause`: kafkajs decides whether to restart from the root cause's `retriable`, which is this decision.
      throw new PageloopError('processor-transaction', `partition ${p}: ${errorMessage(err)}`, { retriable });
    }
  }

  /** Per partition, its batch being processed with read-ahead (never rejects). */
  const tails = new Map<number, Promise<void>>();
  let stopping = false;
  /**
   * Per partition, how often its run of batches broke: a batch ended without
   * applying all its records (an error, a rebalance error from a heartbeat,
   * a seek, a stop). With read-ahead, kafkajs fetched the next batch from
   * past the broken one's end before it broke, so that batch does not follow
   * what the engine applied; applying it skipped the broken batch's rest
   * (the scaling test lost 2% of its scores so: the state missed records
   * 97-113 of a partition and every window after differed).
   */
  const breaks = new Map<number, number>();
  function breakRun(p: number): void {
    breaks.set(p, (breaks.get(p) ?? 0) + 1);
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    // A consumer kafkajs brought back after the stop (kafka/consumer-stop.ts) processes nothing.
    if (stopping) return;
    if (!runner.readAhead) return processBatch(payload, true);
    const p = payload.batch.partition;
    // Fetched in this generation as the continuation of this run of batches.
    const handedOver = { generation, run: breaks.get(p) ?? 0 };
    // One batch of a partition at a time, in order: this one waits for the one before.
    await tails.get(p);
    const last = payload.batch.messages.at(-1)?.offset;
    // Stale: a seek (a restore, or a failed batch reading again from its commit) made this batch moot.
    if (last === undefined || payload.isStale() || !payload.isRunning()) return;
    if (handedOver.generation !== generation || (breaks.get(p) ?? 0) !== handedOver.run) {
      // Not the continuation any more: the batch before it broke (and the partition was sought
      // back to where its engine is), or the group rejoined (positions come from the commits).
      // Dropped and not resolved: kafkajs resolves into the current generation's positions, so
      // resolving it would move the partition past records never applied.
      log(`partition ${p}: dropped the read-ahead batch ${payload.batch.firstOffset()}-${last} (${handedOver.generation !== generation ? 'the group rejoined' : 'the batch before it did not finish'}); reading again from the engine's position`);
      return;
    }
    const generationAtStart = generation;
    tails.set(
      p,
      limiter.run(() => processBatch(payload, false)).catch((err: unknown) => afterReadAheadFailure(p, err, generationAtStart)),
    );
    // kafkajs fetches again once every batch of its fetch has returned: from past this one.
    payload.resolveOffset(last);
  }

  /**
   * What kafkajs would have done with a batch's error, had it waited for the
   * batch: a final error stops the processor; after any other, the partition
   * is read again from where its engine is (kafkajs is past the batch
   * already): the engine's next offset when its state was kept, else the
   * last commit, and its next batch restores the state (own).
   */
  async function afterReadAheadFailure(p: number, err: unknown, batchGeneration: number): Promise<void> {
    // Whatever was fetched after this batch does not follow it.
    breakRun(p);
    if (stopping) return;
    // A batch of an earlier generation fails because its partition was revoked or moved (its producer
    // retired): the rejoin gave every partition its position from the commits, nothing to do.
    if (batchGeneration !== generation || !assignment.includes(p)) return;
    if (err instanceof PageloopError && !err.retriable) {
      fail(err);
      return;
    }
    // Rebalance errors (a heartbeat's) too: kafkajs may fetch this partition again before it
    // rejoins, from past this batch. After a rejoin this seek is still right (at or below the commit).
    try {
      const e = entries.get(p);
      const kept = e !== undefined && e.generation === generation && e.nextOffset >= 0;
      let at = kept ? e.nextOffset : await committedOffset(p);
      if (at < 0) at = await lowOffset(p);
      consumer!.seek({ topic: topics.events, partition: p, offset: String(at) });
      log(`partition ${p}: batch stopped (${errorMessage(err)}); reading again from ${at} (${kept ? "the engine's position" : 'the last commit'})`);
    } catch (seekErr) {
      // The consumer crashed and is restarting meanwhile: its rejoin reads from the commits.
      if (batchGeneration !== generation || stopping) return;
      fail(new PageloopError('processor-transaction', `partition ${p}: cannot read again from its engine's position after a failed batch (${errorMessage(err)}): ${errorMessage(seekErr)}`, { retriable: false }));
    }
  }

  return {
    failed,
    async start() {
      host = runner.engineWorkers > 0 ? workerPoolEngineHost(ctx, runner.engineWorkers, (err) => fail(err)) : localEngineHost(ctx);
      admin = kafka.admin();
      await admin.connect();
      if (runner.createTopics) {
        const created = await createMissingTopics(admin, topics, runner.replicationFactor > 0 ? { replicationFactor: runner.replicationFactor } : {});
        if (created.length > 0) log(`created ${created.join(', ')}`);
      }
      const meta = await retrying(() => admin!.fetchTopicMetadata({ topics: [topics.state] }));
      statePartitions = Math.max(1, meta.topics[0]?.partitions.length ?? 1);

      reader = new ChangelogReader(kafka, admin, {
        stateTopic: topics.state,
        keyPrefix: `${runner.groupId}|${topics.events}|`,
        // Its own group, never committed: it always reads the changelog from the start.
        readerGroupId: `${runner.groupId}.state-reader.${runner.instanceId}.${hostname()}.${process.pid}.${Date.now()}`,
        log,
      });
      await reader.start();

      const c = createStoppableConsumer(kafka, {
        groupId: runner.groupId,
        readUncommitted: false,
        sessionTimeout: runner.sessionTimeoutMs,
        heartbeatInterval: runner.heartbeatIntervalMs,
        maxBytesPerPartition: runner.maxBytesPerPartition,
        maxBytes: Math.max(runner.maxBytesPerPartition * 4, 32 * 1024 * 1024),
        maxWaitTimeInMs: 250,
        allowAutoTopicCreation: false,
      });
      consumer = c;
      c.on(c.events.GROUP_JOIN, (ev) => {
        // A new generation: every partition is verified again (fence, committed offset) before use.
        generation++;
        assignment = [...(ev.payload.memberAssignment[topics.events] ?? [])].sort((a, b) => a - b);
        stats.partitions = assignment;
        for (const [p, e] of entries) {
          if (!assignment.includes(p)) {
            entries.delete(p);
            // A batch of p may still be running (read-ahead): its engine and producer go once it
            // settles, not under it (an apply on a closed engine, a commit on a retired producer).
            const forget = (): void => {
              if (!entries.has(p)) host?.close(p);
              retire(e.producer);
            };
            const running = tails.get(p);
            if (running) tails.set(p, running.then(forget));
            else forget();
          }
        }
        log(`instance ${runner.instanceId}: assigned partitions [${assignment.join(', ')}] (generation ${generation})`);
      });
      c.on(c.events.CRASH, (ev) => {
        stats.lastError = errorMessage(ev.payload.error);
        if (!ev.payload.restart) fail(ev.payload.error);
        // kafkajs restarts the consumer: it rejoins and every partition is read again from its
        // commit, so what was in flight belongs to a past generation (afterReadAheadFailure must
        // not seek a consumer that is being restarted: the chaos run's broker faults stopped both
        // processors on "Consumer group was not initialized").
        else generation++;
      });
      await c.connect();
      await c.subscribe({ topic: topics.events, fromBeginning: true });
      // With read-ahead, eachBatch only hands a batch over (the limiter bounds the processing):
      // kafkajs may call it for every partition of a fetch at once.
      await c.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: runner.readAhead ? READ_AHEAD_HANDOFFS : runner.partitionsConcurrently, eachBatch });
    },
    async stop() {
      stopping = true;
      await slowStep('leaving the group', () => (consumer ? stopForGood(consumer, { log }).catch(() => undefined) : undefined));
      // Batches still being processed finish (or fail) before their producers go.
      await slowStep('batches in flight', () => Promise.all([...tails.values()]));
      // What this instance held, for the final report.
      final = snapshot();
      for (const e of entries.values()) retire(e.producer);
      entries.clear();
      await slowStep('closing the transactional producers', () => Promise.all([...retiring]));
      await slowStep('stopping the changelog reader', () => reader?.stop());
      await slowStep('closing the admin client', () => admin?.disconnect().catch(() => undefined));
      await slowStep('stopping the engines', () => host?.stop());
    },
    stats() {
      return final ?? snapshot();
    },
  };

  function snapshot(): ProcessorStats {
    const h = { hosts: 0, processes: 0, regions: 0, duplicates: 0, gaps: 0, lateEvents: 0, events: 0 };
    for (const e of entries.values()) {
      for (const k of Object.keys(h) as (keyof typeof h)[]) h[k] += e.engineStats[k];
    }
    return { ...stats, partitions: [...assignment], outputs: { ...stats.outputs }, hosts: h };
  }
}

/** End offsets (high watermarks) of a topic's non-empty partitions. */
export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offs = await retrying(() => admin.fetchTopicOffsets(topic));
  const out = new Map<number, number>();
  for (const o of offs) if (Number(o.high) > Number(o.low)) out.set(o.partition, Number(o.high));
  return out;
}

/** Resolves once the group's committed offsets reach `ends`; polls (wall clock: control only, never processing). */
export async function waitForCommitted(
  admin: Admin,
  groupId: string,
  topic: string,
  ends: ReadonlyMap<number, number>,
  options: { timeoutMs: number; pollMs?: number; failed?: Promise<never>; cancelled?: () => boolean },
): Promise<void> {
  const until = Date.now() + options.timeoutMs;
  let failure: unknown;
  options.failed?.catch((err: unknown) => (failure = err));
  for (;;) {
    if (failure !== undefined) throw failure;
    if (options.cancelled?.()) return;
    const res = await retrying(() => admin.fetchOffsets({ groupId, topics: [topic] }));
    const parts = res.find((t) => t.topic === topic)?.partitions ?? [];
    const behind = [...ends].filter(([p, end]) => Number(parts.find((x) => x.partition === p)?.offset ?? -1) < end);
    if (behind.length === 0) return;
    if (Date.now() > until) {
      throw new PageloopError('processor-timeout', `group ${groupId} did not reach the end of ${topic} in ${options.timeoutMs} ms (behind on partitions ${behind.map(([p]) => p).join(', ')})`, { retriable: true });
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
  }
}
