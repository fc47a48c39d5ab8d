/**
 * The feedback agent of one host: pageloop.hints.v1 in, the hint map and
 * process_madvise / memory.reclaim out, and every outcome on
 * pageloop.actions.v1 (keyed by host).
 *
 * pageloop.hints.v1 is compacted desired state, one record per hint, keyed
 * HOST|PID|START_NS|REGION_START; a null value withdraws the hint. On start
 * the agent reads the topic from the beginning to the end it had when the
 * agent started (caught up) before acting, so a hint withdrawn while the
 * agent was down is never acted on, then acts on what is live. It never
 * commits offsets: every start reads the whole (compacted) live set again,
 * and the hint map says which hints were applied already.
 *
 * Records are handled one at a time, in order: the enforcer is synchronous
 * and the action record is sent before the next hint is looked at.
 */
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { PageloopError, errorMessage, retryHelps } from '../lib/errors.js';
import { createStoppableConsumer, stopForGood } from '../kafka/consumer-stop.js';
import { slowStep } from '../lib/slow-step.js';
import { openHintMap, type HintMap } from '../bpf/hint-map.js';
import { TOPIC } from '../schemas/topics.js';
import { WireDecodeError } from '../schemas/wire-errors.js';
import { decodeHint, encodeHintAction, type Hint, type HintAction, type HintOutcome } from '../schemas/derived.js';
import { validateFeedbackConfig, type FeedbackConfig } from './config.js';
import { openAppliedLog, type AppliedLog } from './applied-log.js';
import { createEnforcer, type Enforcer, type Kernel } from './enforcer.js';
import { checkKeyMatches, parseHintKey, REGION_BYTES } from './policy.js';
import { createRedeliveryFilter } from './redelivery.js';

/** Action records per produce request: small records, well under the broker's 1 MiB request limit. */
const MAX_ACTIONS_PER_SEND = 500;

export interface FeedbackAgentDeps {
  kafka: Kafka;
  /** Default: the map pinned at config.hintMapPinPath (opened, or created and pinned). */
  hintMap?: HintMap;
  kernel?: Kernel;
  bootId?: string;
  /** Every action record, after it was sent. */
  onAction?: (action: HintAction) => void;
  log?: (line: string) => void;
}

export interface FeedbackAgentStats {
  /** Records of this host handled (values and tombstones). */
  records: number;
  /** Records of other hosts, ignored. */
  otherHosts: number;
  /** Records kafkajs handed over again (consumer restart, rebalance) and that were skipped. */
  redelivered: number;
  withdrawals: number;
  /** Hints seen again that were applied already: nothing done, nothing recorded. */
  alreadyApplied: number;
  expired: number;
  swept: number;
  outcomes: Record<Exclude<HintOutcome, 'unspecified'>, number>;
  caughtUp: boolean;
  /** Hints of this host in force (decoded, not withdrawn). */
  live: number;
}

export interface FeedbackAgent {
  readonly config: Readonly<FeedbackConfig>;
  start(): Promise<void>;
  /** Resolves once the hint topic was read to its start-time end and the live set acted on. */
  caughtUp(): Promise<void>;
  stats(): FeedbackAgentStats;
  /** Leaves the consumer group and closes the producer; hint-map entries stay (they are desired state). */
  stop(): Promise<void>;
}

function covers(h: Hint, pid: number, startNs: number, region: number): boolean {
  if (!h.region || h.process.pid !== pid || h.process.startNs !== startNs) return false;
  return Math.floor(h.region.start / REGION_BYTES) <= region && region <= Math.floor((h.region.start + h.region.length - 1) / REGION_BYTES);
}

/**
 * The topic's offsets, retried while the broker says "not now" (a broker
 * just started has partitions without a leader for a while).
 */
