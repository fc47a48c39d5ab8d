/**
 * Typed events from the probes: the ring buffer's records decoded with the
 * layouts generated from bpf/pageloop.h, plus fault summaries built from the
 * in-kernel aggregation maps.
 */
import { PageloopError } from '../lib/errors.js';
import {
  Kind,
  FAULT_EVENT_SIZE,
  PROMOTION_EVENT_SIZE,
  COLLAPSE_EVENT_SIZE,
  COMPACTION_EVENT_SIZE,
  COMPACTION_DEFER_EVENT_SIZE,
  KCOMPACTD_WAKE_EVENT_SIZE,
  SWAP_OUT_EVENT_SIZE,
  SWAP_IN_EVENT_SIZE,
  SWAP_ENTRIES_EVENT_SIZE,
  RECLAIM_EVENT_SIZE,
  BENCH_EVENT_SIZE,
  decodeFaultEventTagged,
  decodePromotionEventTagged,
  decodeCollapseEventTagged,
  decodeCompactionEventTagged,
  decodeCompactionDeferEventTagged,
  decodeKcompactdWakeEventTagged,
  decodeSwapOutEventTagged,
  decodeSwapInEventTagged,
  decodeSwapEntriesEventTagged,
  decodeReclaimEventTagged,
  decodeBenchEventTagged,
  type FaultEvent,
  type PromotionEvent,
  type CollapseEvent,
  type CompactionEvent,
  type CompactionDeferEvent,
  type KcompactdWakeEvent,
  type SwapOutEvent,
  type SwapInEvent,
  type SwapEntriesEvent,
  type ReclaimEvent,
  type BenchEvent,
} from './layout.generated.js';

export const FAMILIES = ['fault', 'promotion', 'collapse', 'compaction', 'swap'] as const;
export type FamilyName = (typeof FAMILIES)[number];

/** Faults of one process in one region since the previous summary. */
export interface FaultSummary {
  pid: number;
  startNs: number;
  regionStart: number;
  regionBytes: number;
  faults: number;
  writeFaults: number;
  instrFaults: number;
  protFaults: number;
  firstNs: number;
  lastNs: number;
  hint: number;
  /**
   * 1: the counts are exact. N > 1: minor faults were sampled one in N and
   * each sample counted N times, so the counts are estimates, already
   * scaled (major faults, when the swap family runs, are still counted one
   * by one). 0 only in a record from a collector that predates the field:
   * exact. Travels as FaultSummaries.sample_period.
   */
  samplePeriod: number;
  /**
   * 1: the process had exited by this sweep, so these are its last counts
   * (a row with faults 0 only says so). 0: alive, or a collector from
   * before the field. Travels as FaultSummaries.exited.
   */
  exited: number;
}

export type ProbeEvent =
  | ({ type: 'fault' } & FaultEvent)
  | ({ type: 'fault_summary' } & FaultSummary)
  | ({ type: 'promotion' } & PromotionEvent)
  | ({ type: 'collapse' } & CollapseEvent)
  | ({ type: 'compaction' } & CompactionEvent)
  | ({ type: 'compaction_defer' } & CompactionDeferEvent)
  | ({ type: 'kcompactd_wake' } & KcompactdWakeEvent)
  | ({ type: 'swap_out' } & SwapOutEvent)
  | ({ type: 'swap_in' } & SwapInEvent)
  | ({ type: 'swap_entries' } & SwapEntriesEvent)
  | ({ type: 'reclaim' } & ReclaimEvent)
  | ({ type: 'bench' } & BenchEvent);

export type ProbeEventType = ProbeEvent['type'];

export const FAMILY_OF: Record<ProbeEventType, FamilyName | 'bench'> = {
  fault: 'fault',
  fault_summary: 'fault',
  promotion: 'promotion',
  collapse: 'collapse',
  compaction: 'compaction',
  compaction_defer: 'compaction',
  kcompactd_wake: 'compaction',
  swap_out: 'swap',
  swap_in: 'swap',
  swap_entries: 'swap',
  reclaim: 'swap',
  bench: 'bench',
};

