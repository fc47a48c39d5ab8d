/**
 * EventBatch from and to rows: a batch built from drained events
 * (ProbeEvent objects) or straight from the ring-buffer records' bytes,
 * plus the samplers' records (vmstat, PSI, DAMON); and back, the events in
 * their original order and the sampler rows. What a row of each type holds
 * comes from schemas/event-blocks.ts.
 */
import { eventTimeNs, type ProbeEvent } from '../bpf/events.js';
import type { BatchMeta, DamonColumns, DamonRegion, EventBatch, PsiColumns, PsiSample, SamplerBlocks, VmstatColumns, VmstatSample, WireEventType } from './event-batch.js';
import {
  FRAME_HEADER,
  HEADER_KIND_OFFSET,
  HEADER_TS_OFFSET,
  TWO_32,
  blockShape,
  emptyBlock,
  eventSpecs,
  fullBatch,
  type Block,
  type EventSpec,
  type SamplerKey,
} from './event-blocks.js';
import { zeroOf } from './proto-reflect.js';
import { WireDecodeError } from './wire-errors.js';

/** Columns from row objects whose keys are the column names. */
function rowsToBlock(key: SamplerKey, rows: readonly object[]): Block {
  const block = emptyBlock(key);
  block.rows = rows.length;
  for (const c of blockShape(key).columns) {
    const col = block[c.name] as unknown[];
    for (const row of rows) col.push((row as Record<string, unknown>)[c.name]);
  }
  return block;
}

function blockToRows<T>(key: SamplerKey, block: Block): T[] {
  const columns = blockShape(key).columns;
  const out: T[] = [];
  for (let i = 0; i < block.rows; i++) {
    const row: Record<string, unknown> = {};
    for (const c of columns) {
      const col = block[c.name] as unknown[];
      row[c.name] = col.length === 0 ? zeroOf(c.kind) : col[i];
    }
    out.push(row as T);
  }
  return out;
}

function vmstatToBlock(samples: readonly VmstatSample[]): VmstatColumns {
  const index = new Map<string, number>();
  const v: VmstatColumns = { rows: samples.length, tsNs: [], intervalNs: [], entries: [], names: [], nameIndex: [], delta: [] };
  for (const s of samples) {
    v.tsNs.push(s.tsNs);
    v.intervalNs.push(s.intervalNs);
    const entries = Object.entries(s.deltas);
    v.entries.push(entries.length);
    for (const [name, delta] of entries) {
      let at = index.get(name);
      if (at === undefined) {
        at = v.names.length;
        index.set(name, at);
        v.names.push(name);
      }
      v.nameIndex.push(at);
      v.delta.push(delta);
    }
  }
  return v;
}

function vmstatFromBlock(v: VmstatColumns): VmstatSample[] {
  const out: VmstatSample[] = [];
  let at = 0;
  for (let i = 0; i < v.rows; i++) {
    const deltas: Record<string, number> = {};
    const n = v.entries.length === 0 ? 0 : v.entries[i]!;
    for (let k = 0; k < n; k++, at++) deltas[v.names[v.nameIndex[at]!]!] = v.delta[at]!;
    out.push({ tsNs: v.tsNs.length === 0 ? 0 : v.tsNs[i]!, intervalNs: v.intervalNs.length === 0 ? 0 : v.intervalNs[i]!, deltas });
  }
  return out;
}

/**
 * Builds the columnar batch for a drained set of events (in the order
 * given) plus sampler records. Bench events are left out: they only exist
 * for the drain benchmark and are not part of the contract.
 */
export function eventBatchFromProbeEvents(meta: BatchMeta, events: readonly ProbeEvent[]): EventBatch {
  return eventBatchFromRecords(meta, [], events);
}



/**
 * Builds the columnar batch from drained ring-buffer batches (framed as the
 * addon hands them over: u32 length, u32 0, record padded to 8) followed by
 * events built in user space (fault summaries), with sampler records. The
 * result equals eventBatchFromProbeEvents(meta, [...decoded frames, ...events]).
 */
