/**
 * The deterministic core: one input partition's records in, output records
 * out. No Kafka, no wall clock, no randomness: the same records in the same
 * order always give the same output bytes in the same order, and a state
 * restored from a checkpoint continues exactly as the live one would.
 *
 * Windows: tumbling per host, `windowMs` of event time (the host's
 * CLOCK_BOOTTIME). Window k = [k*W, (k+1)*W) closes when the host's
 * watermark (max event time seen) reaches (k+1)*W + allowedLateness; an
 * event for a closed window is late (counted, dropped). Closing happens
 * after each record, in window order; inside a window, processes and
 * regions are visited in sorted order.
 *
 * Per closed window: the host cost model takes the window's compaction,
 * allocation and reclaim counts; each active region is scored
 * (pageloop.scores.v1); each process's phase detector runs
 * (pageloop.phases.v1); the planner turns scores and coldness into hints
 * (pageloop.hints.v1, keyed per region, tombstone to withdraw); the tuner
 * moves thresholds (pageloop.tuner.v1); idle regions and processes are
 * evicted.
 */
import type { ProbeEventType } from '../bpf/events.js';
import { errorMessage } from '../lib/errors.js';
import { WireDecodeError } from '../schemas/wire-errors.js';
import type { ProcessId, Region } from '../schemas/identity.js';
import { encodePhaseChange, encodeTunerChange, type AccessStats, type PhaseSummary } from '../schemas/derived.js';
import { encodeDeadLetter } from '../schemas/dead-letter.js';
import { samplesFromEventBatch } from '../schemas/event-batch-rows.js';
import { configFingerprint, scoredSizesKb, type ProcessorConfig } from './config.js';
import { decayHostCost, newHostCost, newOrderStats, orderOfSizeKb, refaultCostNs, scoreSizes, updateHostCost, type OrderStats } from './model.js';
import { hotSetHash, newPhaseState, phaseStep } from './phases.js';
import { desiredHint, hintId, hintKey, isColdAction, sameDesire, type Desired } from './planner.js';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  hasOpenAccs,
  newPartitionState,
  newestOpenWindow,
  newRegionState,
  regionAccOf,
  takeRegionAcc,
  type HostAcc,
  type HostState,
  type PartitionState,
  type ProcessState,
  type RegionAcc,
  type RegionState,
} from './state.js';
import { newTunerState, tunerStep } from './tuner.js';
import { encodeHintFast, encodeRegionScoreFast } from './score-encoder.js';
import { ColumnScratch, decodeEventBatchTyped, type TypedEventBatch } from '../schemas/typed-decode.js';

/** The processor's output topics, by role (the runner maps them to real names). */
export type OutputRole = 'scores' | 'phases' | 'hints' | 'tuner' | 'dlq';

export interface OutRecord {
  role: OutputRole;
  key: string;
  /** null: a tombstone (hints only). */
  value: Uint8Array | null;
  /** The Kafka timestamp of the input record that produced it (deterministic). */
  timestampMs: string;
}

export interface InputRecord {
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Kafka record timestamp, ms since the epoch, as kafkajs gives it. */
  timestamp: string;
}

export interface EngineContext {
  readonly config: ProcessorConfig;
  /** Where records come from, for dead letters. */
  readonly inputTopic: string;
  /** Called for things a person should know (gaps in a collector's sequence). Never affects output. */
  readonly log?: (line: string) => void;
}

/** Pages are counted in base pages; this is the base page in bytes. */
const KB = 1024;
const PAGE_FAULT_PROT = 1;
const PAGE_FAULT_WRITE = 2;
const PAGE_FAULT_INSTR = 16;
/** mm_collapse_huge_page status SCAN_SUCCEED. */
const COLLAPSE_SUCCEEDED = 1;
/** How often (records) idle hosts are looked for. */
const HOST_SWEEP_EVERY = 1024;
/** curOut between records: windows close only while a record is applied, so nothing is pushed here. */
const NO_OUTPUTS: OutRecord[] = [];

/** The order of blocks when a batch carries no EventOrder (EventType order). */
const BLOCK_ORDER: readonly Exclude<ProbeEventType, 'bench'>[] = [
  'fault',
  'promotion',
  'collapse',
  'compaction',
  'compaction_defer',
  'kcompactd_wake',
  'swap_out',
  'swap_in',
  'swap_entries',
  'reclaim',
  'fault_summary',
];

/** Each type's place in BLOCK_ORDER (a small index for per-type cursors). */
const TYPE_INDEX = Object.fromEntries(BLOCK_ORDER.map((t, i) => [t, i])) as Readonly<Record<Exclude<ProbeEventType, 'bench'>, number>>;

function newHostAcc(): HostAcc {
  return {
    orders: new Map(),
    reclaimNs: 0,
    reclaimedPages: 0,
    refaults: 0,
    psiMax: 0,
    compactions: 0,
    compactionDefers: 0,
    kcompactdWakes: 0,
    collapses: 0,
    collapseFailures: 0,
    swapEntries: 0,
    pagedDelta: 0,
  };
}

function newHostState(host: string, bootId: string, c: ProcessorConfig): HostState {
  return {
    host,
    bootId,
    watermarkNs: -1,
    nextClose: -1,
    lastOffset: -1,
    collectors: new Map(),
    acc: new Map(),
    cost: newHostCost(),
    tuner: newTunerState(c.planner.coldWindows, c.planner.minScore),
    pagedOutPages: 0,
    processes: new Map(),
    byPid: new Map(),
    counters: { batches: 0, events: 0, lateEvents: 0, duplicates: 0, gaps: 0, boots: 0 },
  };
}

/** Window index of an event time: floor(t / W), exact even where t / W rounds up. */
export function windowOf(t: number, windowNs: number): number {
  let w = Math.floor(t / windowNs);
  if (w * windowNs > t) w--;
  else if ((w + 1) * windowNs <= t) w++;
  return w;
}

function orderStats(m: Map<number, OrderStats>, order: number): OrderStats {
  let s = m.get(order);
  if (!s) {
    s = newOrderStats();
    m.set(order, s);
  }
  return s;
}

const byNumber = (a: number, b: number): number => a - b;

/** Process keys "pid/startNs" sorted numerically by pid, then start time. */
function compareProcessKeys(a: ProcessState, b: ProcessState): number {
  return a.pid - b.pid || a.startNs - b.startNs;
}

/**
 * One input partition's processor. `process` applies one record and appends
 * its outputs; `checkpoint`/`PartitionEngine.restore` carry the state.
 */
