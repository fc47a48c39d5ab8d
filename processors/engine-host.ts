/**
 * Where the runner's partition engines live: in worker threads
 * (runner.engineWorkers, --engine-workers N; two by default) or in the
 * runner's own thread (0). Either way the runner sees the same asynchronous
 * operations per input partition: open (fresh or from a checkpoint), apply
 * a chunk of input records, checkpoint, close.
 *
 * Why workers: one instance spends its main thread on kafkajs (decoding
 * fetches, encoding every output record into produce requests) about as
 * long as on the engines. With the engines in workers, partitions' chunks
 * are computed while the main thread produces and commits other partitions'
 * transactions, on other cores; with several workers, one instance's
 * engines use several cores. What is computed is unchanged: each
 * partition's engine lives in one worker, sees the same records in the
 * same order and is called one operation at a time, so its outputs are the
 * same bytes.
 *
 * Records and outputs cross the thread boundary packed: keys and values in
 * one transferred buffer each way, strings in small deduplicated tables, so
 * no per-record object is cloned.
 */
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../lib/errors.js';
import { PartitionEngine, type EngineContext, type InputRecord, type OutRecord, type OutputRole } from './engine.js';
import { stateSize } from './state.js';

/** What the runner shows per partition (summed over the partition's hosts). */
export interface EngineStats {
  hosts: number;
  processes: number;
  regions: number;
  duplicates: number;
  gaps: number;
  lateEvents: number;
  events: number;
}

/** An input record as kafkajs hands it over. */
export interface KafkaMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
}

/** kafkajs messages as the engine takes them (no copy: the engine only reads them). */
export function inputRecords(messages: readonly KafkaMessage[]): InputRecord[] {
  return messages.map((m) => ({ offset: Number(m.offset), key: m.key, value: m.value, timestamp: m.timestamp }));
}

/** Input records of one chunk, packed to cross to the worker: record i's key and value are lens[2i], lens[2i+1] bytes (-1: null) of `bytes`, in order. */
export interface PackedRecords {
  offsets: Float64Array;
  timestamps: string[];
  lens: Int32Array;
  bytes: Uint8Array;
}

/** Outputs, packed: output i is roles[i], keys[keyAt[i]], a value of valueLens[i] bytes of `bytes` (-1: a tombstone), timestamps[tsAt[i]]. */
export interface PackedOutputs {
  roles: Uint8Array;
  keys: string[];
  keyAt: Uint32Array;
  timestamps: string[];
  tsAt: Uint32Array;
  valueLens: Int32Array;
  bytes: Uint8Array;
}

export interface ChunkResult {
  outs: OutRecord[];
  /** Offset of the last record applied; -1 when none was (all below the engine's next offset). */
  last: number;
  applied: number;
  nextOffset: number;
  stats: EngineStats;
}

export interface OpenResult {
  nextOffset: number;
  stats: EngineStats;
}

export interface EngineHost {
  /**
   * (Re)creates partition p's engine: from the checkpoint when it is usable
   * and not past the committed offset, else fresh (and says why in the log).
   */
  open(p: number, checkpoint: Uint8Array | null, committed: number): Promise<OpenResult>;
  /** Applies the records at or past the engine's next offset; outputs of records below suppressUntil are dropped (committed already). */
  apply(p: number, messages: readonly KafkaMessage[], suppressUntil: number): Promise<ChunkResult>;
  checkpoint(p: number): Promise<Buffer>;
  /** Forgets partition p's engine. */
  close(p: number): void;
  stop(): Promise<void>;
}

const ROLES: readonly OutputRole[] = ['scores', 'phases', 'hints', 'tuner', 'dlq'];
const ROLE_INDEX: Readonly<Record<OutputRole, number>> = { scores: 0, phases: 1, hints: 2, tuner: 3, dlq: 4 };

/** kafkajs messages -> PackedRecords. */
export function packRecords(messages: readonly KafkaMessage[]): PackedRecords {
  const n = messages.length;
  const offsets = new Float64Array(n);
  const lens = new Int32Array(2 * n);
  const timestamps: string[] = new Array<string>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    offsets[i] = Number(m.offset);
    timestamps[i] = m.timestamp;
    lens[2 * i] = m.key === null ? -1 : m.key.length;
    lens[2 * i + 1] = m.value === null ? -1 : m.value.length;
    total += (m.key?.length ?? 0) + (m.value?.length ?? 0);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const m of messages) {
    if (m.key) {
      bytes.set(m.key, at);
      at += m.key.length;
    }
    if (m.value) {
      bytes.set(m.value, at);
      at += m.value.length;
    }
  }
  return { offsets, timestamps, lens, bytes };
}

