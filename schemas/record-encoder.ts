/**
 * encodeEventBatch(eventBatchFromRecords(meta, frames, events)) without the
 * batch in between for the ring-buffer records: each record's fields go
 * straight into their columns' varints, by a writer generated per event
 * type from the struct's offsets (bpf/layout.generated.ts) and the block's
 * columns (schemas/event-blocks.ts). The collector's hot path; the same
 * bytes (record-encoder.test.ts holds them equal), falling back to the
 * object path for a type or a value it has no direct form for.
 */
import type { ProbeEvent } from '../bpf/events.js';
import { layouts, type FieldLayout, type StructLayout } from '../bpf/layout.generated.js';
import { PageloopError } from '../lib/errors.js';
import type { ColumnLayout, LayoutField } from './columns.js';
import type { BatchMeta, WireEventType } from './event-batch.js';
import { checkBatch, encodeEventBatch, writeEventBatch } from './event-batch-codec.js';
import { eventBatchFromRecords } from './event-batch-rows.js';
import {
  FRAME_HEADER,
  HEADER_KIND_OFFSET,
  HEADER_TS_OFFSET,
  TWO_32,
  blockShape,
  camelCase,
  eventSpecs,
  recordReaders,
  type Block,
  type BlockKey,
  type EventBlockKey,
  type EventSpec,
} from './event-blocks.js';
import { ProtoWriter, varint32Source, varintLoHiSource } from './proto-writer.js';
import type { ScalarKind } from './proto-reflect.js';
import { Bad, WireEncodeError } from './wire-errors.js';

/**
 * One column of one block, written while the records are read: packed
 * varints (or tagged strings) in `writer`; `nonZero` ORs every value, because
 * an all-zero column is left off the wire as encodeEventBatch leaves it off.
 */
interface ColumnOut {
  readonly writer: ProtoWriter;
  nonZero: number;
  /** A string column's entry: a whole field (tag, length, bytes), since repeated strings are not packed. */
  readonly str: (s: string) => void;
}

/** What a run of records tells the batch: its length, and the first and last header times so far. */
interface RunState {
  rows: number;
  first: number;
  last: number;
}

/** A block whose columns are written from the records, with no arrays in between. */
interface RecordBlockWriter {
  readonly type: WireEventType;
  readonly key: EventBlockKey;
  /** Per blockShape(key).columns entry, in that order. */
  readonly columns: readonly ColumnOut[];
  rows: number;
  /**
   * Writes the run of records of this kind that starts at `at` (a frame
   * header) and returns where the run ends: the first record of another
   * kind, or `end`. One call per run keeps every column's buffer and
   * position in locals, which is most of the speed.
   */
  readonly writeRun: (buf: Buffer, at: number, end: number, st: RunState) => number;
}

/** Thrown by a record writer for a value only the object path handles (it then names the bad value). */
class NeedsObjectPath extends Error {}

/** Little-endian reads as byte arithmetic: cheaper than Buffer's checked readers in a hot loop. */
const u16At = (o: string): string => `(buf[${o}] | (buf[${o} + 1] << 8))`;
const u32At = (o: string): string => `((buf[${o}] | (buf[${o} + 1] << 8) | (buf[${o} + 2] << 16) | (buf[${o} + 3] << 24)) >>> 0)`;
const s32At = (o: string): string => `(buf[${o}] | (buf[${o} + 1] << 8) | (buf[${o} + 2] << 16) | (buf[${o} + 3] << 24))`;

/** Bytes a column can take per row, at most: what the run's space is reserved by. */
function maxBytesPerRow(f: FieldLayout, kind: ScalarKind): number {
  if (kind === 'str') return 3 + 2 * f.count; // tag, length, and latin1 -> utf8 at most doubles
  return kind === 'u64' || kind === 's64' ? 10 : 5;
}

