/**
 * An EventBatch decode for the stream processors: the event blocks' numeric
 * columns come back as typed arrays (u32 -> Uint32Array, s32 -> Int32Array,
 * u64 -> Float64Array), read straight from the packed varints.
 *
 * Why: decodeEventBatch pushes every value into a growing JS array (64-bit
 * ones as doubles, which is most of its time) and fills every column left
 * off the wire (all zero) with a fresh array of zeros; the processors then
 * only read the columns. Preallocated typed arrays are written in place,
 * and an absent column is a zeroed typed array for free.
 *
 * Same answers, by construction (as sink/fast-decode.ts does for
 * the sink): the fast path takes only what it fully understands (blocks of
 * u32, s32 and u64 columns in their packed form, each field at most once,
 * varints of at most 7 bytes for u64 and 5 for 32-bit values, columns empty
 * or `rows` long, an order that agrees with the blocks) and hands anything
 * else, valid or not, to decodeEventBatch, whose result (converted) or
 * WireDecodeError is then the answer. typed-decode.test.ts holds the two
 * paths equal, value for value and error for error.
 */
import type { NumberKind, ColumnLayout, LayoutField } from './columns.js';
import type { EventBatch, EventBlocks, EventOrder, HeaderColumns, WireEventType } from './event-batch.js';
import { decodeEventBatch } from './event-batch-codec.js';
import { eventBlocksOnTheWire, type EventBlockWire } from './event-blocks.js';
import { NOT_FAST, ProtoReader, WIRE_LEN, WIRE_VARINT, splitFieldsOrBail } from './proto-reader.js';

/** A column as the processors read it: typed for numbers. */
export type NumberColumn = ArrayLike<number>;

/** A block's columns with every number[] a typed array (strings stay arrays). */
export type TypedColumns<T> = { [K in keyof T]: T[K] extends number[] ? NumberColumn : T[K] extends HeaderColumns ? TypedColumns<HeaderColumns> : T[K] };

export type TypedEventBlocks = { [K in keyof EventBlocks]: TypedColumns<EventBlocks[K]> };

/** decodeEventBatch's result with the event blocks' numbers in typed arrays. */
export type TypedEventBatch = Omit<EventBatch, keyof EventBlocks> & TypedEventBlocks;


type TypedArray = Uint32Array | Int32Array | Float64Array;
type ColumnKind = 'u32' | 's32' | 'u64';

/** One numeric column of a block: where it sits (`sub` = the nested header message's field name). */
interface ColumnPlan {
  readonly sub: string | undefined;
  readonly name: string;
  readonly id: number;
  readonly kind: ColumnKind;
}

/** How one event block is read: its layout split into the count, the header and the columns. */
interface BlockPlan {
  readonly wire: EventBlockWire;
  /** Field number of `rows`. */
  readonly countId: number;
  /** The nested header message, if the block has one. */
  readonly header: { readonly id: number; readonly name: string } | undefined;
  readonly columns: readonly ColumnPlan[];
  /** Column index by field number (top level), and by field number inside the header. */
  readonly topIndex: ReadonlyMap<number, number>;
  readonly headerIndex: ReadonlyMap<number, number>;
  /** Only u32/s32/u64 columns (and one header of them): the others go the slow way. */
  readonly fast: boolean;
}

const isColumnKind = (k: string): k is ColumnKind => k === 'u32' || k === 's32' || k === 'u64';

function planBlock(wire: EventBlockWire): BlockPlan {
  let countId = -1;
  let header: BlockPlan['header'];
  let fast = true;
  const columns: ColumnPlan[] = [];
  const topIndex = new Map<number, number>();
  const headerIndex = new Map<number, number>();
  const addColumn = (f: LayoutField, sub: string | undefined, index: Map<number, number>): void => {
    if (!isColumnKind(f.kind)) {
      fast = false;
      return;
    }
    index.set(f.id, columns.length);
    columns.push({ sub, name: f.name, id: f.id, kind: f.kind });
  };
  for (const f of wire.layout.fields) {
    if (f.kind === 'count') countId = f.id;
    else if (f.kind === 'msg') {
      if (header) fast = false;
      header = { id: f.id, name: f.name };
      for (const hf of f.layout.fields) {
        if (hf.kind === 'count' || hf.kind === 'msg') fast = false;
        else addColumn(hf, f.name, headerIndex);
      }
    } else addColumn(f, undefined, topIndex);
  }
  return { wire, countId, header, columns, topIndex, headerIndex, fast: fast && countId >= 0 };
}

