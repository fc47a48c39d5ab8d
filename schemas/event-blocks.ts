/**
 * The EventBatch block table, built once by reflection over pageloop.proto
 * and bpf/layout.generated.ts: for each event type its block (field number,
 * column layout for schemas/columns.ts, row-aligned columns, header first),
 * its EventType and pl_kind numbers, and its row <-> column moves, compiled
 * per type (from ProbeEvent objects, to ProbeEvent objects, and straight
 * from ring-buffer record bytes). Everything about a block that the codec
 * (event-batch-codec.ts), the builders (event-batch-rows.ts) and the record
 * encoder (record-encoder.ts) need comes from here; nothing else names a
 * column.
 */
import protobuf from 'protobufjs';
import type { ProbeEvent } from '../bpf/events.js';
import { Kind, layouts, type FieldLayout, type StructLayout } from '../bpf/layout.generated.js';
import { PageloopError } from '../lib/errors.js';
import type { ColumnLayout, LayoutField } from './columns.js';
import type { EventBatch, EventBatchInput, EventBlocks, SamplerBlocks, WireEventType } from './event-batch.js';
import { PACKAGE, pbType, scalarKind, wireRoot, zeroOf, type ScalarKind } from './proto-reflect.js';

export type EventBlockKey = keyof EventBlocks;
export type SamplerKey = keyof SamplerBlocks;
export type BlockKey = EventBlockKey | SamplerKey;

export interface EventSpec {
  readonly type: WireEventType;
  readonly key: EventBlockKey;
  readonly eventType: number;
  /** pl_header.kind to restore; undefined for fault_summary (no header). */
  readonly kind: number | undefined;
  readonly hasHeader: boolean;
  /** Per-event columns (camelCase = the ProbeEvent property), header excluded. */
  readonly columns: readonly ColumnSpec[];
  /** Struct padding: never on the wire, always 0 (the BPF side zeroes it). */
  readonly pads: readonly string[];
  /** Decoded fields in struct order, pads in place, like bpf/layout.generated.ts's decoders build them. */
  readonly fields: readonly { readonly name: string; readonly column: ColumnSpec | undefined }[];
  /** Appends one event's values to its block's columns. */
  readonly push: (e: ProbeEvent, block: Block) => void;
  /** For one block, a function that builds its event i. */
  readonly make: (block: Block) => (i: number) => ProbeEvent;
  /**
   * Appends one ring-buffer record straight from its bytes (no event object
   * on the way), for types with a pl_*_event struct; undefined otherwise.
   */
  readonly pushRecord: ((buf: Buffer, at: number, block: Block) => void) | undefined;
}

export interface ColumnSpec {
  readonly name: string;
  readonly kind: ScalarKind;
}

export const EVENT_BLOCK_KEYS: Readonly<Record<WireEventType, EventBlockKey>> = {
  fault: 'faults',
  fault_summary: 'faultSummaries',
  promotion: 'promotions',
  collapse: 'collapses',
  compaction: 'compactions',
  compaction_defer: 'compactionDefers',
  kcompactd_wake: 'kcompactdWakes',
  swap_out: 'swapOuts',
  swap_in: 'swapIns',
  swap_entries: 'swapEntries',
  reclaim: 'reclaims',
};

export const SAMPLER_KEYS: readonly SamplerKey[] = ['vmstat', 'psi', 'damon'];

/** Vmstat columns that are not one-per-row: the dictionary and the (index, delta) pairs. */
const FREE_COLUMNS: ReadonlySet<string> = new Set(['names', 'nameIndex', 'delta']);

export interface BlockShape {
  readonly type: protobuf.Type;
  /** EventBatch field number of the block. */
  readonly id: number;
  /** For the fast codec (schemas/columns.ts). */
  readonly layout: ColumnLayout;
  /** Row-aligned columns, header first (as `h.tsNs` paths split in two). */
  readonly columns: readonly { readonly sub: 'h' | undefined; readonly name: string; readonly kind: ScalarKind }[];
  readonly free: readonly ColumnSpec[];
}

let cachedSpecs: { events: readonly EventSpec[]; byType: ReadonlyMap<string, EventSpec>; byNumber: ReadonlyMap<number, EventSpec> } | undefined;
const shapeCache = new Map<BlockKey, BlockShape>();