function packOutputs(outs: readonly OutRecord[]): PackedOutputs {
  const n = outs.length;
  const roles = new Uint8Array(n);
  const keyAt = new Uint32Array(n);
  const tsAt = new Uint32Array(n);
  const valueLens = new Int32Array(n);
  const keys: string[] = [];
  const keyIndex = new Map<string, number>();
  const timestamps: string[] = [];
  const tsIndex = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = outs[i]!;
    roles[i] = ROLE_INDEX[o.role];
    let k = keyIndex.get(o.key);
    if (k === undefined) {
      k = keys.push(o.key) - 1;
      keyIndex.set(o.key, k);
    }
    keyAt[i] = k;
    let t = tsIndex.get(o.timestampMs);
    if (t === undefined) {
      t = timestamps.push(o.timestampMs) - 1;
      tsIndex.set(o.timestampMs, t);
    }
    tsAt[i] = t;
    valueLens[i] = o.value === null ? -1 : o.value.byteLength;
    total += o.value?.byteLength ?? 0;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const o of outs) {
    if (o.value) {
      bytes.set(o.value, at);
      at += o.value.byteLength;
    }
  }
  return { roles, keys, keyAt, timestamps, tsAt, valueLens, bytes };
}

function unpackRecords(r: PackedRecords): InputRecord[] {
  const buf = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  let at = 0;
  const take = (len: number): Buffer | null => {
    if (len < 0) return null;
    const b = buf.subarray(at, at + len);
    at += len;
    return b;
  };
  const out: InputRecord[] = new Array<InputRecord>(r.offsets.length);
  for (let i = 0; i < r.offsets.length; i++) {
    const key = take(r.lens[2 * i]!);
    const value = take(r.lens[2 * i + 1]!);
    out[i] = { offset: r.offsets[i]!, key, value, timestamp: r.timestamps[i]! };
  }
  return out;
}

function unpackOutputs(p: PackedOutputs): OutRecord[] {
  const n = p.roles.length;
  const outs: OutRecord[] = new Array<OutRecord>(n);
  const buf = Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const len = p.valueLens[i]!;
    const value = len < 0 ? null : buf.subarray(at, at + len);
    if (len > 0) at += len;
    outs[i] = { role: ROLES[p.roles[i]!]!, key: p.keys[p.keyAt[i]!]!, value, timestampMs: p.timestamps[p.tsAt[i]!]! };
  }
  return outs;
}

export function engineStats(engine: PartitionEngine): EngineStats {
  const s = stateSize(engine.state);
  const out: EngineStats = { hosts: s.hosts, processes: s.processes, regions: s.regions, duplicates: 0, gaps: 0, lateEvents: 0, events: 0 };
  for (const h of engine.state.hosts.values()) {
    out.duplicates += h.counters.duplicates;
    out.gaps += h.counters.gaps;
    out.lateEvents += h.counters.lateEvents;
    out.events += h.counters.events;
  }
  return out;
}

/** The engines themselves, wherever they run. */
class Engines {
  private readonly byPartition = new Map<number, PartitionEngine>();
  constructor(private readonly ctx: EngineContext) {}

  open(p: number, checkpoint: Uint8Array | null, committed: number): OpenResult {
    let engine: PartitionEngine | undefined;
    if (checkpoint) {
      try {
        const restored = PartitionEngine.restore(this.ctx, p, checkpoint);
        if (committed >= 0 && restored.nextOffset <= committed) engine = restored;
        else this.ctx.log?.(`partition ${p}: checkpoint at ${restored.nextOffset} is past the committed offset ${committed}; starting fresh`);
      } catch (err) {
        this.ctx.log?.(`partition ${p}: checkpoint unusable (${errorMessage(err)}); starting fresh`);
      }
    }
    engine ??= new PartitionEngine(this.ctx, p);
    this.byPartition.set(p, engine);
    return { nextOffset: engine.nextOffset, stats: engineStats(engine) };
  }