/**
 * The write of one struct field into column j (buffer bj, position pj,
 * nonzero-OR nzj), as encodeEventBatch would write the value the layout
 * decoders give; undefined when this pairing has no direct form (the batch
 * then takes the object path). A u64 past 2^53 goes out as the double the
 * decoders make of it (the wire carries only exact JavaScript numbers); an
 * s64 past +-(2^53-1) is refused, as the object path refuses it.
 */
function columnWrite(f: FieldLayout, kind: ScalarKind, j: number): string | undefined {
  const o = `rec + ${f.offset}`;
  const [b, p, nz] = [`b${j}`, `p${j}`, `nz${j}`];
  if (f.count > 0) {
    if (f.type !== '__u8' || kind !== 'str') return undefined;
    return `{ const s = r.str(buf, ${o}, ${f.count}); if (s.length > 0) ${nz} = 1; c[${j}].writer.pos = ${p}; c[${j}].str(s); ${p} = c[${j}].writer.pos; }`;
  }
  const read = f.type === '__u8' ? `buf[${o}]` : f.type === '__u16' ? u16At(o) : f.type === '__u32' ? u32At(o) : f.type === '__s32' ? s32At(o) : undefined;
  if (read !== undefined) {
    if ((kind === 'u32' || kind === 'u64') && f.type !== '__s32') return `{ let v = ${read}; ${nz} |= v; ${varint32Source(b, p, 'v')} }`;
    if (kind === 's32' && f.type !== '__u32') return `{ const x = ${read}; ${nz} |= x; let v = ((x << 1) ^ (x >> 31)) >>> 0; ${varint32Source(b, p, 'v')} }`;
    if (kind === 's64' && f.type !== '__u32') {
      return `{ const x = ${read}; ${nz} |= x; const sign = x >> 31; let lo = ((x << 1) ^ sign) >>> 0, hi = sign >>> 0; ${varintLoHiSource(b, p, 'lo', 'hi')} }`;
    }
    return undefined;
  }
  if (f.type === '__u64' && kind === 'u64') {
    return `{ let lo = ${u32At(o)}, hi = ${u32At(`${o} + 4`)}; ${nz} |= lo | hi; if (hi >= 0x200000) { const d = lo + hi * ${TWO_32}; lo = d % ${TWO_32}; hi = (d - lo) / ${TWO_32}; } ${varintLoHiSource(b, p, 'lo', 'hi')} }`;
  }
  if (f.type === '__s64' && kind === 's64') {
    // Zigzag on the halves, (x << 1) ^ (x >> 63), within +-(2^53-1) where the object path is exact.
    return `{ const xl = ${u32At(o)}, xh = ${s32At(`${o} + 4`)}; if (xh < -0x200000 || xh >= 0x200000 || (xh === -0x200000 && xl === 0)) throw new r.NeedsObjectPath(); ${nz} |= xl | xh; const sign = xh >> 31; let lo = ((xl << 1) ^ sign) >>> 0, hi = (((xh << 1) | (xl >>> 31)) ^ sign) >>> 0; ${varintLoHiSource(b, p, 'lo', 'hi')} }`;
  }
  return undefined;
}

function layoutFieldId(layout: ColumnLayout, sub: 'h' | undefined, name: string): number {
  const holder = sub === 'h' ? layout.fields.find((f) => f.kind === 'msg') : undefined;
  const fields = holder && holder.kind === 'msg' ? holder.layout.fields : layout.fields;
  const f = fields.find((x) => x.name === name);
  if (!f) throw new PageloopError('schema', `${layout.name}: no field ${sub ? 'h.' : ''}${name}`);
  return f.id;
}