let plans:
  | {
      blocks: readonly BlockPlan[];
      byField: ReadonlyMap<number, BlockPlan>;
      /** Type name by EventType number (undefined: not an event type). */
      typeNames: readonly (WireEventType | undefined)[];
      orderField: number;
      /** The top-level fields read here: the fast blocks and the order. */
      wanted: ReadonlySet<number>;
    }
  | undefined;

function blockPlans(): NonNullable<typeof plans> {
  if (!plans) {
    const { blocks, orderField } = eventBlocksOnTheWire();
    const all = blocks.map(planBlock);
    const byField = new Map(all.filter((p) => p.fast).map((p) => [p.wire.id, p]));
    plans = {
      blocks: all,
      byField,
      typeNames: blocks.reduce<(WireEventType | undefined)[]>((names, b) => {
        names[b.eventType] = b.type;
        return names;
      }, []),
      orderField,
      wanted: new Set([...byField.keys(), orderField]),
    };
  }
  return plans;
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

function newColumn(kind: ColumnKind, rows: number): TypedArray {
  return kind === 'u64' ? new Float64Array(rows) : kind === 'u32' ? new Uint32Array(rows) : new Int32Array(rows);
}

/**
 * Column buffers a caller reuses from batch to batch: a batch decoded with
 * it is good until the next one is. Why: a fresh typed array per column per
 * batch (a dozen columns of thousands of rows) is a new ArrayBuffer each
 * time, outside the heap, and its allocation and the collections that free
 * them cost the stream processor more than reading the varints.
 */
export class ColumnScratch {
  private readonly buffers = new Map<ColumnPlan, TypedArray>();

  /** `rows` values for column c, zeroed when `zero` (else the caller overwrites every one). */
  column(c: ColumnPlan, rows: number, zero: boolean): TypedArray {
    let buf = this.buffers.get(c);
    if (!buf || buf.length < rows) {
      buf = newColumn(c.kind, Math.max(rows, 2 * (buf?.length ?? 0)));
      this.buffers.set(c, buf);
    } else if (zero) buf.fill(0, 0, rows);
    return buf.subarray(0, rows);
  }
}

function fillColumn(buf: Buffer, span: [number, number], kind: ColumnKind, out: TypedArray): void {
  const r = new ProtoReader(buf, span[0], span[1]);
  const n = kind === 'u64' ? r.packedU64IntoOrBail(out as Float64Array) : r.packed32IntoOrBail(out as Uint32Array | Int32Array, kind === 's32');
  if (n !== out.length) throw NOT_FAST;
}

type AnyBlock = Record<string, unknown> & { rows: number };

/** One event block's payload, by its plan; NOT_FAST for anything decodeEventBatch might see otherwise. */
function readBlock(plan: BlockPlan, buf: Buffer, start: number, end: number, scratch: ColumnScratch | undefined): AnyBlock {
  const spans: ([number, number] | undefined)[] = new Array<[number, number] | undefined>(plan.columns.length);
  let rows = 0;
  let sawRows = false;
  let sawHeader = false;
  const r = new ProtoReader(buf, start, end);
  while (r.pos < end) {
    const key = r.u32OrBail();
    const id = key >>> 3;
    const wire = key & 7;
    if (id === plan.countId) {
      if (wire !== WIRE_VARINT || sawRows) throw NOT_FAST;
      rows = r.u32OrBail();
      sawRows = true;
    } else if (plan.header && id === plan.header.id) {
      // Repeated, the header would merge: decodeEventBatch does that.
      if (wire !== WIRE_LEN || sawHeader) throw NOT_FAST;
      sawHeader = true;
      const [hs, he] = r.spanOrBail();
      const h = new ProtoReader(buf, hs, he);
      while (h.pos < he) {
        const k = h.u32OrBail();
        const at = plan.headerIndex.get(k >>> 3);
        if ((k & 7) !== WIRE_LEN || at === undefined || spans[at]) throw NOT_FAST;
        spans[at] = h.spanOrBail();
      }
    } else {
      const at = plan.topIndex.get(id);
      if (wire !== WIRE_LEN || at === undefined || spans[at]) throw NOT_FAST;
      spans[at] = r.spanOrBail();
    }
  }
  // A column holds `rows` values of at least a byte each: check before allocating what a tiny record claims.
  let present = 0;
  for (const s of spans) {
    if (!s || s[1] === s[0]) continue;
    present++;
    if (s[1] - s[0] < rows) throw NOT_FAST;
  }
  // decodeEventBatch refuses rows without a column.
  if (rows > 0 && present === 0) throw NOT_FAST;
  const block: AnyBlock = { rows };
  const h: Record<string, TypedArray> = {};
  for (let i = 0; i < plan.columns.length; i++) {
    const c = plan.columns[i]!;
    const s = spans[i];
    const onWire = s !== undefined && s[1] > s[0];
    const col = scratch ? scratch.column(c, rows, !onWire) : newColumn(c.kind, rows);
    if (onWire) fillColumn(buf, s, c.kind, col);
    if (c.sub === undefined) block[c.name] = col;
    else h[c.name] = col;
  }
  if (plan.header) block[plan.header.name] = h;
  return block;
}

/** Or bail: EventOrder's payload, packed types (field 1) and runs (field 2), as numbers (sink/fast-decode.ts reads it too). */
export function readOrderOrBail(buf: Buffer, start: number, end: number): { type: number[]; run: number[] } {
  const type: number[] = [];
  const run: number[] = [];
  const r = new ProtoReader(buf, start, end);
  while (r.pos < end) {
    const key = r.u32OrBail();
    const id = key >>> 3;
    if ((key & 7) !== WIRE_LEN || (id !== 1 && id !== 2)) throw NOT_FAST;
    const [s, e] = r.spanOrBail();
    const inner = new ProtoReader(buf, s, e);
    const into = id === 1 ? type : run;
    while (inner.pos < e) into.push(inner.u32OrBail());
  }
  return { type, run };
}

/** The order by type name, when it passes decodeEventBatch's checks against the blocks; else NOT_FAST. */
function checkedOrder(order: { type: number[]; run: number[] }, b: TypedEventBatch): EventOrder {
  const p = blockPlans();
  const n = order.type.length;
  if (n !== order.run.length) throw NOT_FAST;
  const type: WireEventType[] = new Array<WireEventType>(n);
  // Events per EventType number (a batch has hundreds of runs when types interleave).
  const seen = new Float64Array(p.typeNames.length);
  for (let i = 0; i < n; i++) {
    const t = order.type[i]!;
    const name = p.typeNames[t];
    if (name === undefined) throw NOT_FAST;
    type[i] = name;
    seen[t]! += order.run[i]!;
  }
  if (n > 0) {
    for (const bp of p.blocks) if (seen[bp.wire.eventType] !== b[bp.wire.key].rows) throw NOT_FAST;
  }
  return { type, run: order.run };
}

/** A decodeEventBatch block with its numeric columns copied into typed arrays. */
function typedBlock(plan: BlockPlan, block: Record<string, unknown>): AnyBlock {
  if (block.rows === 0) return emptyTyped(plan);
  const out: AnyBlock = { rows: block.rows as number };
  const convert = (layout: ColumnLayout, from: Record<string, unknown>, into: Record<string, unknown>): void => {
    for (const f of layout.fields) {
      if (f.kind === 'count') continue;
      if (f.kind === 'msg') {
        const inner: Record<string, unknown> = {};
        convert(f.layout, from[f.name] as Record<string, unknown>, inner);
        into[f.name] = inner;
      } else into[f.name] = typedOf(f.kind, from[f.name] as unknown[]);
    }
  };
  convert(plan.wire.layout, block, out);
  return out;
}

function typedOf(kind: NumberKind | 'str', values: unknown[]): unknown {
  switch (kind) {
    case 'u32':
      return Uint32Array.from(values as number[]);
    case 's32':
      return Int32Array.from(values as number[]);
    case 'str':
      return values;
    default:
      return Float64Array.from(values as number[]);
  }
}

/** decodeEventBatch's result, every event block typed. */
function typedBatch(b: EventBatch, skip?: ReadonlySet<BlockPlan>): TypedEventBatch {
  const out: Record<string, unknown> = { ...b };
  for (const plan of blockPlans().blocks) {
    if (!skip?.has(plan)) out[plan.wire.key] = typedBlock(plan, b[plan.wire.key] as unknown as Record<string, unknown>);
  }
  return out as unknown as TypedEventBatch;
}

/** The fast path: the fast blocks and the order read here, the rest by decodeEventBatch. */
function fastDecode(bytes: Uint8Array, scratch?: ColumnScratch): TypedEventBatch {
  const p = blockPlans();
  const r = ProtoReader.of(bytes);
  const { spans, rest } = splitFieldsOrBail(r, p.wanted);
  const blocks = new Map<BlockPlan, AnyBlock>();
  for (const [id, [s, e]] of spans) {
    const plan = p.byField.get(id);
    if (plan) blocks.set(plan, readBlock(plan, r.buf, s, e, scratch));
  }
  const order = spans.get(p.orderField);
  const ord = order ? readOrderOrBail(r.buf, order[0], order[1]) : undefined;
  // Everything else, checked as usual; if that fails, the whole record goes
  // the slow way so the error is the one the record's own bytes give.
  let slow: EventBatch;
  try {
    slow = decodeEventBatch(rest);
  } catch {
    throw NOT_FAST;
  }
  const batch = typedBatch(slow, new Set(p.byField.values())) as unknown as Record<string, unknown>;
  for (const plan of p.byField.values()) batch[plan.wire.key] = blocks.get(plan) ?? emptyTyped(plan);
  const typed = batch as unknown as TypedEventBatch;
  if (ord) typed.order = checkedOrder(ord, typed);
  return typed;
}

const empties = new Map<BlockPlan, AnyBlock>();

/**
 * A block without rows, shared by every batch (most blocks of most batches
 * are empty): frozen, and its columns have no elements to change.
 */
function emptyTyped(plan: BlockPlan): AnyBlock {
  let empty = empties.get(plan);
  if (!empty) {
    empty = deepFreeze(newEmptyTyped(plan));
    empties.set(plan, empty);
  }
  return empty;
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) deepFreeze(v as object);
  return Object.freeze(o);
}