export class PartitionEngine {
  readonly state: PartitionState;
  private readonly c: ProcessorConfig;
  private readonly ctx: EngineContext;
  private readonly windowNs: number;
  private readonly latenessNs: number;
  private readonly fingerprint: string;
  private readonly sizesByRegionBytes = new Map<number, number[]>();
  private readonly basePageBytes: number;
  private readonly pmdOrder: number;
  /** The record being applied: outputs of windows it closes go to `out` with its timestamp. */
  private curTs = '0';
  private curOut: OutRecord[] = NO_OUTPUTS;
  // Lookup caches for runs of events on one process/region/window; cleared whenever a window closes.
  private cPid = -1;
  private cStart = -1;
  private cProc: ProcessState | undefined;
  private rProc: ProcessState | undefined;
  private rStart = -1;
  private rRegion: RegionState | undefined;
  private aRegion: RegionState | undefined;
  private aWindow = -1;
  private aAcc: RegionAcc | undefined;
  // The window of the last admitted event (valid until a window closes).
  private wHost: HostState | undefined;
  private wIdx = -1;
  private wLo = 0;
  private wHi = 0;
  /** Decoded columns live here (a batch is done with before the next is decoded). */
  private readonly columns = new ColumnScratch();
  /** Per host, the faults' fast path (see FaultRows); derived, so not in the checkpoint. */
  private readonly faultRows = new WeakMap<HostState, FaultRows>();
  /** Per process, its regions in key order (derived; dropped whenever a region comes or goes). */
  private readonly sortedRegions = new WeakMap<ProcessState, RegionState[]>();

  constructor(ctx: EngineContext, partition: number, state?: PartitionState) {
    this.ctx = ctx;
    this.c = ctx.config;
    this.state = state ?? newPartitionState(partition);
    this.windowNs = this.c.windowMs * 1e6;
    this.latenessNs = this.c.allowedLatenessMs * 1e6;
    this.fingerprint = configFingerprint(this.c);
    this.basePageBytes = this.c.scorer.basePageKb * KB;
    this.pmdOrder = orderOfSizeKb(2048, this.c.scorer.basePageKb);
  }

  static restore(ctx: EngineContext, partition: number, checkpoint: Uint8Array): PartitionEngine {
    const state = decodeCheckpoint(checkpoint, configFingerprint(ctx.config));
    return new PartitionEngine(ctx, partition, state);
  }

  checkpoint(): Buffer {
    // The accs must hold every sum before they are written out.
    for (const h of this.state.hosts.values()) this.faultRows.get(h)?.flush();
    return encodeCheckpoint(this.state, this.fingerprint);
  }

  get nextOffset(): number {
    return this.state.nextOffset;
  }

  /** Applies one input record; appends what it produces to `out`. */
  process(rec: InputRecord, out: OutRecord[]): void {
    const st = this.state;
    if (rec.offset < st.nextOffset) return;
    st.nextOffset = rec.offset + 1;
    st.records++;
    let batch: TypedEventBatch;
    try {
      if (rec.value === null) throw new Error('null value (a tombstone), not an EventBatch');
      batch = decodeEventBatchTyped(rec.value, this.columns);
      if (batch.host === '') throw new Error('EventBatch.host is empty: events cannot be attributed');
      if (batch.bootId === '') throw new Error('EventBatch.bootId is empty: event times cannot be placed');
    } catch (err) {
      this.deadLetter(rec, err instanceof WireDecodeError ? err.message : errorMessage(err), out);
      return;
    }
    const ts = rec.timestamp;
    this.curTs = ts;
    this.curOut = out;
    this.clearCaches();
    let h = st.hosts.get(batch.host);
    if (!h) {
      h = newHostState(batch.host, batch.bootId, this.c);
      st.hosts.set(batch.host, h);
    }
    h.lastOffset = rec.offset;
    if (h.bootId !== batch.bootId) this.bootSwitch(h, batch.bootId, ts, out);

    // Collector retries resend a batch byte for byte with the same sequence: drop it.
    const seen = h.collectors.get(batch.collectorId);
    if (seen && batch.sequence <= seen.lastSeq) {
      h.counters.duplicates++;
    } else {
      const gap = seen ? batch.sequence - seen.lastSeq - 1 : 0;
      if (gap > 0) {
        h.counters.gaps += gap;
        this.ctx.log?.(`host ${h.host}: collector ${batch.collectorId} skipped ${gap} batch(es) before sequence ${batch.sequence} (input offset ${rec.offset})`);
      }
      if (seen) {
        seen.lastSeq = batch.sequence;
        seen.lastWindow = h.nextClose;
      } else {
        h.collectors.set(batch.collectorId, { lastSeq: batch.sequence, lastWindow: h.nextClose });
      }
      h.counters.batches++;
      try {
        this.applyBatch(h, batch);
        // The batch's latest event time (samplers included) moves the watermark too.
        if (batch.lastEventNs > h.watermarkNs && h.nextClose >= 0) this.advance(h, batch.lastEventNs);
      } catch (err) {
        // A record that decodes but breaks processing must not stall the
        // partition (it would fail the same way on every retry): dead-letter
        // it. What it applied before failing stays applied, the same on a replay.
        this.clearCaches();
        this.deadLetter(rec, `processing failed: ${errorMessage(err)}`, out);
      }
    }
    if (st.records % HOST_SWEEP_EVERY === 0) this.evictIdleHosts(rec.offset, ts, out);
    // The caller's outputs are not ours to keep alive until the next record.
    this.curOut = NO_OUTPUTS;
  }

  private deadLetter(rec: InputRecord, reason: string, out: OutRecord[]): void {
    this.state.deadLetters++;
    const value = encodeDeadLetter({
      topic: this.ctx.inputTopic,
      partition: this.state.partition,
      offset: rec.offset,
      key: rec.key ? new Uint8Array(rec.key) : new Uint8Array(0),
      reason,
      raw: rec.value ? new Uint8Array(rec.value) : new Uint8Array(0),
      consumer: this.c.name,
      timestampMs: Number(rec.timestamp),
    });
    out.push({ role: 'dlq', key: `${this.ctx.inputTopic}/${this.state.partition}`, value, timestampMs: rec.timestamp });
  }

  // -------------------------------------------------------------------------
  // Applying events
  // -------------------------------------------------------------------------