/** Undefined when some column of this type has no direct form. */
function compileRecordWriter(spec: EventSpec, struct: StructLayout): RecordBlockWriter | undefined {
  const shape = blockShape(spec.key);
  const header = layouts.pl_header!;
  const columns: ColumnOut[] = shape.columns.map((c) => {
    // Small: writeRun reserves what a run needs; most kinds never see a record.
    const writer = new ProtoWriter(1024);
    const id = layoutFieldId(shape.layout, c.sub, c.name);
    return { writer, nonZero: 0, str: (s: string) => writer.stringField(id, s) };
  });
  const writes: string[] = [];
  const maxBytes: number[] = [];
  for (let j = 0; j < shape.columns.length; j++) {
    const c = shape.columns[j]!;
    const f = (c.sub === 'h' ? header.fields : struct.fields).find((x) => camelCase(x.name) === c.name);
    if (!f) throw new PageloopError('schema', `${struct.name} has no field for column ${c.sub ? 'h.' : ''}${c.name}`);
    const write = columnWrite(f, c.kind, j);
    if (write === undefined) return undefined;
    writes.push(write);
    maxBytes.push(maxBytesPerRow(f, c.kind));
  }
  const js = shape.columns.map((_, j) => j);
  const stride = FRAME_HEADER + ((struct.size + 7) & ~7);
  const code = [
    'return function (buf, at, end, st) {',
    // Room for every record of the frame being ours, so no write checks it.
    `const most = Math.floor((end - at) / ${stride}) + 1;`,
    ...js.map((j) => `c[${j}].writer.ensure(most * ${maxBytes[j]});`),
    ...js.map((j) => `let b${j} = c[${j}].writer.buf, p${j} = c[${j}].writer.pos, nz${j} = c[${j}].nonZero;`),
    'let rows = 0, first = st.first, last = st.last;',
    `while (at + ${FRAME_HEADER} <= end) {`,
    '  const rec = at + ' + FRAME_HEADER + ';',
    `  if (${u16At(`rec + ${HEADER_KIND_OFFSET}`)} !== ${spec.kind}) break;`,
    `  const t = ${u32At(`rec + ${HEADER_TS_OFFSET}`)} + ${u32At(`rec + ${HEADER_TS_OFFSET + 4}`)} * ${TWO_32};`,
    '  if (t < first) first = t;',
    '  if (t > last) last = t;',
    ...writes.map((w) => '  ' + w),
    '  rows++;',
    `  at = rec + ((${u32At('at')} + 7) & ~7);`,
    '}',
    ...js.map((j) => `c[${j}].writer.pos = p${j}; c[${j}].nonZero = nz${j};`),
    'w.rows += rows; st.first = first; st.last = last; st.rows = rows;',
    'return at;',
    '};',
  ].join('\n');
  const make = new Function('r', 'c', 'w', code) as (
    r: typeof recordReaders & { NeedsObjectPath: typeof NeedsObjectPath },
    c: readonly ColumnOut[],
    w: { rows: number },
  ) => RecordBlockWriter['writeRun'];
  const writer = { type: spec.type, key: spec.key, columns, rows: 0, writeRun: (() => 0) as RecordBlockWriter['writeRun'] };
  writer.writeRun = make({ ...recordReaders, NeedsObjectPath }, columns, writer);
  return writer;
}

let recordWriters: (RecordBlockWriter | undefined | null)[] | undefined;

/** Indexed by pl_kind: the writer of its block; undefined if its type takes the object path; null if it is not on the wire. */
function recordWritersByKind(): (RecordBlockWriter | undefined | null)[] {
  if (!recordWriters) {
    const byKind: (RecordBlockWriter | undefined | null)[] = new Array<null>(65536).fill(null);
    for (const spec of eventSpecs().events) {
      const struct = layouts[`pl_${spec.type}_event`];
      if (spec.kind !== undefined && struct) byKind[spec.kind] = compileRecordWriter(spec, struct);
    }
    recordWriters = byKind;
  }
  return recordWriters;
}