export function batchType(): protobuf.Type {
  return pbType('EventBatch');
}

/** A block's message type as a column layout; only counts, columns and nested column messages fit. */
function columnLayout(type: protobuf.Type): ColumnLayout {
  const fields = type.fieldsArray.map((f): LayoutField => {
    if (f.resolvedType instanceof protobuf.Type) return { id: f.id, name: f.name, kind: 'msg', layout: columnLayout(f.resolvedType) };
    const kind = scalarKind(f);
    if (!f.repeated) {
      if (kind !== 'u32') throw new PageloopError('schema', `${type.name}.${f.name}: a block's only singular field is a uint32 count`);
      return { id: f.id, name: f.name, kind: 'count' };
    }
    if (kind === 'bool' || kind === 'bytes') throw new PageloopError('schema', `${type.name}.${f.name}: ${kind} columns are not supported`);
    return { id: f.id, name: f.name, kind };
  });
  return { name: type.name, fields };
}

export function blockShape(key: BlockKey): BlockShape {
  let shape = shapeCache.get(key);
  if (!shape) {
    const field = batchType().fields[key];
    const type = field?.resolvedType;
    if (!field || !(type instanceof protobuf.Type)) throw new PageloopError('schema', `EventBatch.${key} is not a message field`);
    const columns: { sub: 'h' | undefined; name: string; kind: ScalarKind }[] = [];
    const free: ColumnSpec[] = [];
    for (const f of type.fieldsArray) {
      if (f.name === 'rows') continue;
      if (f.resolvedType instanceof protobuf.Type) {
        // The only nested message in a block is the header.
        for (const hf of f.resolvedType.fieldsArray) columns.push({ sub: 'h', name: hf.name, kind: scalarKind(hf) });
      } else if (FREE_COLUMNS.has(f.name) && key === 'vmstat') {
        free.push({ name: f.name, kind: scalarKind(f) });
      } else {
        if (!f.repeated) throw new PageloopError('schema', `${type.name}.${f.name}: block fields must be repeated columns`);
        columns.push({ sub: undefined, name: f.name, kind: scalarKind(f) });
      }
    }
    shape = { type, id: field.id, layout: columnLayout(type), columns, free };
    shapeCache.set(key, shape);
  }
  return shape;
}

export function eventSpecs(): NonNullable<typeof cachedSpecs> {
  if (!cachedSpecs) {
    const eventTypes = wireRoot().lookupEnum(`${PACKAGE}.EventType`).values;
    const events: EventSpec[] = [];
    for (const [type, key] of Object.entries(EVENT_BLOCK_KEYS) as [WireEventType, EventBlockKey][]) {
      const upper = type.toUpperCase();
      const eventType = eventTypes[`EVENT_TYPE_${upper}`];
      if (eventType === undefined) throw new PageloopError('schema', `EventType has no EVENT_TYPE_${upper}`);
      const kinds = Kind as Readonly<Record<string, number>>;
      const struct = layouts[`pl_${type}_event`];
      const shape = blockShape(key);
      const columns = shape.columns.filter((c) => c.sub === undefined);
      const pads = struct ? struct.fields.filter((f) => isPad(f.name)).map((f) => f.name) : [];
      const structOrder = struct ? struct.fields.filter((f) => f.name !== 'h').map((f) => camelCase(f.name)) : [];
      const fields = structOrder
        .filter((name) => pads.includes(name) || columns.some((c) => c.name === name))
        .map((name) => ({ name, column: columns.find((c) => c.name === name) }));
      for (const c of columns) if (!structOrder.includes(c.name)) fields.push({ name: c.name, column: c });
      const base = {
        type,
        key,
        eventType,
        kind: kinds[`PL_KIND_${upper}`],
        hasHeader: shape.columns.some((c) => c.sub === 'h'),
        columns,
        pads,
        fields,
      };
      const headerColumns = shape.columns.filter((c) => c.sub === 'h').map((c) => c.name);
      events.push({ ...base, ...compileRowCodec(base, headerColumns), pushRecord: struct ? compileRecordPush(base, struct, headerColumns) : undefined });
    }
    events.sort((a, b) => a.eventType - b.eventType);
    cachedSpecs = {
      events,
      byType: new Map(events.map((s) => [s.type, s])),
      byNumber: new Map(events.map((s) => [s.eventType, s])),
    };
  }
  return cachedSpecs;
}