  /**
   * The window of event time t, or -1 when it is late. Moves the watermark,
   * and closes the windows it passes before the event is applied, so a
   * window's outputs never see events past its end plus the lateness.
   */
  private admit(h: HostState, t: number): number {
    // Fast path: the same host and open window as the previous event, and a watermark that
    // stays or moves without reaching a window's close (events come in time order, so it mostly moves).
    if (h === this.wHost && t >= this.wLo && t < this.wHi) {
      if (t <= h.watermarkNs) return this.wIdx;
      if (t < (h.nextClose + 1) * this.windowNs + this.latenessNs) {
        h.watermarkNs = t;
        return this.wIdx;
      }
    }
    if (h.nextClose < 0) h.nextClose = windowOf(Math.max(0, t - this.latenessNs), this.windowNs);
    if (t > h.watermarkNs) this.advance(h, t);
    const w = windowOf(t, this.windowNs);
    if (w < h.nextClose) {
      h.counters.lateEvents++;
      return -1;
    }
    this.wHost = h;
    this.wIdx = w;
    this.wLo = w * this.windowNs;
    this.wHi = this.wLo + this.windowNs;
    return w;
  }

  /** Moves the watermark to t and closes the windows it passes. */
  private advance(h: HostState, t: number): void {
    h.watermarkNs = t;
    if ((h.nextClose + 1) * this.windowNs + this.latenessNs <= t) this.closeReady(h, this.curTs, this.curOut);
  }

  private clearCaches(): void {
    this.wHost = undefined;
    this.cPid = -1;
    this.cStart = -1;
    this.cProc = undefined;
    this.rProc = undefined;
    this.rStart = -1;
    this.rRegion = undefined;
    this.aRegion = undefined;
    this.aWindow = -1;
    this.aAcc = undefined;
  }

  private faultRowsOf(h: HostState): FaultRows {
    let rows = this.faultRows.get(h);
    if (!rows) {
      rows = new FaultRows();
      this.faultRows.set(h, rows);
    }
    return rows;
  }

  private hostAcc(h: HostState, w: number): HostAcc {
    let a = h.acc.get(w);
    if (!a) {
      a = newHostAcc();
      h.acc.set(w, a);
    }
    return a;
  }

