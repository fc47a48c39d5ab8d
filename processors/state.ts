/**
 * The state of one input partition (per host inside it): plain data and
 * Maps only, so a checkpoint is a structured clone of it (v8.serialize
 * keeps numbers exact, -Infinity, and Map insertion order, so a restored
 * state is indistinguishable from the live one).
 */
import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { PageloopError, errorMessage } from '../lib/errors.js';
import type { HostCost, OrderStats } from './model.js';
import type { PhaseState } from './phases.js';
import type { Desired, PlanAction } from './planner.js';
import type { TunerState } from './tuner.js';

/** What one region saw in one window. */
export interface RegionAcc {
  /** Region events (a fault summary counts its faults). */
  events: number;
  faults: number;
  writeFaults: number;
  instrFaults: number;
  protFaults: number;
  /** Faults in the region's first window: first touch, not access frequency. */
  firstTouchFaults: number;
  /** Faults after the first window: NUMA hinting faults and re-touches, i.e. access samples. */
  accessFaults: number;
  /** Major faults (swap-ins, file reads). */
  majorFaults: number;
  /** Swap-ins of pages this region swapped out earlier. */
  refaults: number;
  refaultDistanceNs: number;
  promotions: number;
  promotionFailures: number;
  /** Successful promotions by page size (KiB): null until the first. */
  promotionsBySize: Map<number, number> | null;
  swapOuts: number;
  swapOutPages: number;
  damonSum: number;
  damonRows: number;
}

/** What a region saw in one window, before anything. */
export function newRegionAcc(): RegionAcc {
  return {
    events: 0,
    faults: 0,
    writeFaults: 0,
    instrFaults: 0,
    protFaults: 0,
    firstTouchFaults: 0,
    accessFaults: 0,
    majorFaults: 0,
    refaults: 0,
    refaultDistanceNs: 0,
    promotions: 0,
    promotionFailures: 0,
    promotionsBySize: null,
    swapOuts: 0,
    swapOutPages: 0,
    damonSum: 0,
    damonRows: 0,
  };
}

/** A region first seen in window w; key = start / the configured region size. */
export function newRegionState(key: number, start: number, bytes: number, w: number): RegionState {
  return {
    key,
    start,
    bytes,
    firstWindow: w,
    lastEventWindow: w,
    lastAccessWindow: w,
    touchedPages: 0,
    swapped: null,
    accW: -1,
    accCur: null,
    prevW: -1,
    prevAcc: null,
    olderAccs: null,
    hint: null,
    cand: null,
    streak: 0,
    refaultsDecayed: 0,
    refaultDistanceNs: 0,
  };
}

/** The region's acc of window w, made if it has none. */
export function regionAccOf(r: RegionState, w: number): RegionAcc {
  if (r.accCur !== null && w === r.accW) return r.accCur;
  if (r.accCur === null || w > r.accW) {
    // A newer window: the newest so far becomes the one before it.
    if (r.accCur !== null) keepAsPrevious(r, r.accW, r.accCur);
    r.accW = w;
    r.accCur = newRegionAcc();
    return r.accCur;
  }
  if (r.prevAcc !== null && w === r.prevW) return r.prevAcc;
  if (r.prevAcc === null || w > r.prevW) {
    keepAsPrevious(r, w, newRegionAcc());
    return r.prevAcc!;
  }
  let a = r.olderAccs?.get(w);
  if (!a) {
    a = newRegionAcc();
    (r.olderAccs ??= new Map()).set(w, a);
  }
  return a;
}

/** acc (of window w, older than the newest and newer than the previous) becomes the previous; the previous goes to the older ones. */
function keepAsPrevious(r: RegionState, w: number, acc: RegionAcc): void {
  if (r.prevAcc !== null) (r.olderAccs ??= new Map()).set(r.prevW, r.prevAcc);
  r.prevW = w;
  r.prevAcc = acc;
}

/**
 * Takes the region's acc of window w out of it (the window is closing:
 * windows close oldest first); undefined when it saw nothing then.
 */