function newEmptyTyped(plan: BlockPlan): AnyBlock {
  const block: AnyBlock = { rows: 0 };
  const fill = (layout: ColumnLayout, into: Record<string, unknown>): void => {
    for (const f of layout.fields) {
      if (f.kind === 'count') continue;
      if (f.kind === 'msg') {
        const inner: Record<string, unknown> = {};
        fill(f.layout, inner);
        into[f.name] = inner;
      } else into[f.name] = typedOf(f.kind, []);
    }
  };
  fill(plan.wire.layout, block);
  return block;
}

/**
 * What decodeEventBatch gives, with every event block's numbers in typed
 * arrays. Throws WireDecodeError exactly when decodeEventBatch does, with
 * the same reason. With `scratch`, the columns are views of its buffers:
 * valid until the next decode with the same scratch.
 */
export function decodeEventBatchTyped(bytes: Uint8Array, scratch?: ColumnScratch): TypedEventBatch {
  if (bytes instanceof Uint8Array) {
    try {
      return fastDecode(bytes, scratch);
    } catch {
      // Not for the fast path (or a surprise in it): the reference decoder decides.
    }
  }
  return typedBatch(decodeEventBatch(bytes));
}

/** Whether the fast path takes these bytes (for the tests: the common record must not fall back). */
export function takesFastPath(bytes: Uint8Array): boolean {
  try {
    fastDecode(bytes);
    return true;
  } catch {
    return false;
  }
}