  private applyBatch(h: HostState, b: TypedEventBatch): void {
    // Consecutive events mostly hit the same process and region: cached
    // lookups (the caches are cleared when a window closes, since closing evicts).
    const processOf = (pid: number, startNs: number): ProcessState => {
      if (pid === this.cPid && startNs === this.cStart && this.cProc) return this.cProc;
      // By pid first (a number key); the string key only when the pid was reused.
      let p = h.byPid.get(pid);
      if (!p || p.startNs !== startNs) {
        const key = `${pid}/${startNs}`;
        p = h.processes.get(key);
        if (!p) {
          p = { pid, startNs, regions: new Map(), phase: newPhaseState() };
          h.processes.set(key, p);
        }
        h.byPid.set(pid, p);
      }
      this.cPid = pid;
      this.cStart = startNs;
      this.cProc = p;
      return p;
    };
    const regionBytes = this.c.regionBytes;
    const regionOf = (p: ProcessState, start: number, bytes: number, w: number): RegionState => {
      if (p === this.rProc && start === this.rStart && this.rRegion) return this.rRegion;
      // Keyed by region index: a small integer key, where a raw address would box on every lookup.
      const key = start / regionBytes;
      let r = p.regions.get(key);
      if (!r) {
        r = newRegionState(key, start, bytes, w);
        p.regions.set(key, r);
        this.sortedRegions.delete(p);
      }
      this.rProc = p;
      this.rStart = start;
      this.rRegion = r;
      return r;
    };
    const accOf = (r: RegionState, w: number): RegionAcc => {
      if (r === this.aRegion && w === this.aWindow && this.aAcc) return this.aAcc;
      const a = regionAccOf(r, w);
      this.aRegion = r;
      this.aWindow = w;
      this.aAcc = a;
      return a;
    };
    const regionStartOf = (address: number): number => address - (address % regionBytes);
    // Faults (summaries and raw ones, most of a stream) add up in the host's rows when the region's row
    // is bound to the window; else the direct way, after which the row follows the region's newest window.
    const rows = this.faultRowsOf(h);
    const countFaults = (pid: number, startNs: number, regionStart: number, bytes: number, w: number, f: number, writes: number, instrs: number, prots: number): void => {
      const key = regionStart / regionBytes;
      const at = rows.find(pid, startNs, key);
      const bound = at >= 0 && rows.boundTo(at, w);
      // byPid is state (checkpointed): processOf keeps it pointing at the process of each pid's last
      // event. When no two live processes share a pid, every pid already points at its only process.
      if (bound && h.processes.size === h.byPid.size) {
        rows.add(at, f, writes, instrs, prots);
        return;
      }
      const p = processOf(pid, startNs);
      if (bound) {
        rows.add(at, f, writes, instrs, prots);
        return;
      }
      // A row bound elsewhere still knows its region (no region Map lookup).
      const r = at >= 0 ? rows.regionAt(at) : regionOf(p, regionStart, bytes, w);
      const a = r.accW === w && r.accCur !== null ? r.accCur : accOf(r, w);
      a.events += f;
      a.faults += f;
      a.writeFaults += writes;
      a.instrFaults += instrs;
      a.protFaults += prots;
      if (w === r.firstWindow) a.firstTouchFaults += f;
      else a.accessFaults += f;
      rows.track(at, pid, startNs, key, r, w, a);
    };

    // Runs of the order (hundreds per batch when types interleave), or one run per block; a cursor per type.
    const ordered = b.order.type.length > 0;
    const types = ordered ? b.order.type : BLOCK_ORDER;
    const cursor = new Array<number>(BLOCK_ORDER.length).fill(0);
    let events = 0;
    for (let k = 0; k < types.length; k++) {
      const type = types[k]!;
      const rows = this.blockRows(b, type);
      const run = ordered ? b.order.run[k]! : rows;
      const from = cursor[TYPE_INDEX[type]]!;
      const to = Math.min(from + run, rows);
      cursor[TYPE_INDEX[type]] = to;
      events += to - from;
      switch (type) {
        case 'fault_summary': {
          // The bulk of a real stream: columns hoisted; countFaults adds them up.
          const s = b.faultSummaries;
          const lastNs = s.lastNs;
          const pids = s.pid;
          const starts = s.startNs;
          const regionStarts = s.regionStart;
          const sizes = s.regionBytes;
          const faults = s.faults;
          const writes = s.writeFaults;
          const instrs = s.instrFaults;
          const prots = s.protFaults;
          for (let i = from; i < to; i++) {
            const t = lastNs[i]!;
            const w = this.admit(h, t);
            if (w < 0) continue;
            countFaults(pids[i]!, starts[i]!, regionStarts[i]!, sizes[i]! || regionBytes, w, faults[i]!, writes[i]!, instrs[i]!, prots[i]!);
          }
          break;
        }
        case 'fault': {
          const s = b.faults;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w < 0) continue;
            const code = s.errorCode[i]!;
            const write = code & PAGE_FAULT_WRITE ? 1 : 0;
            const instr = code & PAGE_FAULT_INSTR ? 1 : 0;
            const prot = code & PAGE_FAULT_PROT ? 1 : 0;
            countFaults(s.h.pid[i]!, s.h.startNs[i]!, regionStartOf(s.address[i]!), regionBytes, w, 1, write, instr, prot);
          }
          break;
        }
        case 'promotion': {
          const s = b.promotions;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w < 0) continue;
            const order = s.order[i]!;
            const failed = s.failed[i]! !== 0;
            const os = orderStats(this.hostAcc(h, w).orders, order);
            os.attempts++;
            if (failed) os.failures++;
            const a = accOf(regionOf(processOf(s.h.pid[i]!, s.h.startNs[i]!), regionStartOf(s.address[i]!), regionBytes, w), w);
            a.events++;
            if (failed) a.promotionFailures++;
            else {
              a.promotions++;
              const kb = this.c.scorer.basePageKb * 2 ** order;
              a.promotionsBySize ??= new Map();
              a.promotionsBySize.set(kb, (a.promotionsBySize.get(kb) ?? 0) + 1);
            }
          }
          break;
        }
        case 'collapse': {
          // mm_collapse_huge_page carries no address: a host-level outcome of PMD-size attempts.
          const s = b.collapses;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w < 0) continue;
            const ha = this.hostAcc(h, w);
            const os = orderStats(ha.orders, this.pmdOrder);
            os.attempts++;
            ha.collapses++;
            if (s.status[i]! !== COLLAPSE_SUCCEEDED) {
              os.failures++;
              ha.collapseFailures++;
            }
          }
          break;
        }
        case 'compaction': {
          const s = b.compactions;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w < 0) continue;
            const ha = this.hostAcc(h, w);
            ha.compactions++;
            const order = s.order[i]!;
            // Only direct compaction stalls an allocation; order -1 is a whole-node (manual) run.
            if (s.direct[i]! !== 0 && order >= 0) {
              const os = orderStats(ha.orders, order);
              os.directCompactions++;
              os.directCompactionNs += s.durationNs[i]!;
            }
          }
          break;
        }
        case 'compaction_defer': {
          const s = b.compactionDefers;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w >= 0) this.hostAcc(h, w).compactionDefers++;
          }
          break;
        }
        case 'kcompactd_wake': {
          const s = b.kcompactdWakes;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w >= 0) this.hostAcc(h, w).kcompactdWakes++;
          }
          break;
        }
        case 'swap_out': {
          const s = b.swapOuts;
          const maxPages = this.c.maxSwappedPagesPerRegion;
          for (let i = from; i < to; i++) {
            const t = s.h.tsNs[i]!;
            const w = this.admit(h, t);
            if (w < 0) continue;
            const address = s.address[i]!;
            const r = regionOf(processOf(s.h.pid[i]!, s.h.startNs[i]!), regionStartOf(address), regionBytes, w);
            const a = accOf(r, w);
            const pages = Math.max(1, s.pages[i]!);
            a.events++;
            a.swapOuts++;
            a.swapOutPages += pages;
            const page0 = address - (address % this.basePageBytes);
            let added = 0;
            for (let k = 0; k < pages; k++) {
              const page = page0 + k * this.basePageBytes;
              r.swapped ??= new Map();
              if (r.swapped.has(page)) r.swapped.set(page, t);
              else if (r.swapped.size < maxPages) {
                r.swapped.set(page, t);
                added++;
              }
            }
            if (added > 0) this.hostAcc(h, w).pagedDelta += added;
          }
          break;
        }
        case 'swap_in': {
          const s = b.swapIns;
          for (let i = from; i < to; i++) {
            const t = s.h.tsNs[i]!;
            const w = this.admit(h, t);
            if (w < 0) continue;
            const address = s.address[i]!;
            const r = regionOf(processOf(s.h.pid[i]!, s.h.startNs[i]!), regionStartOf(address), regionBytes, w);
            const a = accOf(r, w);
            a.events++;
            a.majorFaults++;
            const page = address - (address % this.basePageBytes);
            const out = r.swapped?.get(page);
            if (out !== undefined) {
              a.refaults++;
              a.refaultDistanceNs += Math.max(0, t - out);
              r.swapped!.delete(page);
              const ha = this.hostAcc(h, w);
              ha.refaults++;
              ha.pagedDelta--;
            }
          }
          break;
        }
        case 'swap_entries': {
          const s = b.swapEntries;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w >= 0) this.hostAcc(h, w).swapEntries++;
          }
          break;
        }
        case 'reclaim': {
          const s = b.reclaims;
          for (let i = from; i < to; i++) {
            const w = this.admit(h, s.h.tsNs[i]!);
            if (w < 0) continue;
            const ha = this.hostAcc(h, w);
            ha.reclaimNs += s.durationNs[i]!;
            ha.reclaimedPages += s.nrReclaimed[i]!;
          }
          break;
        }
      }
    }
    h.counters.events += events;

    if (b.damon.rows > 0 || b.psi.rows > 0) {
      const { damon, psi } = samplesFromEventBatch(b);
      for (const d of damon) {
        const w = this.admit(h, d.tsNs);
        if (w < 0) continue;
        const p = processOf(d.pid, d.startNs);
        let start = regionStartOf(d.regionStart);
        for (let n = 0; start < d.regionEnd && n < this.c.maxDamonRegionsPerRow; n++, start += regionBytes) {
          const a = accOf(regionOf(p, start, regionBytes, w), w);
          a.events++;
          a.damonSum += d.nrAccesses;
          a.damonRows++;
        }
      }
      for (const s of psi) {
        if (s.cgroup !== '') continue;
        const w = this.admit(h, s.tsNs);
        if (w < 0) continue;
        const ha = this.hostAcc(h, w);
        if (s.someAvg10 > ha.psiMax) ha.psiMax = s.someAvg10;
      }
    }
  }

  private blockRows(b: TypedEventBatch, type: Exclude<ProbeEventType, 'bench'>): number {
    switch (type) {
      case 'fault':
        return b.faults.rows;
      case 'fault_summary':
        return b.faultSummaries.rows;
      case 'promotion':
        return b.promotions.rows;
      case 'collapse':
        return b.collapses.rows;
      case 'compaction':
        return b.compactions.rows;
      case 'compaction_defer':
        return b.compactionDefers.rows;
      case 'kcompactd_wake':
        return b.kcompactdWakes.rows;
      case 'swap_out':
        return b.swapOuts.rows;
      case 'swap_in':
        return b.swapIns.rows;
      case 'swap_entries':
        return b.swapEntries.rows;
      case 'reclaim':
        return b.reclaims.rows;
    }
  }

  // -------------------------------------------------------------------------
  // Closing windows
  // -------------------------------------------------------------------------

  private closeReady(h: HostState, ts: string, out: OutRecord[]): void {
    if (h.nextClose < 0) return;
    const W = this.windowNs;
    const L = this.latenessNs;
    while ((h.nextClose + 1) * W + L <= h.watermarkNs) {
      if (h.processes.size === 0 && h.acc.size === 0) {
        // Nothing tracked: jump over the empty windows instead of closing them one by one.
        const last = windowOf(h.watermarkNs - L, W) - 1;
        const skipped = last - h.nextClose + 1;
        if (skipped > 0) this.skipEmptyWindows(h, skipped, last);
        break;
      }
      this.closeWindow(h, h.nextClose, ts, out);
      h.nextClose++;
    }
  }

  private skipEmptyWindows(h: HostState, n: number, last: number): void {
    decayHostCost(h.cost, Math.min(n, 64), this.c.scorer);
    const t = this.c.tuner;
    for (let i = 0; i < Math.min(n, t.measureWindows); i++) {
      // Nothing paged out, nothing refaulted: the tuner's history, without a decision.
      h.tuner.refaults.push(0);
      h.tuner.pagedOut.push(0);
      h.tuner.psi.push(0);
    }
    while (h.tuner.refaults.length > t.measureWindows) {
      h.tuner.refaults.shift();
      h.tuner.pagedOut.shift();
      h.tuner.psi.shift();
    }
    h.nextClose = last + 1;
    this.evictCollectors(h, last);
  }

  private processId(h: HostState, p: ProcessState): ProcessId {
    return { host: h.host, bootId: h.bootId, pid: p.pid, startNs: p.startNs };
  }

  /**
   * Regions are named by address: the event stream carries no mapping table,
   * so the mapping is a placeholder (anon, ordinal 0) and offset = start.
   */
  private regionMsg(r: RegionState): Region {
    return { mapping: { kind: 'anon', path: '', ordinal: 0 }, offset: r.start, start: r.start, length: r.bytes };
  }

  private sizesFor(bytes: number): number[] {
    let s = this.sizesByRegionBytes.get(bytes);
    if (!s) {
      s = scoredSizesKb(this.c, bytes);
      this.sizesByRegionBytes.set(bytes, s);
    }
    return s;
  }

  /** The process's regions by key, ascending (so by start). Do not modify. */
  private regionsInOrder(p: ProcessState): readonly RegionState[] {
    let regions = this.sortedRegions.get(p);
    if (!regions) {
      regions = [...p.regions.values()].sort((a, b) => a.key - b.key);
      this.sortedRegions.set(p, regions);
    }
    return regions;
  }

  private closeWindow(h: HostState, w: number, ts: string, out: OutRecord[]): void {
    const c = this.c;
    const W = this.windowNs;
    const ws = w * W;
    const we = ws + W;
    const windowSec = c.windowMs / 1000;
    const ha = h.acc.get(w);
    h.acc.delete(w);
    this.clearCaches();
    // This window's region accs are read below, and forgotten: their pending sums go into them first.
    this.faultRows.get(h)?.flush(w);
    // Paged-out pages as of this window's end (swap-outs and refaults of later windows are not in yet).
    h.pagedOutPages += ha?.pagedDelta ?? 0;
    updateHostCost(h.cost, ha, c.scorer);
    const refaultNs = refaultCostNs(h.cost, c.scorer);
    const thresholds = { coldWindows: h.tuner.coldWindows, benefitThresholdNs: h.tuner.benefitThresholdNs };
    const base = c.scorer.basePageKb;

    const procs = [...h.processes.values()].sort(compareProcessKeys);
    /** Each process's hints after its own limit, issued after the loop under the host's. */
    const hostPlans: HostPlan[] = [];
    /** Per process (as in procs), its regions idle long enough to forget once the hints are out. */
    const idle: RegionState[][] = [];
    for (const p of procs) {
      const idleHere: RegionState[] = [];
      idle.push(idleHere);
      const pid = this.processId(h, p);
      // Region keys sort like region starts.
      const regions = this.regionsInOrder(p);
      const hot: number[] = [];
      let hotBytes = 0;
      let faults = 0;
      let majors = 0;
      let promotions = 0;
      let swapOuts = 0;
      const plans: Plan[] = [];
      for (const r of regions) {
        // Forgotten here: the window is closing.
        const a = takeRegionAcc(r, w);
        let scored = false;
        let bestNet = 0;
        let bestSizeKb = base;
        let heat = 0;
        if (a) {
          if (w > r.lastEventWindow) r.lastEventWindow = w;
          const damon = a.damonRows > 0 ? a.damonSum / a.damonRows : 0;
          const accessSamples = a.accessFaults + a.majorFaults + damon * c.scorer.damonWeight;
          // Heat is re-use: first touch is allocation, not hotness.
          heat = accessSamples;
          if ((a.faults > 0 || accessSamples > 0) && w > r.lastAccessWindow) r.lastAccessWindow = w;
          const regionPages = r.bytes / this.basePageBytes;
          r.touchedPages = Math.min(regionPages, r.touchedPages + a.firstTouchFaults);
          r.refaultsDecayed = r.refaultsDecayed / 2 + a.refaults;
          if (a.refaults > 0) {
            const mean = a.refaultDistanceNs / a.refaults;
            r.refaultDistanceNs = r.refaultDistanceNs === 0 ? mean : (r.refaultDistanceNs + mean) / 2;
          }
          faults += a.faults;
          majors += a.majorFaults;
          promotions += a.promotions;
          swapOuts += a.swapOutPages;
          if (heat >= c.phases.hotMinAccesses) {
            hot.push(r.start);
            hotBytes += r.bytes;
          }
          if (a.events >= c.scorer.minFaults) {
            const res = scoreSizes(this.sizesFor(r.bytes), r.bytes, accessSamples, a.firstTouchFaults, h.cost, c.scorer);
            scored = true;
            bestNet = res.bestNet;
            bestSizeKb = res.bestSizeKb;
            const access: AccessStats = {
              faults: a.faults,
              writeFaults: a.writeFaults,
              instrFaults: a.instrFaults,
              protFaults: a.protFaults,
              majorFaults: a.majorFaults,
              promotions: a.promotions,
              promotionFailures: a.promotionFailures,
              collapses: 0,
              swapOuts: a.swapOutPages,
              damonAccesses: damon,
              touchedBytes: Math.min(regionPages, a.faults) * this.basePageBytes,
            };
            out.push({
              role: 'scores',
              key: h.host,
              value: encodeRegionScoreFast({
                process: pid,
                region: this.regionMsg(r),
                windowStartNs: ws,
                windowEndNs: we,
                sizes: res.sizes,
                preferredSizeKb: res.preferredSizeKb,
                access,
                executable: '',
                comm: '',
              }),
              timestampMs: ts,
            });
          }
        } else {
          r.refaultsDecayed = r.refaultsDecayed < 1e-6 ? 0 : r.refaultsDecayed / 2;
        }
        // Nothing below changes its accs or last event window: whether it is idle is known now.
        if (!hasOpenAccs(r) && w - r.lastEventWindow >= c.idleEvictWindows) idleHere.push(r);

        // Planner.
        const coldFor = w - r.lastAccessWindow;
        if (r.hint && isColdAction(r.hint.action) && coldFor === 0) {
          // Accessed again: it was not cold after all. Withdraw at once.
          out.push({ role: 'hints', key: hintKey(h.host, p.pid, p.startNs, r.start), value: null, timestampMs: ts });
          r.hint = null;
        }
        const d = desiredHint({ coldFor, scored, bestNet, bestSizeKb, heat }, thresholds, c.planner, base);
        if (sameDesire(d, r.cand)) r.streak++;
        else {
          r.cand = d;
          r.streak = d ? 1 : 0;
        }
        const hint = r.hint;
        const holds = hint !== null && d !== null && hint.action === d.action && hint.sizeKb === d.sizeKb;
        if (hint && we >= hint.expiresNs) {
          if (holds) {
            plans.push({ r, d: d!, score: this.hintScore(d!, bestNet, r, refaultNs), reason: 'refreshed: still wanted at expiry', refresh: true });
          } else {
            out.push({ role: 'hints', key: hintKey(h.host, p.pid, p.startNs, r.start), value: null, timestampMs: ts });
            r.hint = null;
          }
        }
        if (d && !holds) {
          const ready = isColdAction(d.action) || r.streak >= c.planner.confirmWindows;
          const dwellOk = r.hint === null || w - r.hint.window >= c.planner.minDwellWindows;
          if (ready && dwellOk) {
            plans.push({ r, d, score: this.hintScore(d, bestNet, r, refaultNs), reason: this.hintReason(d, coldFor, bestNet, r, thresholds, refaultNs), refresh: false });
          }
        }
      }

      // Phase detector.
      const summary: PhaseSummary = {
        hotSetHash: hotSetHash(hot),
        hotRegions: hot.length,
        hotBytes,
        faultRate: faults / windowSec,
        majorFaultRate: majors / windowSec,
        promotionRate: promotions / windowSec,
        swapOutRate: swapOuts / windowSec,
      };
      const change = phaseStep(p.phase, { index: w, startNs: ws, summary, hot }, c.phases, c.windowMs);
      if (change) {
        out.push({ role: 'phases', key: h.host, value: encodePhaseChange({ process: pid, ...change }), timestampMs: ts });
      }

      // Hints, rate limited per process: the most valuable first, the rest wait for the next window.
      plans.sort(comparePlans);
      let issued = 0;
      for (const plan of plans) {
        if (!plan.refresh) {
          if (issued >= c.planner.maxHintsPerWindow) continue;
          issued++;
        }
        hostPlans.push({ r: plan.r, d: plan.d, score: plan.score, reason: plan.reason, refresh: plan.refresh, p, pid });
      }
    }

    // And per host, so a host running thousands of processes gets a bounded
    // stream of new hints: again the most valuable first, across processes.
    // Refreshes of hints in force are never held back.
    hostPlans.sort((a, b) => comparePlans(a, b) || compareProcessKeys(a.p, b.p));
    let issuedOnHost = 0;
    for (const plan of hostPlans) {
      if (!plan.refresh) {
        if (issuedOnHost >= c.planner.maxHintsPerHostWindow) continue;
        issuedOnHost++;
      }
      this.issueHint(h, plan.p, plan.pid, plan.r, plan.d, plan.score, plan.reason, w, ts, out);
    }

    // Tuner.
    const changes = tunerStep(
      h.tuner,
      { windowIndex: w, windowEndNs: we, refaults: ha?.refaults ?? 0, pagedOutPages: h.pagedOutPages, psiSomeAvg10: ha?.psiMax ?? 0 },
      c.tuner,
      c.planner.minScore,
      c.windowMs,
      h.host,
    );
    for (const ch of changes) out.push({ role: 'tuner', key: h.host, value: encodeTunerChange(ch), timestampMs: ts });

    // Bounded state: forget what has been idle long enough (by event time, so deterministically).
    procs.forEach((p, i) => {
      for (const r of idle[i]!) this.evictRegion(h, p, r, ts, out);
      if (p.regions.size === 0) this.forgetProcess(h, p);
    });
    this.evictCollectors(h, w);
  }

  private hintScore(d: Desired, bestNet: number, r: RegionState, refaultNs: number): number {
    // Cold hints: the expected refault cost per window (0 is the safest page-out).
    return isColdAction(d.action) ? 0 - r.refaultsDecayed * refaultNs : bestNet;
  }

  private hintReason(d: Desired, coldFor: number, bestNet: number, r: RegionState, t: { coldWindows: number; benefitThresholdNs: number }, refaultNs: number): string {
    switch (d.action) {
      case 'promote':
        return `net benefit ${Math.round(bestNet)} ns/window at ${d.sizeKb} KiB over threshold ${t.benefitThresholdNs}`;
      case 'keep_base_pages':
        return `no page size pays off (best net ${Math.round(bestNet)} ns/window)`;
      case 'mark_cold':
        return `no access for ${coldFor} windows (threshold ${t.coldWindows})`;
      case 'page_out': {
        const distance = r.refaultDistanceNs > 0 ? `, refaulted ${(r.refaultDistanceNs / 1e9).toFixed(1)} s after page-out before` : '';
        return `no access for ${coldFor} windows (threshold ${t.coldWindows * this.c.planner.pageOutFactor}); refault cost ${Math.round(refaultNs)} ns, ${r.refaultsDecayed.toFixed(2)} refaults/window lately${distance}`;
      }
    }
  }

  private issueHint(h: HostState, p: ProcessState, pid: ProcessId, r: RegionState, d: Desired, score: number, reason: string, w: number, ts: string, out: OutRecord[]): void {
    const ws = w * this.windowNs;
    const issuedNs = ws + this.windowNs;
    const expiresNs = issuedNs + this.c.planner.hintTtlMs * 1e6;
    const id = hintId(h.host, h.bootId, p.pid, p.startNs, r.start, ws);
    const value = encodeHintFast({
      hintId: id,
      process: pid,
      region: this.regionMsg(r),
      action: d.action,
      pageSizeKb: d.sizeKb,
      score,
      reason,
      issuedNs,
      expiresNs,
      cgroup: '',
      bytes: r.bytes,
    });
    out.push({ role: 'hints', key: hintKey(h.host, p.pid, p.startNs, r.start), value, timestampMs: ts });
    r.hint = { action: d.action, sizeKb: d.sizeKb, hintId: id, issuedNs, expiresNs, window: w };
  }

  private evictRegion(h: HostState, p: ProcessState, r: RegionState, ts: string, out: OutRecord[]): void {
    if (r.hint) out.push({ role: 'hints', key: hintKey(h.host, p.pid, p.startNs, r.start), value: null, timestampMs: ts });
    if (r.swapped) h.pagedOutPages -= r.swapped.size;
    p.regions.delete(r.key);
    this.sortedRegions.delete(p);
    this.faultRows.get(h)?.remove(p.pid, p.startNs, r.key);
  }

  private forgetProcess(h: HostState, p: ProcessState): void {
    h.processes.delete(`${p.pid}/${p.startNs}`);
    if (h.byPid.get(p.pid) === p) h.byPid.delete(p.pid);
  }

  private evictCollectors(h: HostState, w: number): void {
    for (const [id, seen] of h.collectors) {
      if (w - seen.lastWindow > this.c.idleEvictWindows) h.collectors.delete(id);
    }
  }

  /** A new boot: close what is open of the old one, forget its processes (their hints withdrawn). */
  private bootSwitch(h: HostState, bootId: string, ts: string, out: OutRecord[]): void {
    if (h.nextClose >= 0) {
      let last = h.nextClose - 1;
      for (const k of h.acc.keys()) last = Math.max(last, k);
      for (const p of h.processes.values()) for (const r of p.regions.values()) last = Math.max(last, newestOpenWindow(r));
      for (let w = h.nextClose; w <= last; w++) this.closeWindow(h, w, ts, out);
    }
    for (const p of [...h.processes.values()].sort(compareProcessKeys)) {
      for (const key of [...p.regions.keys()].sort(byNumber)) this.evictRegion(h, p, p.regions.get(key)!, ts, out);
    }
    h.processes.clear();
    h.byPid.clear();
    h.acc.clear();
    h.pagedOutPages = 0;
    h.bootId = bootId;
    h.watermarkNs = -1;
    h.nextClose = -1;
    h.counters.boots++;
  }

  private evictIdleHosts(offset: number, ts: string, out: OutRecord[]): void {
    for (const name of [...this.state.hosts.keys()].sort()) {
      const h = this.state.hosts.get(name)!;
      if (offset - h.lastOffset <= this.c.hostEvictRecords) continue;
      for (const p of [...h.processes.values()].sort(compareProcessKeys)) {
        for (const key of [...p.regions.keys()].sort(byNumber)) this.evictRegion(h, p, p.regions.get(key)!, ts, out);
      }
      this.state.hosts.delete(name);
    }
  }
}