export function takeRegionAcc(r: RegionState, w: number): RegionAcc | undefined {
  let a: RegionAcc | undefined;
  if (r.accCur !== null && r.accW === w) {
    a = r.accCur;
    r.accCur = null;
    r.accW = -1;
  } else if (r.prevAcc !== null && r.prevW === w) {
    a = r.prevAcc;
    r.prevAcc = null;
    r.prevW = -1;
  } else if (r.olderAccs !== null) {
    a = r.olderAccs.get(w);
    if (r.olderAccs.delete(w) && r.olderAccs.size === 0) r.olderAccs = null;
  }
  return a;
}

/** Whether the region has an acc of any window still open. */
export function hasOpenAccs(r: RegionState): boolean {
  return r.accCur !== null || r.prevAcc !== null || r.olderAccs !== null;
}

/** The newest window the region has an acc of, or -1 when none. */
export function newestOpenWindow(r: RegionState): number {
  let last = Math.max(r.accCur === null ? -1 : r.accW, r.prevAcc === null ? -1 : r.prevW);
  for (const k of r.olderAccs?.keys() ?? []) last = Math.max(last, k);
  return last;
}

export interface LiveHint {
  action: PlanAction;
  sizeKb: number;
  hintId: string;
  issuedNs: number;
  expiresNs: number;
  /** Window index that issued it. */
  window: number;
}

export interface RegionState {
  /** Its key in ProcessState.regions: start / the configured regionBytes (sorted keys = sorted starts). */
  key: number;
  start: number;
  bytes: number;
  firstWindow: number;
  lastEventWindow: number;
  lastAccessWindow: number;
  /** Base pages ever touched (estimate: first-touch faults, capped at the region's pages). */
  touchedPages: number;
  /** Swapped-out base page address -> swap-out time (refault detection); null when none. */
  swapped: Map<number, number> | null;
  /**
   * What the region saw in its open windows: the newest (most events land
   * there), the one before it (still open while the next fills, for the
   * allowed lateness), and any older ones in a Map, null when none, as for
   * most regions all the time (a Map per region cost memory, and a cache
   * miss or two per region and window). A window index is -1 when its acc is null.
   */
  accW: number;
  accCur: RegionAcc | null;
  prevW: number;
  prevAcc: RegionAcc | null;
  olderAccs: Map<number, RegionAcc> | null;
  hint: LiveHint | null;
  cand: Desired | null;
  streak: number;
  /** Refaults per window, halved each window: the region's refault habit. */
  refaultsDecayed: number;
  /** Refault distance (swap-in time minus swap-out time), ns, averaged; 0 before any refault. */
  refaultDistanceNs: number;
}

export interface ProcessState {
  pid: number;
  startNs: number;
  /** Region key (start / regionBytes) -> region. */
  regions: Map<number, RegionState>;
  phase: PhaseState;
  /**
   * The collector saw it gone (a fault summary marked exited): no new hints,
   * and each region is forgotten once its windows close, not after
   * idleEvictWindows. Absent = alive (also in checkpoints from before).
   */
  exited?: true;
}

/** Host-level counts of one window. */
export interface HostAcc {
  /** Allocation order -> attempts, failures, direct compactions (raw counts of the window). */
  orders: Map<number, OrderStats>;
  reclaimNs: number;
  reclaimedPages: number;
  refaults: number;
  psiMax: number;
  compactions: number;
  compactionDefers: number;
  kcompactdWakes: number;
  collapses: number;
  collapseFailures: number;
  swapEntries: number;
  /** Swapped-out pages remembered minus refaulted, in this window. */
  pagedDelta: number;
}

export interface CollectorSeen {
  lastSeq: number;
  /** The host's nextClose window when last seen: idle collectors are forgotten. */
  lastWindow: number;
}

export interface HostCounters {
  batches: number;
  events: number;
  lateEvents: number;
  duplicates: number;
  /** Batches missing between sequence numbers of a collector (lost upstream). */
  gaps: number;
  boots: number;
}

export interface HostState {
  host: string;
  bootId: string;
  /** Max event time seen (this boot); -1 before any. */
  watermarkNs: number;
  /** Index of the earliest window not closed yet; -1 before any event. */
  nextClose: number;
  /** Input offset of the host's last record (hosts idle for hostEvictRecords records are forgotten). */
  lastOffset: number;
  collectors: Map<string, CollectorSeen>;
  acc: Map<number, HostAcc>;
  cost: HostCost;
  tuner: TunerState;
  /** Swapped-out pages remembered in this host's regions, as of the last closed window. */
  pagedOutPages: number;
  /** Key `${pid}/${startNs}`. */
  processes: Map<string, ProcessState>;
  /** pid -> the process last seen with it (the same objects as in `processes`): a fast path. */
  byPid: Map<number, ProcessState>;
  counters: HostCounters;
}

