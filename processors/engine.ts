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
 * evicted, and so are a process's regions once it has exited (the
 * collector marks its last summaries) and their windows have closed.
 */
import { errorMessage } from '../lib/errors.js';
import { WireDecodeError } from '../schemas/wire-errors.js';
import type { ProcessId, Region } from '../schemas/identity.js';
import { encodePhaseChange, encodeTunerChange, type AccessStats, type PhaseSummary } from '../schemas/derived.js';
import { encodeDeadLetter } from '../schemas/dead-letter.js';
import { ColumnScratch, decodeEventBatchTyped, type TypedEventBatch } from '../schemas/typed-decode.js';
import { configFingerprint, scoredSizesKb, type ProcessorConfig } from './config.js';
import { FaultRows } from './fault-rows.js';
import { ingestBatch } from './ingest.js';
import { IngestContext, type WindowGate } from './ingest-context.js';
import { decayHostCost, newHostCost, refaultCostNs, scoreSizes, updateHostCost } from './model.js';
import { hotSetHash, phaseStep } from './phases.js';
import { comparePlans, hintId, hintKey, limitPlans, planRegion, type Desired, type Plan } from './planner.js';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  hasOpenAccs,
  newPartitionState,
  newestOpenWindow,
  takeRegionAcc,
  type HostState,
  type PartitionState,
  type ProcessState,
  type RegionState,
} from './state.js';
import { encodeHintFast, encodeRegionScoreFast } from './score-encoder.js';
import { newTunerState, tunerStep } from './tuner.js';

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
/** How often (records) idle hosts are looked for. */
const HOST_SWEEP_EVERY = 1024;
/** curOut between records: windows close only while a record is applied, so nothing is pushed here. */
const NO_OUTPUTS: OutRecord[] = [];

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

const byNumber = (a: number, b: number): number => a - b;

/** Process keys "pid/startNs" sorted numerically by pid, then start time. */
function compareProcessKeys(a: ProcessState, b: ProcessState): number {
  return a.pid - b.pid || a.startNs - b.startNs;
}

/**
 * One input partition's processor. `process` applies one record and appends
 * its outputs; `checkpoint`/`PartitionEngine.restore` carry the state.
 */
export class PartitionEngine implements WindowGate {
  readonly state: PartitionState;
  private readonly c: ProcessorConfig;
  private readonly ctx: EngineContext;
  private readonly windowNs: number;
  private readonly latenessNs: number;
  private readonly fingerprint: string;
  private readonly sizesByRegionBytes = new Map<number, number[]>();
  private readonly basePageBytes: number;
  /** The record being applied: outputs of windows it closes go to `out` with its timestamp. */
  private curTs = '0';
  private curOut: OutRecord[] = NO_OUTPUTS;
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
  /** The batch being applied: its host, and lookups cached for runs of its events (cleared whenever a window closes). */
  private readonly ingest: IngestContext;

  constructor(ctx: EngineContext, partition: number, state?: PartitionState) {
    this.ctx = ctx;
    this.c = ctx.config;
    this.state = state ?? newPartitionState(partition);
    this.windowNs = this.c.windowMs * 1e6;
    this.latenessNs = this.c.allowedLatenessMs * 1e6;
    this.fingerprint = configFingerprint(this.c);
    this.basePageBytes = this.c.scorer.basePageKb * KB;
    this.ingest = new IngestContext(this.c, this, this.sortedRegions);
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
        this.ingest.begin(h, this.faultRowsOf(h));
        ingestBatch(this.ingest, batch);
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
  // Windows (the events themselves go in by ingest.ts)
  // -------------------------------------------------------------------------

  /**
   * The window of event time t, or -1 when it is late. Moves the watermark,
   * and closes the windows it passes before the event is applied, so a
   * window's outputs never see events past its end plus the lateness.
   */
  admit(h: HostState, t: number): number {
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
    this.ingest.clear();
  }

  private faultRowsOf(h: HostState): FaultRows {
    let rows = this.faultRows.get(h);
    if (!rows) {
      rows = new FaultRows();
      this.faultRows.set(h, rows);
    }
    return rows;
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
      const plans: Plan<RegionState>[] = [];
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
        if (!hasOpenAccs(r) && (p.exited || w - r.lastEventWindow >= c.idleEvictWindows)) idleHere.push(r);

        // Planner: nothing new for a process that is gone (its hints are withdrawn as its regions go).
        if (p.exited) continue;
        const input = { coldFor: w - r.lastAccessWindow, scored, bestNet, bestSizeKb, heat };
        if (planRegion(r, input, w, we, thresholds, refaultNs, c.planner, base, plans)) {
          out.push({ role: 'hints', key: hintKey(h.host, p.pid, p.startNs, r.start), value: null, timestampMs: ts });
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
      for (const plan of limitPlans(plans, c.planner.maxHintsPerWindow)) hostPlans.push({ ...plan, p, pid });
    }

    // And per host, so a host running thousands of processes gets a bounded
    // stream of new hints: again the most valuable first, across processes.
    // Refreshes of hints in force are never held back.
    const hostOrder = (a: HostPlan, b: HostPlan): number => comparePlans(a, b) || compareProcessKeys(a.p, b.p);
    for (const plan of limitPlans(hostPlans, c.planner.maxHintsPerHostWindow, hostOrder)) {
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

interface HostPlan extends Plan<RegionState> {
  p: ProcessState;
  pid: ProcessId;
}