/** An event block as another decoder of the same bytes needs it (schemas/typed-decode.ts). */
export interface EventBlockWire {
  readonly type: WireEventType;
  readonly key: keyof EventBlocks;
  /** Its EventBatch field number. */
  readonly id: number;
  /** Its EventType number (in EventOrder). */
  readonly eventType: number;
  readonly layout: ColumnLayout;
}

/** Every event block, in EventType order; and the EventBatch field number of `order`. */
export function eventBlocksOnTheWire(): { blocks: readonly EventBlockWire[]; orderField: number } {
  const blocks = eventSpecs().events.map((s) => ({ type: s.type, key: s.key, id: blockShape(s.key).id, eventType: s.eventType, layout: blockShape(s.key).layout }));
  const order = batchType().fields.order;
  if (!order) throw new PageloopError('schema', 'EventBatch has no order field');
  return { blocks, orderField: order.id };
}

/** The wire column names (camelCase) of each event type, header excluded: for drift tests against bpf/pageloop.h. */
export function wireColumns(type: WireEventType): { header: boolean; columns: string[]; pads: string[] } {
  const spec = eventSpecs().byType.get(type)!;
  return { header: spec.hasHeader, columns: spec.columns.map((c) => c.name), pads: [...spec.pads] };
}

const isPad = (name: string): boolean => /^pad\d*$/.test(name);
export const camelCase = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A name from the .proto or the layouts, safe to put in generated code. */
export function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new PageloopError('schema', `'${name}' is not an identifier`);
  return name;
}

/**
 * The per-event row <-> column moves, generated per event type from the
 * field lists (as protobufjs generates its codecs): with fixed property
 * names and object literals V8 keeps every access monomorphic, where a
 * loop over names with obj[name] ran several times slower on 100k events.
 */
function compileRowCodec(spec: Omit<EventSpec, 'push' | 'make' | 'pushRecord'>, headerColumns: readonly string[]): Pick<EventSpec, 'push' | 'make'> {
  const push: string[] = [];
  if (spec.hasHeader) {
    push.push('const h = e.h, bh = b.h;');
    for (const f of headerColumns) push.push(`bh.${ident(f)}.push(h.${f});`);
  }
  for (const c of spec.columns) push.push(`b.${ident(c.name)}.push(e.${c.name});`);
  push.push('b.rows++;');

  const setup: string[] = [];
  const read = (column: string, zero: string): string => {
    const v = `c${setup.length}`;
    setup.push(`const ${v} = ${column}, ${v}z = ${v}.length === 0;`);
    return `${v}z ? ${zero} : ${v}[i]`;
  };
  const parts = [`type: ${JSON.stringify(spec.type)}`];
  if (spec.hasHeader) {
    if (!Number.isInteger(spec.kind)) throw new PageloopError('schema', `no pl_kind for ${spec.type}`);
    const h = HEADER_ORDER.map((f) => (f === 'kind' ? `kind: ${spec.kind!}` : `${ident(f)}: ${headerColumns.includes(f) ? read(`b.h.${f}`, '0') : '0'}`));
    parts.push(`h: { ${h.join(', ')} }`);
  }
  for (const f of spec.fields) {
    parts.push(f.column ? `${ident(f.name)}: ${read(`b.${f.name}`, JSON.stringify(zeroOf(f.column.kind)))}` : `${ident(f.name)}: 0`);
  }
  const make = `${setup.join('\n')}\nreturn function (i) { return { ${parts.join(', ')} }; };`;
  return {
    push: new Function('e', 'b', push.join('\n')) as EventSpec['push'],
    make: new Function('b', make) as EventSpec['make'],
  };
}

export const TWO_32 = 4294967296;

/** Little-endian reads of a record's fields, as the layout decoders read them. */
export const recordReaders = {
  u8: (b: Buffer, at: number) => b[at]!,
  u16: (b: Buffer, at: number) => b.readUInt16LE(at),
  u32: (b: Buffer, at: number) => b.readUInt32LE(at),
  s32: (b: Buffer, at: number) => b.readInt32LE(at),
  u64: (b: Buffer, at: number) => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * TWO_32,
  s64: (b: Buffer, at: number) => b.readUInt32LE(at) + b.readInt32LE(at + 4) * TWO_32,
  str: (b: Buffer, at: number, len: number) => {
    const end = b.indexOf(0, at);
    return b.toString('latin1', at, end === -1 || end > at + len ? at + len : end);
  },
};