export interface PartitionState {
  partition: number;
  /** Next input offset to apply; -1 before any. */
  nextOffset: number;
  hosts: Map<string, HostState>;
  records: number;
  deadLetters: number;
}

export function newPartitionState(partition: number): PartitionState {
  return { partition, nextOffset: -1, hosts: new Map(), records: 0, deadLetters: 0 };
}

const MAGIC = 'pageloop.processor-state';
/** 3: a RegionState keeps its newest two windows' accs apart from the older ones (olderAccs). */
const VERSION = 3;

interface Envelope {
  magic: string;
  version: number;
  fingerprint: string;
  state: PartitionState;
}

/**
 * A checkpoint is framed: FRAME_MAGIC, the sha256 of the rest, then the
 * serialized envelope. v8.deserialize takes a changed byte as a changed
 * value or type, so a corrupted checkpoint restored into an engine that
 * threw TypeError on the next record, on every restart; the checksum
 * refuses it at the door (the caller then starts fresh and replays).
 */
const FRAME_MAGIC = Buffer.from('PLCK', 'latin1');
const FRAME_HEADER = FRAME_MAGIC.length + 32;

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

export function encodeCheckpoint(state: PartitionState, fingerprint: string): Buffer {
  const env: Envelope = { magic: MAGIC, version: VERSION, fingerprint, state };
  const body = serialize(env);
  return Buffer.concat([FRAME_MAGIC, sha256(body), body]);
}

/**
 * The serialized envelope inside a checkpoint, its checksum checked. A
 * checkpoint written before the frame (a v8 serialization, starting 0xFF)
 * is passed through whole: its envelope checks still apply.
 */
export function checkpointBody(bytes: Uint8Array): Uint8Array {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < FRAME_MAGIC.length || !b.subarray(0, FRAME_MAGIC.length).equals(FRAME_MAGIC)) return bytes;
  if (b.length < FRAME_HEADER) throw new CheckpointError(`checkpoint of ${b.length} bytes is cut short (its frame is ${FRAME_HEADER})`);
  const body = b.subarray(FRAME_HEADER);
  if (!sha256(body).equals(b.subarray(FRAME_MAGIC.length, FRAME_HEADER))) throw new CheckpointError('checkpoint is corrupt: its sha256 does not match');
  return body;
}

export class CheckpointError extends PageloopError {
  constructor(message: string, cause?: unknown) {
    // Not retriable: the checkpoint is unusable; the caller starts fresh and replays instead.
    super('processor-checkpoint', message, { cause });
  }
}

/** The state in a checkpoint; throws CheckpointError when it is not one of ours, or was made under another model. */
export function decodeCheckpoint(bytes: Uint8Array, fingerprint: string): PartitionState {
  let env: Partial<Envelope>;
  const body = checkpointBody(bytes);
  try {
    env = deserialize(body) as Partial<Envelope>;
  } catch (err) {
    throw new CheckpointError(`checkpoint does not deserialize: ${errorMessage(err)}`, err);
  }
  if (!env || env.magic !== MAGIC) throw new CheckpointError('not a processor checkpoint');
  if (env.version !== VERSION) throw new CheckpointError(`checkpoint version ${String(env.version)}, this build reads ${VERSION}`);
  if (env.fingerprint !== fingerprint) throw new CheckpointError('checkpoint was made under a different model config');
  if (!env.state || !(env.state.hosts instanceof Map)) throw new CheckpointError('checkpoint has no partition state');
  return env.state;
}

/** Regions and processes tracked, for stats and the benchmark. */
export function stateSize(s: PartitionState): { hosts: number; processes: number; regions: number } {
  let processes = 0;
  let regions = 0;
  for (const h of s.hosts.values()) {
    processes += h.processes.size;
    for (const p of h.processes.values()) regions += p.regions.size;
  }
  return { hosts: s.hosts.size, processes, regions };
}