  private engine(p: number): PartitionEngine {
    const e = this.byPartition.get(p);
    if (!e) throw new Error(`partition ${p} has no engine open`);
    return e;
  }

  /** Applies a chunk of records; outputs in `outs`. */
  apply(p: number, records: readonly InputRecord[], suppressUntil: number, outs: OutRecord[]): Omit<ChunkResult, 'outs'> {
    const engine = this.engine(p);
    let last = -1;
    let applied = 0;
    for (const rec of records) {
      if (rec.offset < engine.nextOffset) continue;
      const mark = outs.length;
      engine.process(rec, outs);
      if (rec.offset < suppressUntil) outs.length = mark;
      last = rec.offset;
      applied++;
    }
    return { last, applied, nextOffset: engine.nextOffset, stats: engineStats(engine) };
  }

  checkpoint(p: number): Buffer {
    return this.engine(p).checkpoint();
  }

  close(p: number): void {
    this.byPartition.delete(p);
  }
}

/** The engines in the runner's own thread (no worker). */
export function localEngineHost(ctx: EngineContext): EngineHost {
  const engines = new Engines(ctx);
  return {
    open: async (p, checkpoint, committed) => engines.open(p, checkpoint, committed),
    apply: async (p, messages, suppressUntil) => {
      const outs: OutRecord[] = [];
      return { outs, ...engines.apply(p, inputRecords(messages), suppressUntil, outs) };
    },
    checkpoint: async (p) => engines.checkpoint(p),
    close: (p) => engines.close(p),
    stop: async () => undefined,
  };
}

// ---------------------------------------------------------------------------
// The worker protocol
// ---------------------------------------------------------------------------

/** Main -> worker. */
export type HostRequest =
  | { id: number; op: 'open'; p: number; checkpoint: Uint8Array | null; committed: number }
  | { id: number; op: 'apply'; p: number; records: PackedRecords; suppressUntil: number }
  | { id: number; op: 'checkpoint'; p: number }
  | { id: number; op: 'close'; p: number };

/** A request before it is numbered (Omit over each member of the union). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Worker -> main. */
export type HostReply =
  | { id: number; ok: true; open: OpenResult }
  | { id: number; ok: true; apply: Omit<ChunkResult, 'outs'> & { outs: PackedOutputs } }
  | { id: number; ok: true; checkpoint: Uint8Array }
  | { id: number; ok: false; error: string }
  | { log: string };

export interface WorkerSetup {
  config: EngineContext['config'];
  inputTopic: string;
}

/** The worker side: answers requests in order (one engine operation at a time). */
export function serveEngines(setup: WorkerSetup, post: (reply: HostReply, transfer: ArrayBuffer[]) => void): (req: HostRequest) => void {
  const engines = new Engines({ config: setup.config, inputTopic: setup.inputTopic, log: (line) => post({ log: line }, []) });
  return (req) => {
    try {
      switch (req.op) {
        case 'open':
          post({ id: req.id, ok: true, open: engines.open(req.p, req.checkpoint, req.committed) }, []);
          return;
        case 'apply': {
          const outs: OutRecord[] = [];
          const res = engines.apply(req.p, unpackRecords(req.records), req.suppressUntil, outs);
          const packed = packOutputs(outs);
          post({ id: req.id, ok: true, apply: { ...res, outs: packed } }, [packed.bytes.buffer as ArrayBuffer]);
          return;
        }
        case 'checkpoint': {
          const b = engines.checkpoint(req.p);
          // A copy of its own: the serialized bytes may share a pooled buffer.
          const own = new Uint8Array(b);
          post({ id: req.id, ok: true, checkpoint: own }, [own.buffer]);
          return;
        }
        case 'close':
          engines.close(req.p);
          post({ id: req.id, ok: true, open: { nextOffset: -1, stats: { hosts: 0, processes: 0, regions: 0, duplicates: 0, gaps: 0, lateEvents: 0, events: 0 } } }, []);
          return;
      }
    } catch (err) {
      post({ id: req.id, ok: false, error: errorMessage(err) }, []);
    }
  };
}

/**
 * The engines in a worker thread. `onFailure` is told when the worker dies
 * (every pending and later operation then rejects): the processor should stop.
 */
