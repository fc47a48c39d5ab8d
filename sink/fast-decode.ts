/**
 * A faster EventBatch decode for the sink: the raw faults block, which is
 * nearly all of a busy host's bytes, is read straight into typed arrays;
 * everything else goes through schemas/event-batch-codec.ts's decodeEventBatch.
 *
 * Why: decodeEventBatch pushes every value into a growing JS array and the
 * sink then copies it into Native columns; that decode was half of the
 * sink's CPU per row. Reading packed varints into preallocated typed
 * arrays is about three times cheaper.
 *
 * Same answers, by construction: the fast path only accepts what it fully
 * understands (one faults field, known fields with their usual wire types,
 * varints of at most 7 bytes for u64 and 5 for u32, columns empty or
 * `rows` long, an order that agrees with the blocks) and hands anything
 * else, valid or not, to decodeEventBatch, whose result or WireDecodeError
 * is then the answer. fast-decode.test.ts holds the two paths equal.
 */
import type { EventBatch, FaultColumns } from '../schemas/event-batch.js';
import { decodeEventBatch } from '../schemas/event-batch-codec.js';
import { NOT_FAST, NotFast, ProtoReader, WIRE_LEN, WIRE_VARINT, splitFieldsOrBail } from '../schemas/proto-reader.js';
import { readOrderOrBail } from '../schemas/typed-decode.js';

/** A fault block's columns, as Float64Arrays (all `rows` long; what the Native writers take). */
export interface FastFaultColumns {
  rows: number;
  h: { tsNs: Float64Array; startNs: Float64Array; pid: Float64Array; tid: Float64Array; cpu: Float64Array; hint: Float64Array };
  address: Float64Array;
  ip: Float64Array;
  errorCode: Float64Array;
  sampleWeight: Float64Array;
}

/** Column access the sink needs: number[] (decodeEventBatch) or typed arrays (the fast path). */
export type FaultColumnsLike = FaultColumns | FastFaultColumns;

/** An EventBatch whose faults may be typed arrays. */
export type SinkEventBatch = Omit<EventBatch, 'faults'> & { faults: FaultColumnsLike };

const FIELD_ORDER = 7;
const FIELD_FAULTS = 16;

/** EventType numbers (schemas/pageloop.proto) to the batch's block keys. */
const BLOCK_OF_EVENT_TYPE: Readonly<Record<number, keyof EventBatch>> = {
  1: 'faults',
  2: 'promotions',
  3: 'collapses',
  4: 'compactions',
  5: 'compactionDefers',
  6: 'kcompactdWakes',
  7: 'swapOuts',
  8: 'swapIns',
  9: 'swapEntries',
  10: 'reclaims',
  12: 'faultSummaries',
};

interface ColumnSpans {
  rows: number;
  /** field number -> [start, end) of its packed payload; sub-message h's fields as 100 + n. */
  spans: Map<number, [number, number]>;
}

function scanBlock(buf: Buffer, start: number, end: number): ColumnSpans {
  const spans = new Map<number, [number, number]>();
  let rows = 0;
  let sawRows = false;
  const r = new ProtoReader(buf, start, end);
  while (r.pos < end) {
    const key = r.u32OrBail();
    const id = key >>> 3;
    const wire = key & 7;
    if (id === 1 && wire === WIRE_VARINT && !sawRows) {
      rows = r.u32OrBail();
      sawRows = true;
    } else if (id === 2 && wire === WIRE_LEN && !spans.has(100)) {
      const [hs, he] = r.spanOrBail();
      spans.set(100, [hs, he]);
      const h = new ProtoReader(buf, hs, he);
      while (h.pos < he) {
        const k = h.u32OrBail();
        const hid = k >>> 3;
        if ((k & 7) !== WIRE_LEN || hid < 1 || hid > 6 || spans.has(100 + hid)) throw NOT_FAST;
        spans.set(100 + hid, h.spanOrBail());
      }
    } else if (id >= 3 && id <= 6 && wire === WIRE_LEN && !spans.has(id)) {
      spans.set(id, r.spanOrBail());
    } else {
      throw NOT_FAST;
    }
  }
  return { rows, spans };
}

