/**
 * The host collector: drains the probes' ring buffer, batches by size and
 * time, encodes, and produces to pageloop.events.v1. A bounded queue sits
 * between the kernel and Kafka: when Kafka is slow or down the collector
 * keeps draining the kernel, holds at most queue.maxBytes, counts exactly
 * what it drops past that bound, and catches up when the broker returns.
 *
 * Invariant, per family: drained = produced + dropped + queued. After a clean
 * stop the queue is empty, so drained = produced + dropped.
 */
import type { FamilyName, FaultSummary, ProbeEvent } from '../bpf/events.js';
import { FAMILIES, RingRecordError, checkFrames } from '../bpf/events.js';
import type { LossReport, Probes } from '../bpf/probes.js';
import { PageloopError, UsageError, errorMessage } from '../lib/errors.js';
import { BoundedQueue, addCounts, chunkOfEvents, chunkOfFrames, countFrames, zeroCounts, type Chunk, type FamilyCounts } from './queue.js';
import type { DamonRegion, PsiSample, ReferencedSampler, Samplers, VmstatSample } from './samplers.js';
import type { OverheadMeter, OverheadSample, ProgramCostSample } from './overhead.js';

export interface CollectorConfig {
  host: string;
  bootId: string;
  /** Names this collector run; with the sequence number it makes gaps and duplicates visible. */
  instance: string;
  topic: string;
  batch: { maxEvents: number; maxBytes: number; maxDelayMs: number };
  queue: { maxBytes: number };
  /** Backoff between produce attempts while Kafka fails. */
  retry: { initialMs: number; maxMs: number };
  /** How long stop() keeps producing what it holds before giving up on it. */
  flushTimeoutMs: number;
}

export const DEFAULT_COLLECTOR_CONFIG: Readonly<Omit<CollectorConfig, 'host' | 'bootId' | 'instance'>> = Object.freeze({
  topic: 'pageloop.events.v1',
  batch: { maxEvents: 65536, maxBytes: 4 * 1024 * 1024, maxDelayMs: 200 },
  queue: { maxBytes: 256 * 1024 * 1024 },
  retry: { initialMs: 100, maxMs: 2000 },
  flushTimeoutMs: 30_000,
});

export function validateCollectorConfig(c: CollectorConfig): void {
  const int = (key: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`collector.${key}: wants an integer from ${min} to ${max}, got ${v}`);
  };
  if (!c.host) throw new UsageError('collector.host: must not be empty');
  if (!c.topic) throw new UsageError('collector.topic: must not be empty');
  int('batch.maxEvents', c.batch.maxEvents, 1);
  int('batch.maxBytes', c.batch.maxBytes, 1024);
  int('batch.maxDelayMs', c.batch.maxDelayMs, 1, 60_000);
  int('queue.maxBytes', c.queue.maxBytes, 64 * 1024);
  int('retry.initialMs', c.retry.initialMs, 1);
  int('retry.maxMs', c.retry.maxMs, c.retry.initialMs);
  int('flushTimeoutMs', c.flushTimeoutMs, 0);
}

/** One batch on its way to the wire. */
export interface CollectorBatch {
  host: string;
  bootId: string;
  instance: string;
  sequence: number;
  /** Drained ring-buffer batches, framed as the addon hands them over. */
  frames: Buffer[];
  /** Records built in user space (fault summaries), after the frames. */
  events: ProbeEvent[];
  vmstat: VmstatSample[];
  psi: PsiSample[];
  damon: DamonRegion[];
  /** Overhead intervals closed since the last batch, and their programs' rows. */
  overhead: OverheadSample[];
  programCosts: ProgramCostSample[];
  /** Cumulative ring-buffer loss per family, per CPU. */
  loss: Record<FamilyName, number[]>;
  /** Cumulative queue drops per family. */
  dropped: FamilyCounts;
}

export type EncodeBatch = (batch: CollectorBatch) => Uint8Array;