/**
 * The record -> column move, generated per event type from the struct's
 * offsets in bpf/layout.generated.ts: the collector's fast path, which never
 * builds an event object. Values are the same the layout decoders give.
 */
function compileRecordPush(spec: Omit<EventSpec, 'push' | 'make' | 'pushRecord'>, struct: StructLayout, headerColumns: readonly string[]): EventSpec['pushRecord'] {
  const header = layouts.pl_header!;
  const reader = (f: FieldLayout, base: string): string => {
    if (f.count > 0) {
      if (f.type !== '__u8') throw new PageloopError('schema', `${struct.name}.${f.name}: only byte arrays (strings) can be columns`);
      return `r.str(buf, ${base} + ${f.offset}, ${f.count})`;
    }
    const kind = { __u8: 'u8', __u16: 'u16', __u32: 'u32', __s32: 's32', __u64: 'u64', __s64: 's64' }[f.type];
    if (!kind) throw new PageloopError('schema', `${struct.name}.${f.name}: type ${f.type} has no reader`);
    return `r.${kind}(buf, ${base} + ${f.offset})`;
  };
  const lines: string[] = [];
  if (spec.hasHeader) {
    lines.push('const bh = b.h;');
    for (const name of headerColumns) {
      const f = header.fields.find((x) => camelCase(x.name) === name);
      if (!f) throw new PageloopError('schema', `pl_header has no field for column h.${name}`);
      lines.push(`bh.${ident(name)}.push(${reader(f, 'at')});`);
    }
  }
  for (const c of spec.columns) {
    const f = struct.fields.find((x) => camelCase(x.name) === c.name);
    if (!f) throw new PageloopError('schema', `${struct.name} has no field for column ${c.name}`);
    lines.push(`b.${ident(c.name)}.push(${reader(f, 'at')});`);
  }
  lines.push('b.rows++;');
  const make = new Function('r', `return function (buf, at, b) {\n${lines.join('\n')}\n};`) as (r: typeof recordReaders) => NonNullable<EventSpec['pushRecord']>;
  return make(recordReaders);
}

export type Block = Record<string, unknown> & { rows: number; h?: Record<string, unknown[]> };

export function emptyBlock(key: BlockKey): Block {
  const shape = blockShape(key);
  const block: Block = { rows: 0 };
  for (const c of shape.columns) {
    if (c.sub === 'h') (block.h ??= {})[c.name] = [];
    else block[c.name] = [];
  }
  for (const c of shape.free) block[c.name] = [];
  return block;
}

export function columnOf(block: Block, sub: 'h' | undefined, name: string): unknown[] | undefined {
  const holder = sub === 'h' ? block.h : block;
  const col = holder?.[name];
  return col === undefined ? undefined : (col as unknown[]);
}

/** A batch with every block, the order, loss and drops present (empty where left out). */
export function fullBatch(input: EventBatchInput): EventBatch {
  const b = { ...input } as Record<string, unknown>;
  for (const key of [...Object.values(EVENT_BLOCK_KEYS), ...SAMPLER_KEYS]) b[key] ??= emptyBlock(key);
  b.order ??= { type: [], run: [] };
  b.loss ??= [];
  b.dropped ??= [];
  return b as unknown as EventBatch;
}

/** Every block key, in field-number order (so the bytes come out in canonical order). */
export function blockKeysInOrder(): BlockKey[] {
  return [...Object.values(EVENT_BLOCK_KEYS), ...SAMPLER_KEYS].sort((a, b) => blockShape(a).id - blockShape(b).id);
}

/** pl_header's fields in struct order (kind included), for decoded headers. */
export const HEADER_ORDER: readonly string[] = (layouts.pl_header?.fields ?? []).map((f) => camelCase(f.name));

/** pl_header offsets the fast path reads directly: ts_ns and kind. */
export const HEADER_TS_OFFSET = 0;
export const HEADER_KIND_OFFSET = 24;
/** The addon's frame around each record: u32 length, u32 0; records are padded to 8. */
export const FRAME_HEADER = 8;