/** A written block as encodeColumns writes it: fields in layout order, all-zero columns left out (the first kept if all are). */
function recordBlockBytes(w: RecordBlockWriter): Uint8Array {
  const shape = blockShape(w.key);
  const keep = w.columns.map((c) => c.nonZero !== 0);
  if (!keep.includes(true)) keep[0] = true;
  const out = new ProtoWriter(1024);
  const column = (into: ProtoWriter, sub: 'h' | undefined, f: LayoutField): void => {
    const j = shape.columns.findIndex((c) => c.sub === sub && c.name === f.name);
    if (j < 0 || !keep[j]) return;
    const written = w.columns[j]!.writer.finish();
    // Packed numbers are one field; a string column's entries are whole fields already.
    if (f.kind !== 'str') into.messageField(f.id, written);
    else into.bytes(written);
  };
  for (const f of shape.layout.fields) {
    if (f.kind === 'count') {
      out.uint32Field(f.id, w.rows);
    } else if (f.kind === 'msg') {
      const inner = new ProtoWriter(1024);
      for (const hf of f.layout.fields) column(inner, 'h', hf);
      if (inner.pos > 0) out.messageField(f.id, inner.finish());
    } else {
      column(out, undefined, f);
    }
  }
  return out.finish();
}

/**
 * encodeEventBatch(eventBatchFromRecords(meta, frames, events)), the same
 * bytes, with the ring-buffer records written straight into their columns.
 * Takes the object path for a batch with a type or a value it has no
 * direct form for.
 */
export function encodeEventBatchFromRecords(meta: BatchMeta, frames: readonly Buffer[], events: readonly ProbeEvent[]): Uint8Array {
  const byKind = recordWritersByKind();
  const used: RecordBlockWriter[] = [];
  const objectPath = (): Uint8Array => encodeEventBatch(eventBatchFromRecords(meta, frames, events));
  try {
    const order: { type: WireEventType[]; run: number[] } = { type: [], run: [] };
    const st = { first: Infinity, last: -Infinity, rows: 0 };
    for (const buf of frames) {
      let at = 0;
      while (at + FRAME_HEADER <= buf.length) {
        const record = at + FRAME_HEADER;
        const w = byKind[buf.readUInt16LE(record + HEADER_KIND_OFFSET)];
        if (w === null) {
          at = record + ((buf.readUInt32LE(at) + 7) & ~7); // bench records are not part of the contract
          continue;
        }
        if (w === undefined) return objectPath();
        if (w.rows === 0) used.push(w);
        at = w.writeRun(buf, at, buf.length, st);
        const n = order.type.length;
        if (n > 0 && order.type[n - 1] === w.type) order.run[n - 1]! += st.rows;
        else {
          order.type.push(w.type);
          order.run.push(st.rows);
        }
      }
    }
    const b = eventBatchFromRecords(meta, [], events);
    for (const w of used) {
      // Records and events of one type in one batch: the object path keeps them in one block.
      if (b[w.key].rows > 0) return objectPath();
      (b[w.key] as unknown as Block).rows = w.rows;
    }
    const hadTimes = b.order.type.length > 0 || (meta.vmstat?.length ?? 0) + (meta.psi?.length ?? 0) + (meta.damon?.length ?? 0) > 0;
    let { first, last } = st;
    if (hadTimes) {
      first = Math.min(first, b.firstEventNs);
      last = Math.max(last, b.lastEventNs);
    }
    if (first !== Infinity) {
      b.firstEventNs = first;
      b.lastEventNs = last;
    }
    for (let i = 0; i < b.order.type.length; i++) {
      const n = order.type.length;
      if (i === 0 && n > 0 && order.type[n - 1] === b.order.type[0]) order.run[n - 1]! += b.order.run[0]!;
      else {
        order.type.push(b.order.type[i]!);
        order.run.push(b.order.run[i]!);
      }
    }
    b.order = order;
    checkBatch(b);
    return writeEventBatch(b, new Map<BlockKey, Uint8Array>(used.map((w) => [w.key, recordBlockBytes(w)])));
  } catch (err) {
    if (err instanceof NeedsObjectPath) return objectPath();
    if (err instanceof Bad) throw new WireEncodeError('EventBatch', err.message);
    throw err;
  } finally {
    for (const w of used) {
      w.rows = 0;
      for (const c of w.columns) {
        c.writer.pos = 0;
        c.nonZero = 0;
      }
    }
  }
}