interface Plan {
  r: RegionState;
  d: Desired;
  score: number;
  reason: string;
  refresh: boolean;
}

interface HostPlan extends Plan {
  p: ProcessState;
  pid: ProcessId;
}

const ACTION_RANK: Readonly<Record<string, number>> = { page_out: 0, mark_cold: 1, promote: 2, keep_base_pages: 3 };

function comparePlans(a: { r: RegionState; d: Desired; score: number }, b: { r: RegionState; d: Desired; score: number }): number {
  return ACTION_RANK[a.d.action]! - ACTION_RANK[b.d.action]! || Math.abs(b.score) - Math.abs(a.score) || a.r.start - b.r.start;
}

/** Row layout of FaultRows: the key, then the window the sums belong to, then the sums. */
const ROW_PID = 0;
const ROW_START = 1;
const ROW_KEY = 2;
const ROW_WINDOW = 3;
const ROW_FAULTS = 4;
const ROW_WRITES = 5;
const ROW_INSTRS = 6;
const ROW_PROTS = 7;
/** Eight doubles: a row is one 64-byte cache line. */
const ROW = 8;
/** ROW_PID of a bucket never used, and of one whose region was forgotten (probing goes on past it). */
const EMPTY = -1;
const DELETED = -2;
/** ROW_WINDOW of a row with no sums pending. */
const UNBOUND = -1;
/** Buckets in a new table (a power of two); it doubles when over half full. */
const MIN_BUCKETS = 256;