/** The family of each ring-buffer record kind (the drain benchmark's records belong to none). */
export const FAMILY_OF_KIND: Readonly<Record<number, FamilyName | undefined>> = {
  [Kind.PL_KIND_FAULT]: 'fault',
  [Kind.PL_KIND_PROMOTION]: 'promotion',
  [Kind.PL_KIND_COLLAPSE]: 'collapse',
  [Kind.PL_KIND_COMPACTION]: 'compaction',
  [Kind.PL_KIND_COMPACTION_DEFER]: 'compaction',
  [Kind.PL_KIND_KCOMPACTD_WAKE]: 'compaction',
  [Kind.PL_KIND_SWAP_OUT]: 'swap',
  [Kind.PL_KIND_SWAP_IN]: 'swap',
  [Kind.PL_KIND_SWAP_ENTRIES]: 'swap',
  [Kind.PL_KIND_RECLAIM]: 'swap',
};

/** Offset of pl_header.kind inside every record. */
const KIND_OFFSET = 24;
const FRAME_HEADER = 8;

/** The bytes each record kind's decoder reads (a longer record, from a newer BPF object, is fine). */
const RECORD_BYTES: Readonly<Record<number, number>> = {
  [Kind.PL_KIND_FAULT]: FAULT_EVENT_SIZE,
  [Kind.PL_KIND_PROMOTION]: PROMOTION_EVENT_SIZE,
  [Kind.PL_KIND_COLLAPSE]: COLLAPSE_EVENT_SIZE,
  [Kind.PL_KIND_COMPACTION]: COMPACTION_EVENT_SIZE,
  [Kind.PL_KIND_COMPACTION_DEFER]: COMPACTION_DEFER_EVENT_SIZE,
  [Kind.PL_KIND_KCOMPACTD_WAKE]: KCOMPACTD_WAKE_EVENT_SIZE,
  [Kind.PL_KIND_SWAP_OUT]: SWAP_OUT_EVENT_SIZE,
  [Kind.PL_KIND_SWAP_IN]: SWAP_IN_EVENT_SIZE,
  [Kind.PL_KIND_SWAP_ENTRIES]: SWAP_ENTRIES_EVENT_SIZE,
  [Kind.PL_KIND_RECLAIM]: RECLAIM_EVENT_SIZE,
  [Kind.PL_KIND_BENCH]: BENCH_EVENT_SIZE,
};

/**
 * A drained batch that does not frame: a record running past the end of the
 * batch, or shorter than its kind. The addon and the BPF object disagree;
 * decoding on would read the neighbouring record as this one's fields.
 */
export class RingRecordError extends PageloopError {
  constructor(message: string) {
    super('ring-record', message);
    this.name = 'RingRecordError';
  }
}

/**
 * Walks a drained batch: calls fn with each record's offset, length and kind.
 * Checks the framing first (each record inside the batch), so fn never reads
 * past the batch; decodeRecord and checkFrames check each kind's length.
 */
export function forEachRecord(batch: Buffer, fn: (at: number, length: number, kind: number) => void): void {
  let at = 0;
  while (at + FRAME_HEADER <= batch.length) {
    const length = batch.readUInt32LE(at);
    const record = at + FRAME_HEADER;
    if (record + Math.max(length, KIND_OFFSET + 2) > batch.length) {
      throw new RingRecordError(`ring-buffer record at byte ${at}: its ${length} bytes run past the end of the ${batch.length}-byte batch`);
    }
    fn(record, length, batch.readUInt16LE(record + KIND_OFFSET));
    at = record + ((length + 7) & ~7);
  }
  if (at !== batch.length) throw new RingRecordError(`ring-buffer batch of ${batch.length} bytes: its frames end at byte ${at} (a frame is padded to 8 bytes: the batch is cut short or has trailing bytes)`);
}

function checkLength(at: number, length: number, kind: number): void {
  const need = RECORD_BYTES[kind];
  if (need !== undefined && length < need) throw new RingRecordError(`ring-buffer record at byte ${at - FRAME_HEADER}: kind ${kind} is ${need} bytes, the frame says ${length}`);
}

/** RECORD_BYTES as an array by kind (0: no layout), for checkFrames' loop. */
const RECORD_BYTES_BY_KIND: readonly number[] = Array.from({ length: Math.max(...Object.keys(RECORD_BYTES).map(Number)) + 1 }, (_, k) => RECORD_BYTES[k] ?? 0);

