/**
 * What the ingest functions (ingest-*.ts) work on while one EventBatch is
 * applied: its host, the host's fault rows, and the lookups of an event's
 * process, region and acc, cached for runs of events on one of each
 * (consecutive events mostly hit the same process and region).
 *
 * The engine owns one and clears the caches whenever a window closes
 * (closing evicts, so a cached process or region may be gone). Windows are
 * the engine's: an event's window comes from `gate.admit`, which may close
 * windows before it returns.
 */
import type { ProcessorConfig } from './config.js';
import type { FaultRows } from './fault-rows.js';
import { newOrderStats, orderOfSizeKb, type OrderStats } from './model.js';
import { newPhaseState } from './phases.js';
import { newRegionState, regionAccOf, type HostAcc, type HostState, type ProcessState, type RegionAcc, type RegionState } from './state.js';

/** Pages are counted in base pages; this is the base page in bytes. */
const KB = 1024;

/** The engine's side of ingest. */
export interface WindowGate {
  /**
   * The window of event time t on host h, or -1 when it is late. Moves the
   * watermark and closes the windows it passes before the event is applied.
   */
  admit(h: HostState, t: number): number;
}

/** The HostAcc fields that are plain event counts. */
export type HostEventCounter = 'compactionDefers' | 'kcompactdWakes' | 'swapEntries';

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

/** The stats of one allocation order in a host acc, made if it has none. */
export function orderStats(m: Map<number, OrderStats>, order: number): OrderStats {
  let s = m.get(order);
  if (!s) {
    s = newOrderStats();
    m.set(order, s);
  }
  return s;
}

export class IngestContext {
  readonly c: ProcessorConfig;
  readonly gate: WindowGate;
  readonly regionBytes: number;
  readonly basePageBytes: number;
  /** The allocation order of a 2 MiB (PMD) page. */
  readonly pmdOrder: number;
  /** The batch's host and its fault rows (set by `begin`). */
  h!: HostState;
  rows!: FaultRows;
  /** The engine's per-process regions in key order: dropped here when a region comes. */
  private readonly sortedRegions: WeakMap<ProcessState, RegionState[]>;
  private cPid = -1;
  private cStart = -1;
  private cProc: ProcessState | undefined;
  private rProc: ProcessState | undefined;
  private rStart = -1;
  private rRegion: RegionState | undefined;
  private aRegion: RegionState | undefined;
  private aWindow = -1;
  private aAcc: RegionAcc | undefined;

  constructor(c: ProcessorConfig, gate: WindowGate, sortedRegions: WeakMap<ProcessState, RegionState[]>) {
    this.c = c;
    this.gate = gate;
    this.sortedRegions = sortedRegions;
    this.regionBytes = c.regionBytes;
    this.basePageBytes = c.scorer.basePageKb * KB;
    this.pmdOrder = orderOfSizeKb(2048, c.scorer.basePageKb);
  }

  /** A batch of host h begins. */
  begin(h: HostState, rows: FaultRows): void {
    this.h = h;
    this.rows = rows;
  }

  /** Forgets the cached lookups (a window closed, or a batch failed halfway). */
  clear(): void {
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

  /** The host's process (pid, startNs), made if new; byPid then points at it. */
  processOf(pid: number, startNs: number): ProcessState {
    if (pid === this.cPid && startNs === this.cStart && this.cProc) return this.cProc;
    const h = this.h;
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
  }

  /** The host's process (pid, startNs) if it is tracked; never makes one. */
  knownProcess(pid: number, startNs: number): ProcessState | undefined {
    const p = this.h.byPid.get(pid);
    return p && p.startNs === startNs ? p : this.h.processes.get(`${pid}/${startNs}`);
  }

  /** The process's region starting at `start`, made (first seen in window w) if new. */
  regionOf(p: ProcessState, start: number, bytes: number, w: number): RegionState {
    if (p === this.rProc && start === this.rStart && this.rRegion) return this.rRegion;
    // Keyed by region index: a small integer key, where a raw address would box on every lookup.
    const key = start / this.regionBytes;
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
  }

  /** The region's acc of window w, made if it has none. */
  accOf(r: RegionState, w: number): RegionAcc {
    if (r === this.aRegion && w === this.aWindow && this.aAcc) return this.aAcc;
    const a = regionAccOf(r, w);
    this.aRegion = r;
    this.aWindow = w;
    this.aAcc = a;
    return a;
  }

  /** The host's acc of window w, made if it has none. */
  hostAcc(w: number): HostAcc {
    const h = this.h;
    let a = h.acc.get(w);
    if (!a) {
      a = newHostAcc();
      h.acc.set(w, a);
    }
    return a;
  }

  /** Host-level events that only count (one more per admitted row of window w): tsNs are the rows' times. */
  countHostEvents(tsNs: ArrayLike<number>, from: number, to: number, counter: HostEventCounter): void {
    for (let i = from; i < to; i++) {
      const w = this.gate.admit(this.h, tsNs[i]!);
      if (w >= 0) this.hostAcc(w)[counter]++;
    }
  }

  /** The start of the region an address falls in. */
  regionStartOf(address: number): number {
    return address - (address % this.regionBytes);
  }
}