async function endOffsets(admin: Admin, topic: string, withinMs: number): Promise<Array<{ partition: number; high: string; low: string }>> {
  const until = Date.now() + withinMs;
  for (;;) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      const retriable = retryHelps(err) === true;
      if (!retriable || Date.now() > until) {
        throw new PageloopError('kafka-offsets', `reading the end offsets of ${topic}: ${errorMessage(err)}`, { retriable, cause: err });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The config is complete: callers merge the defaults with feedbackConfig() (feedback/config.ts). */
export function createFeedbackAgent(config: FeedbackConfig, deps: FeedbackAgentDeps): FeedbackAgent {
  validateFeedbackConfig(config);
  const log = deps.log ?? ((line: string) => console.error(`feedback: ${line}`));
  const groupId = config.groupId || `pageloop-feedback-${config.host}`;
  const live = new Map<string, Hint>();
  const pending = new Map<string, Buffer | null>();
  const stats: FeedbackAgentStats = {
    records: 0,
    otherHosts: 0,
    redelivered: 0,
    withdrawals: 0,
    alreadyApplied: 0,
    expired: 0,
    swept: 0,
    outcomes: { applied: 0, refused: 0, failed: 0, dry_run: 0 },
    caughtUp: false,
    live: 0,
  };
  let hintMap: HintMap | undefined;
  let ownMap = false;
  let enforcer: Enforcer | undefined;
  let appliedLog: AppliedLog | undefined;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let catchUpTimer: NodeJS.Timeout | undefined;
  let running = false;
  let resolveCaughtUp: () => void = () => undefined;
  const caughtUpPromise = new Promise<void>((r) => (resolveCaughtUp = r));

  // One thing at a time: record handling, the catch-up reconcile and sweeps.
  let chain: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void> | void): Promise<void> => {
    const p = chain.then(fn);
    chain = p.catch((err: unknown) => log(`error: ${errorMessage(err)}`));
    return p;
  };

  const keepFor = (exceptKey: string) => (pid: number, region: number) => {
    for (const [k, h] of live) if (k !== exceptKey && covers(h, pid, h.process.startNs, region)) return true;
    return false;
  };

  // Action records not yet acknowledged by the broker. A hint is acted on
  // once, so its record must not be lost when a send fails: it waits here,
  // in order, and goes out with the next flush (every publish starts one,
  // and every sweep and stop). Hints are never held up by these sends: a
  // burst of hints used to wait one broker round trip each, which was most
  // of the closed loop's tail latency.
  const outbox: HintAction[] = [];
  let flushing: Promise<void> | undefined;
  const sendOutbox = async (): Promise<void> => {
    while (outbox.length > 0) {
      const batch = outbox.slice(0, MAX_ACTIONS_PER_SEND);
      await producer!.send({ topic: TOPIC.actions, acks: -1, messages: batch.map((a) => ({ key: config.host, value: Buffer.from(encodeHintAction(a)) })) });
      outbox.splice(0, batch.length);
      for (const a of batch) {
        if (a.outcome !== 'unspecified') stats.outcomes[a.outcome]++;
        deps.onAction?.(a);
      }
    }
  };
  const flush = (): Promise<void> => {
    flushing ??= sendOutbox().finally(() => (flushing = undefined));
    return flushing;
  };
  const publish = (a: HintAction): void => {
    outbox.push(a);
    // A flush under way sends this one too; one log line per failed flush, not per record.
    if (!flushing) flush().catch((err: unknown) => log(`${outbox.length} action records not sent yet: ${errorMessage(err)}`));
  };

  const handleRecord = async (key: string, value: Buffer | null, replayed = false): Promise<void> => {
    const e = enforcer!;
    const parsed = parseHintKey(key);
    if (!parsed.ok) {
      if (parsed.host !== config.host) {
        stats.otherHosts++;
        return;
      }
      stats.records++;
      publish(e.refuse(`key:${key}`, { host: config.host, bootId: e.bootId, pid: 0, startNs: 0 }, `malformed hint: ${parsed.reason}`));
      return;
    }
    const k = parsed.key;
    if (k.host !== config.host) {
      stats.otherHosts++;
      return;
    }
    stats.records++;
    if (value === null) {
      const prev = live.get(key);
      live.delete(key);
      const removed = prev ? e.withdraw(prev, keepFor(key)) : e.withdrawByKey(k.pid, k.startNs, k.regionStart, keepFor(key));
      stats.withdrawals++;
      // Only a withdrawal that changed the kernel's map is news; the others
      // (hints that were refused, or never applied) are counted in stats.
      if (removed > 0) log(`withdrawn ${key}${prev ? ` (hint ${prev.hintId})` : ''}: ${removed} hint-map entries removed`);
      return;
    }
    let hint: Hint;
    try {
      hint = decodeHint(value);
    } catch (err) {
      const reason = err instanceof WireDecodeError ? err.reason : errorMessage(err);
      const region = { mapping: { kind: 'unspecified' as const, path: '', ordinal: 0 }, offset: 0, start: k.regionStart, length: 0 };
      publish(e.refuse(`key:${key}`, { host: k.host, bootId: e.bootId, pid: k.pid, startNs: k.startNs }, `malformed hint: ${reason}`, { region }));
      return;
    }
    const agree = checkKeyMatches(k, hint);
    if (!agree.ok) {
      const extra: Partial<HintAction> = { action: hint.action, pageSizeKb: hint.pageSizeKb, cgroup: hint.cgroup, ...(hint.region ? { region: hint.region } : {}) };
      publish(e.refuse(hint.hintId, hint.process, `malformed hint: ${agree.reason}`, extra));
      return;
    }
    const prev = live.get(key);
    if (prev && prev.hintId !== hint.hintId) e.withdraw(prev, keepFor(key));
    live.set(key, hint);
    const action = e.enforce(hint, replayed);
    if (action) publish(action);
    else stats.alreadyApplied++;
  };

  const reconcile = async (): Promise<void> => {
    if (stats.caughtUp) return;
    stats.caughtUp = true;
    if (catchUpTimer) clearTimeout(catchUpTimer);
    const records = [...pending];
    pending.clear();
    log(`caught up with ${TOPIC.hints}: ${records.length} live keys of ${config.host}`);
    for (const [key, value] of records) await handleRecord(key, value, true);
    // Only live hints can be read again: the applied log forgets the others.
    appliedLog?.retain(new Set([...live.values()].map((h) => h.hintId)));
    resolveCaughtUp();
  };

  const sweep = async (): Promise<void> => {
    if (!enforcer || !stats.caughtUp) return;
    await flush().catch((err: unknown) => log(`${outbox.length} action records not sent yet: ${errorMessage(err)}`));
    const now = enforcer.nowNs();
    for (const [key, h] of live) {
      if (!enforcer.expired(h, now)) continue;
      live.delete(key);
      enforcer.withdraw(h, keepFor(key));
      stats.expired++;
    }
    stats.swept += enforcer.sweepGone();
  };

  return {
    config,
    async start() {
      if (running) return;
      running = true;
      hintMap = deps.hintMap;
      if (!hintMap) {
        hintMap = openHintMap(config.hintMapPinPath);
        ownMap = true;
      }
      if (config.appliedLogPath !== '') {
        try {
          appliedLog = openAppliedLog(config.appliedLogPath);
        } catch (err) {
          running = false;
          throw new PageloopError('feedback-applied-log', `appliedLogPath ${config.appliedLogPath}: ${errorMessage(err)}`, { retriable: false, cause: err });
        }
        if (appliedLog.skippedLines > 0) log(`${config.appliedLogPath}: ${appliedLog.skippedLines} unreadable lines skipped`);
      }
      enforcer = createEnforcer(config, {
        hintMap,
        ...(appliedLog ? { applied: appliedLog } : {}),
        ...(deps.kernel ? { kernel: deps.kernel } : {}),
        ...(deps.bootId ? { bootId: deps.bootId } : {}),
      });
      producer = deps.kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();

      // Where "caught up" is: each partition's end when we started.
      const admin = deps.kafka.admin();
      await admin.connect();
      const ends = new Map<number, number>();
      try {
        for (const o of await endOffsets(admin, TOPIC.hints, config.catchUpTimeoutMs)) {
          if (Number(o.high) > Number(o.low)) ends.set(o.partition, Number(o.high) - 1);
        }
      } finally {
        await admin.disconnect();
      }
      const check = () => {
        if (running && !stats.caughtUp && ends.size === 0) void serial(reconcile);
      };

      const redelivery = createRedeliveryFilter();
      consumer = createStoppableConsumer(deps.kafka, { groupId, readUncommitted: false, allowAutoTopicCreation: false });
      consumer.on(consumer.events.END_BATCH_PROCESS, (ev) => {
        const { topic, partition, lastOffset } = ev.payload;
        const last = ends.get(partition);
        if (topic === TOPIC.hints && last !== undefined && Number(lastOffset) >= last) {
          ends.delete(partition);
          check();
        }
      });
      consumer.on(consumer.events.CRASH, (ev) => log(`consumer crashed: ${errorMessage(ev.payload.error)} (restart: ${ev.payload.restart})`));
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC.hints, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: 1,
        eachMessage: async ({ message, partition }) => {
          // A consumer kafkajs brought back after the stop (kafka/consumer-stop.ts) acts on nothing: the map is closed.
          if (!running) return;
          // Handed over again after a consumer restart or a rebalance (nothing is committed): acted on already.
          if (!redelivery.fresh(partition, message.offset)) {
            stats.redelivered++;
            return;
          }
          const key = message.key ? message.key.toString('utf8') : '';
          if (!stats.caughtUp) {
            // Latest record per key of this host: the live set, acted on once caught up.
            const parsed = parseHintKey(key);
            if ((parsed.ok ? parsed.key.host : parsed.host) !== config.host) {
              stats.otherHosts++;
              return;
            }
            pending.delete(key);
            pending.set(key, message.value);
            return;
          }
          await serial(() => handleRecord(key, message.value));
        },
      });
      check();
      catchUpTimer = setTimeout(() => {
        if (stats.caughtUp) return;
        log(`not caught up with ${TOPIC.hints} after ${config.catchUpTimeoutMs} ms (partitions ${[...ends.keys()].join(',')}): acting on what was read`);
        void serial(reconcile);
      }, config.catchUpTimeoutMs);
      catchUpTimer.unref();
      sweepTimer = setInterval(() => void serial(sweep), config.sweepIntervalMs);
      sweepTimer.unref();
    },
    caughtUp: () => caughtUpPromise,
    stats: () => ({ ...stats, outcomes: { ...stats.outcomes }, live: live.size }),
    async stop() {
      if (!running) return;
      running = false;
      if (sweepTimer) clearInterval(sweepTimer);
      if (catchUpTimer) clearTimeout(catchUpTimer);
      const c = consumer;
      if (c) await slowStep(log, 'leaving the hints group', () => stopForGood(c, { log }).catch((err: unknown) => log(`consumer disconnect: ${errorMessage(err)}`)));
      await slowStep(log, 'finishing the hint in hand', () => chain);
      await slowStep(log, `sending ${outbox.length} action records`, () => flush().catch((err: unknown) => log(`${outbox.length} action records could not be sent: ${errorMessage(err)}`)));
      await slowStep(log, 'closing the producer', () => producer?.disconnect().catch((err: unknown) => log(`producer disconnect: ${errorMessage(err)}`)));
      if (ownMap) hintMap?.close();
      appliedLog?.close();
      appliedLog = undefined;
      hintMap = undefined;
      consumer = undefined;
      producer = undefined;
    },
  };
}