/** The Kafka side, injected (a kafkajs producer in production and in the real tests). */
export interface EventsProducer {
  send(topic: string, key: string, value: Buffer, timestampMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface CollectorStats {
  drained: FamilyCounts;
  produced: FamilyCounts;
  dropped: FamilyCounts;
  queuedBytes: number;
  queuedEvents: number;
  batchesProduced: number;
  produceErrors: number;
  lastProduceError: string | undefined;
  sequence: number;
  loss: LossReport;
  /** Chunks refused (a ring-buffer batch that does not frame, records the encoder cannot write): in `dropped`, never retried. */
  rejectedChunks: number;
  lastRejectReason: string | undefined;
}

export interface CollectorDeps {
  probes: Pick<Probes, 'start' | 'stop' | 'loss'>;
  samplers?: Samplers;
  /** Per-mapping access sampling of the target processes (clear_refs + smaps Referenced). */
  referenced?: ReferencedSampler;
  /** What the probes and this process cost the host, per interval (collectors/overhead.ts). */
  overhead?: Pick<OverheadMeter, 'start' | 'stop'>;
  producer: EventsProducer;
  encode: EncodeBatch;
  /** Called after each produced batch with its latency, for metrics. */
  onProduced?: (info: { events: number; bytes: number; latencyMs: number }) => void;
  /** Called when a produce attempt fails (the batch stays queued). */
  onProduceError?: (err: unknown) => void;
  /** Called once per refused chunk, with why and what it held (counted as dropped). */
  onRejected?: (reason: string, counts: Readonly<FamilyCounts>) => void;
}

export interface Collector {
  start(): void;
  /** Target processes with their start time as the events name them (for samplers). */
  knownProcesses(pids: readonly number[]): ReadonlyMap<number, number>;
  stats(): CollectorStats;
  /** Stops draining, produces what it holds (up to flushTimeoutMs), detaches. */
  stop(): Promise<CollectorStats>;
}

export function createCollector(config: CollectorConfig, deps: CollectorDeps): Collector {
  validateCollectorConfig(config);
  const queue = new BoundedQueue(config.queue.maxBytes);
  const drained = zeroCounts();
  const produced = zeroCounts();
  let vmstat: VmstatSample[] = [];
  let psi: PsiSample[] = [];
  let damon: DamonRegion[] = [];
  let overhead: OverheadSample[] = [];
  let programCosts: ProgramCostSample[] = [];
  /** Start time of each process seen in fault summaries: sampler rows must name processes as events do. */
  const startNsOfPid = new Map<number, number>();
  /** Batches Kafka has acknowledged (the next sequence number to be acknowledged). */
  let sequence = 0;
  /** The sequence number the next encoded batch gets. */
  let nextSequence = 0;
  let batchesProduced = 0;
  let produceErrors = 0;
  let lastProduceError: string | undefined;
  let sending: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoffMs = 0;
  let nextAttemptAt = 0;
  let stopping = false;
  let started = false;
  let rejectedChunks = 0;
  let lastRejectReason: string | undefined;

  function enqueue(chunk: Chunk): void {
    addCounts(drained, chunk.counts);
    queue.push(chunk);
    if (queue.waitingEvents >= config.batch.maxEvents) kick();
  }

  /** Counts a refused chunk as dropped, once: it leaves the queue for good. */
  function reject(counts: Readonly<FamilyCounts>, reason: string): void {
    queue.reject(counts);
    rejectedChunks++;
    lastRejectReason = reason;
    deps.onRejected?.(reason, counts);
  }

  /**
   * A drained batch is checked at the door: one that does not frame would
   * make every batch it is taken into fail to encode. Refused, its records
   * count as drained and dropped (as far as they can be walked).
   */
  function enqueueFrames(frames: Buffer): void {
    try {
      checkFrames(frames);
    } catch (err) {
      if (!(err instanceof RingRecordError)) throw err;
      const { counts } = countFrames(frames);
      addCounts(drained, counts);
      reject(counts, err.message);
      return;
    }
    enqueue(chunkOfFrames(frames));
  }

  function kick(): void {
    if (!sending && Date.now() >= nextAttemptAt) sending = produceOnce().finally(() => (sending = undefined));
  }

  /** A batch that failed to send: retried byte for byte, so a duplicate is exact. */
  let pending: { value: Buffer; chunks: Chunk[]; events: number } | undefined;
  /** The next batch, encoded while the one before was in flight; sent after it. */
  let prepared: { value: Buffer; chunks: Chunk[]; events: number } | undefined;

  /** The loss and drop totals of the newest batch encoded: the wire's latest word on them. */
  let encodedTotals = '';

  function totalsKey(loss: Record<FamilyName, number[]>, dropped: FamilyCounts): string {
    return JSON.stringify([loss, dropped]);
  }

  type SamplerRows = Pick<CollectorBatch, 'vmstat' | 'psi' | 'damon' | 'overhead' | 'programCosts'>;
  const NO_SAMPLES: SamplerRows = { vmstat: [], psi: [], damon: [], overhead: [], programCosts: [] };

  /** Encodes chunks as batch `sequence`, the totals read now (so they include any rejection just made). */
  function encodeChunks(sequence: number, chunks: readonly Chunk[], samples: SamplerRows): Uint8Array {
    const frames: Buffer[] = [];
    const events: ProbeEvent[] = [];
    for (const c of chunks) {
      if (c.frames) frames.push(c.frames);
      for (const e of c.events) events.push(e);
    }
    const batch: CollectorBatch = {
      host: config.host,
      bootId: config.bootId,
      instance: config.instance,
      sequence,
      frames,
      events,
      ...samples,
      loss: deps.probes.loss().perFamily,
      dropped: queue.stats().dropped,
    };
    const value = deps.encode(batch);
    encodedTotals = totalsKey(batch.loss, batch.dropped);
    return value;
  }

  /** A taken chunk the encoder refuses: its memory freed, its records counted as dropped. */
  function rejectTaken(c: Chunk, reason: string): void {
    queue.ack([c]);
    reject(c.counts, reason);
  }

  /** The refusal of an encode attempt (a PageloopError: the batch's content), or undefined if it encodes. */
  function refusal(sequence: number, chunks: readonly Chunk[], samples: SamplerRows): string | undefined {
    try {
      encodeChunks(sequence, chunks, samples);
      return undefined;
    } catch (err) {
      if (err instanceof PageloopError) return errorMessage(err);
      throw err;
    }
  }

  /** `report`: encode a batch even with nothing in it, to carry the final loss and drop totals. */
  function nextBatch(report = false): { value: Buffer; chunks: Chunk[]; events: number } | undefined {
    let chunks = queue.take(config.batch.maxEvents, config.batch.maxBytes);
    if (!report && chunks.length === 0 && !samplesWaiting()) return undefined;
    const sequence = nextSequence++;
    const samples: SamplerRows = { vmstat, psi, damon, overhead, programCosts };
    vmstat = [];
    psi = [];
    damon = [];
    overhead = [];
    programCosts = [];
    let value: Uint8Array;
    try {
      value = encodeChunks(sequence, chunks, samples);
    } catch (err) {
      if (!(err instanceof PageloopError)) throw err;
      // One refused chunk must neither take the good ones with it nor come
      // back (left taken, it was never produced, acked or dropped): find it
      // by encoding each chunk alone, drop it counted, send the rest under
      // the same sequence number.
      const good = chunks.filter((c) => {
        const why = refusal(sequence, [c], NO_SAMPLES);
        if (why !== undefined) rejectTaken(c, why);
        return why === undefined;
      });
      chunks = good;
      try {
        value = encodeChunks(sequence, chunks, samples);
      } catch (again) {
        if (!(again instanceof PageloopError)) throw again;
        const why = refusal(sequence, chunks, NO_SAMPLES);
        if (why === undefined) {
          // The sampler rows are what it refuses: they go (no family counts them), the records stay.
          rejectedChunks++;
          lastRejectReason = `sampler rows: ${errorMessage(again)}`;
          deps.onRejected?.(lastRejectReason, zeroCounts());
          value = encodeChunks(sequence, chunks, NO_SAMPLES);
        } else {
          // Each encodes alone, not together: all dropped, counted; the batch still carries the totals.
          for (const c of chunks) rejectTaken(c, why);
          chunks = [];
          value = encodeChunks(sequence, [], NO_SAMPLES);
        }
      }
    }
    let records = 0;
    for (const c of chunks) records += c.records;
    return { value: Buffer.from(value), chunks, events: records };
  }

  async function produceOnce(report = false): Promise<void> {
    const batch = pending ?? prepared ?? nextBatch(report);
    if (batch === prepared) prepared = undefined;
    if (!batch) return;
    const t0 = performance.now();
    const sent = deps.producer.send(config.topic, config.host, batch.value, Date.now());
    sent.catch(() => undefined); // handled below; this keeps an encode error from leaving it unhandled
    // The idempotent producer has one request in flight; encode the next full
    // batch meanwhile, so the CPU and the broker work at the same time.
    if (!prepared && queue.waitingEvents >= config.batch.maxEvents) prepared = nextBatch();
    try {
      await sent;
    } catch (err) {
      // Keep it (its memory still counts against the bound) and send the same
      // bytes again, same sequence number: if Kafka took it after all, the
      // copy downstream is an exact, detectable duplicate.
      pending = batch;
      produceErrors++;
      lastProduceError = errorMessage(err);
      backoffMs = Math.min(config.retry.maxMs, backoffMs ? backoffMs * 2 : config.retry.initialMs);
      nextAttemptAt = Date.now() + backoffMs;
      deps.onProduceError?.(err);
      return;
    }
    pending = undefined;
    queue.ack(batch.chunks);
    for (const c of batch.chunks) addCounts(produced, c.counts);
    sequence++;
    batchesProduced++;
    backoffMs = 0;
    nextAttemptAt = 0;
    deps.onProduced?.({ events: batch.events, bytes: batch.value.length, latencyMs: performance.now() - t0 });
    // A full batch is waiting: send it now rather than at the next tick.
    if (!stopping && (prepared || queue.waitingEvents >= config.batch.maxEvents)) setImmediate(kick);
  }

  function samplesWaiting(): boolean {
    return vmstat.length + psi.length + damon.length + overhead.length + programCosts.length > 0;
  }

  function stats(): CollectorStats {
    const q = queue.stats();
    return {
      drained: { ...drained },
      produced: { ...produced },
      dropped: { ...q.dropped },
      queuedBytes: q.bytes,
      queuedEvents: q.events,
      batchesProduced,
      produceErrors,
      lastProduceError,
      sequence,
      loss: deps.probes.loss(),
      rejectedChunks,
      lastRejectReason,
    };
  }

  return {
    start() {
      if (started) throw new UsageError('collector: start() called twice');
      started = true;
      deps.probes.start({
        onBatch: enqueueFrames,
        onSummaries: (summaries: FaultSummary[]) => {
          for (const s of summaries) startNsOfPid.set(s.pid, s.startNs);
          enqueue(chunkOfEvents(summaries.map((s) => ({ type: 'fault_summary' as const, ...s }))));
        },
      });
      encodedTotals = totalsKey(deps.probes.loss().perFamily, queue.stats().dropped);
      deps.samplers?.start({ onVmstat: (s) => vmstat.push(s), onPsi: (s) => psi.push(s) });
      deps.referenced?.start((rows) => damon.push(...rows));
      deps.overhead?.start((r) => {
        overhead.push(r.overhead);
        programCosts.push(...r.programs);
      });
      timer = setInterval(() => {
        if (!stopping) kick();
      }, config.batch.maxDelayMs);
    },
    stats,
    knownProcesses(pids) {
      const out = new Map<number, number>();
      for (const pid of pids) {
        const start = startNsOfPid.get(pid);
        if (start !== undefined) out.set(pid, start);
      }
      return out;
    },
    async stop() {
      if (stopping) return stats();
      stopping = true;
      if (timer) clearInterval(timer);
      deps.samplers?.stop();
      deps.samplers?.flush();
      deps.referenced?.stop();
      // The last overhead interval is read while the programs are still loaded.
      deps.overhead?.stop();
      // Detaching drains the ring and sweeps the fault table one last time.
      deps.probes.stop();
      const deadline = Date.now() + config.flushTimeoutMs;
      for (;;) {
        if (sending) await sending;
        const q = queue.stats();
        const empty = !pending && !prepared && q.chunks === 0 && !samplesWaiting();
        // Drops or loss since the newest batch encoded (a retried batch keeps
        // the totals it was encoded with): one more batch, maybe empty, says
        // the final totals, so downstream never reads a stale count.
        const stale = empty && totalsKey(deps.probes.loss().perFamily, q.dropped) !== encodedTotals;
        if ((empty && !stale) || Date.now() >= deadline) break;
        const wait = nextAttemptAt - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, deadline - Date.now())));
        sending = produceOnce(stale).finally(() => (sending = undefined));
      }
      // Out of time: what is left is dropped, and counted as such.
      if (prepared) queue.requeue(prepared.chunks);
      if (pending) queue.requeue(pending.chunks);
      pending = undefined;
      prepared = undefined;
      queue.discardAll();
      await deps.producer.close();
      return stats();
    },
  };
}

export function totalOf(counts: Readonly<FamilyCounts>): number {
  return FAMILIES.reduce((n, f) => n + counts[f], 0);
}