/**
 * The faults' fast path (fault summaries and raw faults: most of a real
 * stream's events, and of the benchmark's): an open-addressing table keyed
 * by (pid, process start, region key), one 64-byte row per region, where
 * the faults of the region's newest window add up. A fault costs one random
 * memory access there, where the direct path costs four (the process's
 * region Map, its entry, the RegionState, the RegionAcc: objects spread
 * over the heap, with ~24k regions a cache miss each).
 *
 * The rows are a cache over the host's state, never the truth: a fault
 * that misses (new region, or a window the row is not bound to) goes the
 * direct way (processOf/regionOf/accOf) and then binds the row to the
 * RegionAcc it found. `flush` adds the pending sums into their RegionAccs
 * and unbinds the rows; the engine flushes before anything reads the accs
 * (a window closes, a checkpoint is taken). The sums are of integer counts:
 * while a region's window total stays at most 2^53 (9e15 faults; no kernel
 * comes near, only forged input could), every partial sum is exact in any
 * grouping, so adding them later gives exactly the direct path's numbers.
 */
class FaultRows {
  private rows: Float64Array;
  /** Per bucket: its region, and the RegionAcc its pending sums belong to (null when unbound). */
  private regions: (RegionState | undefined)[];
  private accs: (RegionAcc | null)[];
  private mask: number;
  /** Buckets holding a region, and those holding a region or a deletion mark (probes stop only at EMPTY). */
  private live = 0;
  private used = 0;
  /** Buckets bound since the last flush (some may have been unbound since by a removal). */
  private bound: number[] = [];

