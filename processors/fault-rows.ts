/**
 * The faults' fast path: a per-host open-addressing table of 64-byte rows
 * where the faults of a region's newest window add up, flushed into the
 * RegionAccs before anything reads them. A cache over the host's state
 * (never checkpointed): see FaultRows.
 */
import type { RegionAcc, RegionState } from './state.js';

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
export class FaultRows {
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
