/**
 * One recorded EventBatch as another host's: new identity (host, boot id,
 * collector id, sequence) and every event time moved by the same offset, so
 * one real recording replays as many distinct hosts, and loops without time
 * running backwards. Durations and intervals are relative and stay.
 */
import type { EventBatch } from '../../schemas/event-batch.js';

export interface RebaseTarget {
  readonly host: string;
  readonly bootId: string;
  readonly collectorId: string;
  readonly sequence: number;
  /** Added to every absolute boot-clock time in the batch. */
  readonly shiftNs: number;
}

/** Fields named *Ns that hold a length of time, not a point in it. */
const RELATIVE_NS = new Set(['durationNs', 'intervalNs']);

function shiftTree(v: unknown, shiftNs: number, key: string): unknown {
  if (Array.isArray(v)) {
    if (key.endsWith('Ns') && !RELATIVE_NS.has(key)) return v.map((t: number) => (t === 0 ? 0 : t + shiftNs));
    return v.map((x) => shiftTree(x, shiftNs, ''));
  }
  if (typeof v === 'number') return key.endsWith('Ns') && !RELATIVE_NS.has(key) && v !== 0 ? v + shiftNs : v;
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = shiftTree(x, shiftNs, k);
  return out;
}

/** A copy of the batch as the target host's; the input is not changed. */
export function rebaseEventBatch(batch: EventBatch, to: RebaseTarget): EventBatch {
  const shifted = shiftTree(batch, to.shiftNs, '') as EventBatch;
  return { ...shifted, host: to.host, bootId: to.bootId, collectorId: to.collectorId, sequence: to.sequence };
}