  constructor(buckets = MIN_BUCKETS) {
    this.rows = FaultRows.emptyRows(buckets);
    this.regions = new Array<RegionState | undefined>(buckets).fill(undefined);
    this.accs = new Array<RegionAcc | null>(buckets).fill(null);
    this.mask = buckets - 1;
  }

  private static emptyRows(buckets: number): Float64Array {
    const rows = new Float64Array(buckets * ROW);
    for (let b = 0; b < buckets; b++) {
      rows[b * ROW + ROW_PID] = EMPTY;
      rows[b * ROW + ROW_WINDOW] = UNBOUND;
    }
    return rows;
  }

  /** The region's bucket, or -1. */
  find(pid: number, startNs: number, key: number): number {
    const rows = this.rows;
    const mask = this.mask;
    for (let b = bucketHash(pid, startNs, key) & mask; ; b = (b + 1) & mask) {
      const o = b * ROW;
      const p = rows[o + ROW_PID]!;
      if (p === pid && rows[o + ROW_START] === startNs && rows[o + ROW_KEY] === key) return b;
      if (p === EMPTY) return -1;
    }
  }

  /** Whether the bucket's pending sums are those of window w (so faults of w add to them). */
  boundTo(b: number, w: number): boolean {
    return this.rows[b * ROW + ROW_WINDOW] === w;
  }

