/**
 * Typed events from the probes: the ring buffer's records decoded with the
 * layouts generated from bpf/pageloop.h, plus fault summaries built from the
 * in-kernel aggregation maps.
 */
import {
  Kind,
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

/** Walks a drained batch: calls fn with each record's offset, length and kind. */
export function forEachRecord(batch: Buffer, fn: (at: number, length: number, kind: number) => void): void {
  let at = 0;
  while (at + FRAME_HEADER <= batch.length) {
    const length = batch.readUInt32LE(at);
    const record = at + FRAME_HEADER;
    fn(record, length, batch.readUInt16LE(record + KIND_OFFSET));
    at = record + ((length + 7) & ~7);
  }
}

export class UnknownRecordError extends Error {
  constructor(readonly kind: number, readonly length: number) {
    super(`unknown record kind ${kind} (${length} bytes): the BPF object and this decoder disagree`);
  }
}

export function decodeRecord(buf: Buffer, at: number, length: number, kind: number): ProbeEvent {
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