export function workerEngineHost(ctx: EngineContext, onFailure: (err: Error) => void): EngineHost {
  const setup: WorkerSetup = { config: ctx.config, inputTopic: ctx.inputTopic };
  const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { workerData: setup });
  const pending = new Map<number, { resolve: (r: HostReply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let dead: Error | undefined;
  let stopping = false;
  const die = (err: Error): void => {
    if (dead) return;
    dead = err;
    for (const w of pending.values()) w.reject(err);
    pending.clear();
    if (!stopping) onFailure(err);
  };
  worker.on('message', (reply: HostReply) => {
    if ('log' in reply) {
      ctx.log?.(reply.log);
      return;
    }
    const w = pending.get(reply.id);
    pending.delete(reply.id);
    if (!w) return;
    if (reply.ok) w.resolve(reply);
    else w.reject(new Error(reply.error));
  });
  worker.on('error', (err) => die(new Error(`engine worker failed: ${errorMessage(err)}`)));
  worker.on('exit', (code) => die(new Error(`engine worker exited (code ${code})`)));

  const call = (req: WithoutId<HostRequest>, transfer: ArrayBuffer[] = []): Promise<HostReply> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise<HostReply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id }, transfer);
    });
  };

  return {
    async open(p, checkpoint, committed) {
      const r = await call({ op: 'open', p, checkpoint, committed });
      if (!('open' in r)) throw new Error('engine worker: unexpected reply to open');
      return r.open;
    },
    async apply(p, messages, suppressUntil) {
      // Packed: one transferred buffer instead of a structured clone per record.
      const records = packRecords(messages);
      const r = await call({ op: 'apply', p, records, suppressUntil }, [records.bytes.buffer as ArrayBuffer]);
      if (!('apply' in r)) throw new Error('engine worker: unexpected reply to apply');
      return { ...r.apply, outs: unpackOutputs(r.apply.outs) };
    },
    async checkpoint(p) {
      const r = await call({ op: 'checkpoint', p });
      if (!('checkpoint' in r)) throw new Error('engine worker: unexpected reply to checkpoint');
      return Buffer.from(r.checkpoint.buffer, r.checkpoint.byteOffset, r.checkpoint.byteLength);
    },
    close(p) {
      call({ op: 'close', p }).catch(() => undefined);
    },
    async stop() {
      stopping = true;
      await worker.terminate();
    },
  };
}

/**
 * The worker (of `loads`, open partitions per worker) a newly opened
 * partition goes to: the least loaded, the first of those on a tie. Not
 * `p mod N`: after a rebalance an instance may own only even partitions.
 */
export function leastLoaded(loads: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < loads.length; i++) if (loads[i]! < loads[best]!) best = i;
  return best;
}

/**
 * The engines in `workers` worker threads. A partition's engine stays in
 * the worker it was opened in until it is closed (its state is there); an
 * opened partition goes to the worker with the fewest. `onFailure` as for
 * workerEngineHost: any worker's death stops the processor.
 */
export function workerPoolEngineHost(ctx: EngineContext, workers: number, onFailure: (err: Error) => void): EngineHost & { workerOf(p: number): number | undefined } {
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`engine workers: want a positive integer, got ${workers}`);
  const pool = Array.from({ length: workers }, () => workerEngineHost(ctx, onFailure));
  const loads = new Array<number>(workers).fill(0);
  const home = new Map<number, number>();
  const of = (p: number): EngineHost => {
    const w = home.get(p);
    // An operation on a partition never opened fails in a worker, as it would with one.
    return pool[w ?? 0]!;
  };
  return {
    workerOf: (p) => home.get(p),
    async open(p, checkpoint, committed) {
      let w = home.get(p);
      if (w === undefined) {
        w = leastLoaded(loads);
        home.set(p, w);
        loads[w]!++;
      }
      return pool[w]!.open(p, checkpoint, committed);
    },
    apply: (p, messages, suppressUntil) => of(p).apply(p, messages, suppressUntil),
    checkpoint: (p) => of(p).checkpoint(p),
    close(p) {
      const w = home.get(p);
      if (w === undefined) return;
      home.delete(p);
      loads[w]!--;
      pool[w]!.close(p);
    },
    async stop() {
      await Promise.all(pool.map((h) => h.stop()));
    },
  };
}