  /** The region of a bucket that `find` returned. */
  regionAt(b: number): RegionState {
    return this.regions[b]!;
  }

  /** Adds faults to a bucket bound to their window. */
  add(b: number, faults: number, writes: number, instrs: number, prots: number): void {
    const rows = this.rows;
    const o = b * ROW;
    rows[o + ROW_FAULTS]! += faults;
    rows[o + ROW_WRITES]! += writes;
    rows[o + ROW_INSTRS]! += instrs;
    rows[o + ROW_PROTS]! += prots;
  }

  /**
   * After faults went the direct way into `acc` (the region's acc of
   * window w): the region gets a bucket if it had none (`found` is what
   * `find` returned, -1 for none), and the bucket is
   * bound to w when w is the newest window it has seen (older open windows
   * keep going the direct way, as accOf keeps accCur on the newest).
   */
  track(found: number, pid: number, startNs: number, key: number, r: RegionState, w: number, acc: RegionAcc): void {
    const b = found >= 0 ? found : this.insert(pid, startNs, key, r);
    const o = b * ROW;
    const bound = this.rows[o + ROW_WINDOW]!;
    if (w < bound) return;
    if (bound !== UNBOUND) this.flushBucket(b);
    this.rows[o + ROW_WINDOW] = w;
    this.accs[b] = acc;
    this.bound.push(b);
  }

  /** Forgets a region (evicted): its pending sums, if any, go to its acc first. */
  remove(pid: number, startNs: number, key: number): void {
    const b = this.find(pid, startNs, key);
    if (b < 0) return;
    this.flushBucket(b);
    this.rows[b * ROW + ROW_PID] = DELETED;
    this.regions[b] = undefined;
    this.live--;
  }

  /** The pending sums of windows up to `upTo` (all by default) into their RegionAccs; those buckets are unbound. */
  flush(upTo = Infinity): void {
    const rows = this.rows;
    let kept = 0;
    for (const b of this.bound) {
      const w = rows[b * ROW + ROW_WINDOW]!;
      if (w === UNBOUND) continue;
      if (w <= upTo) this.flushBucket(b);
      else this.bound[kept++] = b;
    }
    this.bound.length = kept;
  }

  private flushBucket(b: number): void {
    const rows = this.rows;
    const o = b * ROW;
    const w = rows[o + ROW_WINDOW]!;
    if (w === UNBOUND) return;
    const a = this.accs[b]!;
    const f = rows[o + ROW_FAULTS]!;
    a.events += f;
    a.faults += f;
    a.writeFaults += rows[o + ROW_WRITES]!;
    a.instrFaults += rows[o + ROW_INSTRS]!;
    a.protFaults += rows[o + ROW_PROTS]!;
    if (w === this.regions[b]!.firstWindow) a.firstTouchFaults += f;
    else a.accessFaults += f;
    rows[o + ROW_WINDOW] = UNBOUND;
    rows[o + ROW_FAULTS] = 0;
    rows[o + ROW_WRITES] = 0;
    rows[o + ROW_INSTRS] = 0;
    rows[o + ROW_PROTS] = 0;
    this.accs[b] = null;
  }

  private insert(pid: number, startNs: number, key: number, r: RegionState): number {
    if ((this.used + 1) * 2 > this.mask + 1) this.rehash();
    const rows = this.rows;
    const mask = this.mask;
    let b = bucketHash(pid, startNs, key) & mask;
    // The key is known absent: the first free bucket on its probe path (a deleted one is reused).
    while (rows[b * ROW + ROW_PID]! >= 0) b = (b + 1) & mask;
    const o = b * ROW;
    if (rows[o + ROW_PID] === EMPTY) this.used++;
    rows[o + ROW_PID] = pid;
    rows[o + ROW_START] = startNs;
    rows[o + ROW_KEY] = key;
    this.regions[b] = r;
    this.live++;
    return b;
  }

  /** A new table for the live regions (twice the size when they fill half of it), rows unbound. */
  private rehash(): void {
    this.flush();
    const old = this.rows;
    const oldRegions = this.regions;
    const oldBuckets = this.mask + 1;
    const buckets = this.live * 4 > oldBuckets ? oldBuckets * 2 : oldBuckets;
    this.rows = FaultRows.emptyRows(buckets);
    this.regions = new Array<RegionState | undefined>(buckets).fill(undefined);
    this.accs = new Array<RegionAcc | null>(buckets).fill(null);
    this.mask = buckets - 1;
    this.live = 0;
    this.used = 0;
    for (let b = 0; b < oldBuckets; b++) {
      const o = b * ROW;
      if (old[o + ROW_PID]! >= 0) this.insert(old[o + ROW_PID]!, old[o + ROW_START]!, old[o + ROW_KEY]!, oldRegions[b]!);
    }
  }
}

/** A 32-bit hash of a region's table key (murmur3's finalizer over the three parts, truncated to 32 bits each). */
function bucketHash(pid: number, startNs: number, key: number): number {
  let h = Math.imul(pid, 0x9e3779b1) ^ Math.imul(startNs | 0, 0x85ebca6b) ^ Math.imul(key | 0, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