function decodeFaults(buf: Buffer, start: number, end: number): FastFaultColumns {
  const { rows, spans } = scanBlock(buf, start, end);
  let present = 0;
  const u64 = (id: number): Float64Array => {
    const out = new Float64Array(rows);
    const s = spans.get(id);
    if (s && s[1] > s[0]) {
      present++;
      if (new ProtoReader(buf, s[0], s[1]).packedU64IntoOrBail(out) !== rows) throw NOT_FAST;
    }
    return out;
  };
  const u32 = (id: number): Float64Array => {
    const out = new Float64Array(rows);
    const s = spans.get(id);
    if (s && s[1] > s[0]) {
      present++;
      if (new ProtoReader(buf, s[0], s[1]).packed32IntoOrBail(out, false) !== rows) throw NOT_FAST;
    }
    return out;
  };
  const f: FastFaultColumns = {
    rows,
    h: { tsNs: u64(101), startNs: u64(102), pid: u32(103), tid: u32(104), cpu: u32(105), hint: u32(106) },
    address: u64(3),
    ip: u64(4),
    errorCode: u32(5),
    sampleWeight: u32(6),
  };
  // A block with rows keeps a column (decodeEventBatch refuses one without).
  if (rows > 0 && present === 0) throw NOT_FAST;
  return f;
}

/**
 * decodeEventBatch's answer, with the faults block as typed arrays when the
 * fast path takes the record. Throws WireDecodeError exactly when
 * decodeEventBatch does.
 */
export function decodeEventBatchFast(bytes: Uint8Array): SinkEventBatch {
  let parts: { buf: Buffer; rest: Uint8Array; faults: [number, number]; order: [number, number] | undefined } | undefined;
  try {
    parts = split(bytes);
  } catch (err) {
    if (!(err instanceof NotFast)) throw err;
  }
  if (!parts) return decodeEventBatch(bytes);
  let faults: FastFaultColumns;
  let order: { type: number[]; run: number[] } | undefined;
  try {
    faults = decodeFaults(parts.buf, parts.faults[0], parts.faults[1]);
    order = parts.order ? readOrderOrBail(parts.buf, parts.order[0], parts.order[1]) : undefined;
  } catch (err) {
    if (err instanceof NotFast) return decodeEventBatch(bytes);
    throw err;
  }
  // Everything else, checked as usual; if that fails, the whole record goes
  // the slow way so the error names the record's own bytes.
  let rest: EventBatch;
  try {
    rest = decodeEventBatch(parts.rest);
  } catch {
    return decodeEventBatch(bytes);
  }
  const batch: SinkEventBatch = { ...rest, faults };
  if (!order) return batch;
  const names = orderNames(order);
  if (!names || !orderAgrees(order, batch)) return decodeEventBatch(bytes);
  return { ...batch, order: names };
}

const SPLIT_OUT: ReadonlySet<number> = new Set([FIELD_FAULTS, FIELD_ORDER]);

/** The top-level split: the faults payload, the order payload, the rest re-assembled. */
function split(bytes: Uint8Array): { buf: Buffer; rest: Uint8Array; faults: [number, number]; order: [number, number] | undefined } | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined; // decodeEventBatch names the problem
  const r = ProtoReader.of(bytes);
  const { spans, rest } = splitFieldsOrBail(r, SPLIT_OUT);
  const faults = spans.get(FIELD_FAULTS);
  if (!faults) return undefined; // nothing to gain
  return { buf: r.buf, rest, faults, order: spans.get(FIELD_ORDER) };
}

/** The checks decodeEventBatch makes of an order, against the decoded blocks. */
function orderAgrees(order: { type: number[]; run: number[] }, b: SinkEventBatch): boolean {
  if (order.type.length !== order.run.length) return false;
  const seen = new Map<string, number>();
  for (let i = 0; i < order.type.length; i++) {
    const key = BLOCK_OF_EVENT_TYPE[order.type[i]!];
    if (key === undefined) return false;
    seen.set(key, (seen.get(key) ?? 0) + order.run[i]!);
  }
  if (order.type.length === 0) return true;
  for (const key of Object.values(BLOCK_OF_EVENT_TYPE)) {
    const rows = (b[key as keyof SinkEventBatch] as { rows: number }).rows;
    if ((seen.get(key) ?? 0) !== rows) return false;
  }
  return true;
}

const TYPE_NAME: Readonly<Record<number, EventBatch['order']['type'][number]>> = {
  1: 'fault',
  2: 'promotion',
  3: 'collapse',
  4: 'compaction',
  5: 'compaction_defer',
  6: 'kcompactd_wake',
  7: 'swap_out',
  8: 'swap_in',
  9: 'swap_entries',
  10: 'reclaim',
  12: 'fault_summary',
};

function orderNames(order: { type: number[]; run: number[] }): EventBatch['order'] | undefined {
  const type = order.type.map((t) => TYPE_NAME[t]);
  if (type.some((t) => t === undefined)) return undefined;
  return { type: type as EventBatch['order']['type'], run: order.run };
}