export function eventBatchFromRecords(meta: BatchMeta, frames: readonly Buffer[], events: readonly ProbeEvent[]): EventBatch {
  const specs = eventSpecs();
  const batch = fullBatch({
    host: meta.host,
    bootId: meta.bootId,
    collectorId: meta.collectorId,
    sequence: meta.sequence,
    firstEventNs: 0,
    lastEventNs: 0,
  });
  let first = Infinity;
  let last = -Infinity;
  const note = (t: number): void => {
    if (t < first) first = t;
    if (t > last) last = t;
  };
  const order = batch.order;
  const noteType = (type: WireEventType): void => {
    const n = order.type.length;
    if (n > 0 && order.type[n - 1] === type) order.run[n - 1]!++;
    else {
      order.type.push(type);
      order.run.push(1);
    }
  };
  const byKind = new Map<number, EventSpec>();
  for (const spec of specs.events) if (spec.kind !== undefined && spec.pushRecord) byKind.set(spec.kind, spec);
  for (const buf of frames) {
    let at = 0;
    while (at + FRAME_HEADER <= buf.length) {
      const length = buf.readUInt32LE(at);
      const record = at + FRAME_HEADER;
      at = record + ((length + 7) & ~7);
      const spec = byKind.get(buf.readUInt16LE(record + HEADER_KIND_OFFSET));
      if (!spec) continue; // bench records are not part of the contract
      spec.pushRecord!(buf, record, batch[spec.key] as unknown as Block);
      note(buf.readUInt32LE(record + HEADER_TS_OFFSET) + buf.readUInt32LE(record + HEADER_TS_OFFSET + 4) * TWO_32);
      noteType(spec.type);
    }
  }
  for (const e of events) {
    if (e.type === 'bench') continue;
    const spec = specs.byType.get(e.type)!;
    spec.push(e, batch[spec.key] as unknown as Block);
    note(eventTimeNs(e));
    noteType(e.type);
  }
  if (meta.vmstat) batch.vmstat = vmstatToBlock(meta.vmstat);
  if (meta.psi) batch.psi = rowsToBlock('psi', meta.psi) as unknown as PsiColumns;
  if (meta.damon) batch.damon = rowsToBlock('damon', meta.damon) as unknown as DamonColumns;
  for (const s of [...(meta.vmstat ?? []), ...(meta.psi ?? []), ...(meta.damon ?? [])]) note(s.tsNs);
  if (first !== Infinity) {
    batch.firstEventNs = first;
    batch.lastEventNs = last;
  }
  batch.loss = Object.entries(meta.loss ?? {}).map(([family, perCpu]) => ({ family, perCpu: [...perCpu] }));
  batch.dropped = Object.entries(meta.dropped ?? {}).map(([family, events]) => ({ family, events }));
  return batch;
}

/** The events of a batch, in their original order (or in EventType order when the batch has none). */
export function probeEventsFromEventBatch(batch: EventBatch): ProbeEvent[] {
  const specs = eventSpecs();
  const runs: [EventSpec, number][] =
    batch.order.type.length > 0
      ? batch.order.type.map((t, i) => [specs.byType.get(t)!, batch.order.run[i]!])
      : specs.events.map((s) => [s, batch[s.key].rows]);
  const cursor = new Map<string, number>();
  const out: ProbeEvent[] = [];
  for (const [spec, run] of runs) {
    const block = batch[spec.key] as unknown as Block;
    let i = cursor.get(spec.type) ?? 0;
    if (i + run > block.rows) throw new WireDecodeError('EventBatch', `order: more ${spec.type} events than rows in ${spec.key}`);
    const make = spec.make(block);
    for (const end = i + run; i < end; i++) out.push(make(i));
    cursor.set(spec.type, i);
  }
  return out;
}

/** The sampler records of a batch, as rows. */
export function samplesFromEventBatch(batch: SamplerBlocks): { vmstat: VmstatSample[]; psi: PsiSample[]; damon: DamonRegion[] } {
  return {
    vmstat: vmstatFromBlock(batch.vmstat),
    psi: blockToRows<PsiSample>('psi', batch.psi as unknown as Block),
    damon: blockToRows<DamonRegion>('damon', batch.damon as unknown as Block),
  };
}

/** Total events (not sampler rows) in a batch. */
export function eventCount(batch: EventBatch): number {
  let n = 0;
  for (const spec of eventSpecs().events) n += batch[spec.key].rows;
  return n;
}