/**
 * Throws RingRecordError unless every record is inside the batch and as long
 * as its kind: what a walk that reads fields unchecked needs (the
 * collector's encoders). One tight loop: it runs on every drained batch.
 */
export function checkFrames(batch: Buffer): void {
  const n = batch.length;
  const view = new DataView(batch.buffer, batch.byteOffset, n);
  let at = 0;
  while (at + FRAME_HEADER <= n) {
    const length = view.getUint32(at, true);
    const record = at + FRAME_HEADER;
    if (record + (length > KIND_OFFSET + 2 ? length : KIND_OFFSET + 2) > n) break;
    const kind = view.getUint16(record + KIND_OFFSET, true);
    if (length < (RECORD_BYTES_BY_KIND[kind] ?? 0)) checkLength(record, length, kind);
    at = record + ((length + 7) & ~7);
  }
  // The walk stopped early or ran past the end: forEachRecord says where.
  if (at !== n) forEachRecord(batch, () => undefined);
}

export class UnknownRecordError extends RingRecordError {
  constructor(
    readonly kind: number,
    readonly length: number,
  ) {
    super(`unknown record kind ${kind} (${length} bytes): the BPF object and this decoder disagree`);
    this.name = 'UnknownRecordError';
  }
}

/** Decodes the record at `at` (after its frame header), or throws RingRecordError when it is not all there. */
export function decodeRecord(buf: Buffer, at: number, length: number, kind: number): ProbeEvent {
  checkLength(at, length, kind);
  if (at + length > buf.length) throw new RingRecordError(`ring-buffer record at byte ${at - FRAME_HEADER}: its ${length} bytes run past the end of the ${buf.length}-byte batch`);
  switch (kind) {
    case Kind.PL_KIND_FAULT:
      return decodeFaultEventTagged(buf, at, 'fault');
    case Kind.PL_KIND_PROMOTION:
      return decodePromotionEventTagged(buf, at, 'promotion');
    case Kind.PL_KIND_COLLAPSE:
      return decodeCollapseEventTagged(buf, at, 'collapse');
    case Kind.PL_KIND_COMPACTION:
      return decodeCompactionEventTagged(buf, at, 'compaction');
    case Kind.PL_KIND_COMPACTION_DEFER:
      return decodeCompactionDeferEventTagged(buf, at, 'compaction_defer');
    case Kind.PL_KIND_KCOMPACTD_WAKE:
      return decodeKcompactdWakeEventTagged(buf, at, 'kcompactd_wake');
    case Kind.PL_KIND_SWAP_OUT:
      return decodeSwapOutEventTagged(buf, at, 'swap_out');
    case Kind.PL_KIND_SWAP_IN:
      return decodeSwapInEventTagged(buf, at, 'swap_in');
    case Kind.PL_KIND_SWAP_ENTRIES:
      return decodeSwapEntriesEventTagged(buf, at, 'swap_entries');
    case Kind.PL_KIND_RECLAIM:
      return decodeReclaimEventTagged(buf, at, 'reclaim');
    case Kind.PL_KIND_BENCH:
      return decodeBenchEventTagged(buf, at, 'bench');
    default:
      throw new UnknownRecordError(kind, length);
  }
}

export function decodeBatch(batch: Buffer): ProbeEvent[] {
  const events: ProbeEvent[] = [];
  forEachRecord(batch, (at, length, kind) => events.push(decodeRecord(batch, at, length, kind)));
  return events;
}

/** The subject process of an event, for filtering and identity. */
export function eventPid(e: ProbeEvent): number {
  return e.type === 'fault_summary' ? e.pid : e.h.pid;
}

/** Event time, CLOCK_BOOTTIME ns. */
export function eventTimeNs(e: ProbeEvent): number {
  return e.type === 'fault_summary' ? e.lastNs : e.h.tsNs;
}

/** A flat JSON-friendly object: the header's fields first, then the event's. */
export function eventToJson(e: ProbeEvent): Record<string, unknown> {
  if (e.type === 'fault_summary') return { ...e, tsNs: e.lastNs };
  const { h, type, ...rest } = e;
  return { type, tsNs: h.tsNs, pid: h.pid, startNs: h.startNs, tid: h.tid, cpu: h.cpu, hint: h.hint, ...rest };
}
