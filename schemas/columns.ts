/**
 * A fast protobuf codec for "column messages": messages whose fields are
 * packed repeated numbers, repeated strings, a uint32 count, or a nested
 * column message. The EventBatch blocks are such messages, and they hold
 * nearly all of a batch's bytes. protobufjs encodes each packed value as a
 * linked-list node and decodes each 64-bit one into a Long object; for a
 * 100k-event batch that is most of a second. This writes and reads the
 * same wire format directly (packed varints, zigzag, fixed64 doubles), so
 * its output is ordinary protobuf any decoder reads, and it reads what any
 * encoder writes (packed or not, in any field order, unknown fields skipped).
 *
 * The layout comes from the .proto by reflection (schemas/event-blocks.ts);
 * nothing here knows field names or numbers. The varints are read and
 * written by schemas/proto-reader.ts and schemas/proto-writer.ts.
 */
import { CodecError, ProtoReader, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, decimalOf, exactUnsigned, exactZigzag } from './proto-reader.js';
import { ProtoWriter } from './proto-writer.js';

export type NumberKind = 'u32' | 's32' | 'u64' | 's64' | 'f64';

export type LayoutField =
  | { readonly id: number; readonly name: string; readonly kind: 'count' }
  | { readonly id: number; readonly name: string; readonly kind: NumberKind | 'str' }
  | { readonly id: number; readonly name: string; readonly kind: 'msg'; readonly layout: ColumnLayout };

export interface ColumnLayout {
  /** For messages in errors, e.g. 'FaultSummaries'. */
  readonly name: string;
  readonly fields: readonly LayoutField[];
}

/** A value shaped by a layout: counts are numbers, columns arrays, nested messages records. */
export type ColumnRecord = Record<string, unknown>;

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

function writePacked(scratch: ProtoWriter, kind: NumberKind, values: readonly unknown[]): void {
  scratch.pos = 0;
  const n = values.length;
  switch (kind) {
    case 'u32':
      for (let i = 0; i < n; i++) scratch.varint32(values[i] as number);
      break;
    case 's32':
      for (let i = 0; i < n; i++) scratch.zigzag32(values[i] as number);
      break;
    case 'u64':
      for (let i = 0; i < n; i++) scratch.varint64(values[i] as number);
      break;
    case 's64':
      for (let i = 0; i < n; i++) scratch.zigzag64(values[i] as number);
      break;
    case 'f64':
      scratch.ensure(8 * n);
      for (let i = 0; i < n; i++) scratch.double(values[i] as number);
      break;
  }
}

function writeMessage(out: ProtoWriter, layout: ColumnLayout, value: ColumnRecord, scratch: ProtoWriter): void {
  for (const f of layout.fields) {
    const v = value[f.name];
    if (v === undefined || v === null) continue;
    switch (f.kind) {
      case 'count':
        if (v !== 0) out.uint32Field(f.id, v as number);
        break;
      case 'msg': {
        const inner = new ProtoWriter(256);
        writeMessage(inner, f.layout, v as ColumnRecord, scratch);
        if (inner.pos > 0) out.messageField(f.id, inner.finish());
        break;
      }
      case 'str':
        for (const s of v as readonly string[]) out.stringField(f.id, s);
        break;
      default: {
        const values = v as readonly unknown[];
        if (values.length === 0) break;
        writePacked(scratch, f.kind, values);
        out.messageField(f.id, scratch.finish());
      }
    }
  }
}

/**
 * Encodes a column message. Values must already be checked against their
 * kinds (schemas/event-batch-codec.ts does): this only writes them.
 */
export function encodeColumns(layout: ColumnLayout, value: ColumnRecord): Uint8Array {
  const out = new ProtoWriter(4096);
  writeMessage(out, layout, value, new ProtoWriter(4096));
  return out.finish();
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/** One value; `index` is its place in the column, for errors. */
function readOne(src: ProtoReader, kind: NumberKind, index: number, where: string): number {
  switch (kind) {
    case 'u32':
      return src.varint32();
    case 's32': {
      const z = src.varint32();
      return (z >>> 1) ^ -(z & 1);
    }
    case 'u64': {
      src.varint64();
      const n = exactUnsigned(src.lo, src.hi);
      if (n === undefined) throw new CodecError(`${where}[${index}]: ${decimalOf(src.lo, src.hi)} is not exactly a JavaScript number`);
      return n;
    }
    case 's64': {
      src.varint64();
      const n = exactZigzag(src.lo, src.hi);
      if (n === undefined) throw new CodecError(`${where}[${index}]: a zigzag value of ${decimalOf(src.lo, src.hi)} is not a safe integer`);
      return n;
    }
    case 'f64':
      return src.double();
  }
}

/** A whole packed run; one loop per kind keeps the per-value work to the varint itself. */
function readPacked(src: ProtoReader, kind: NumberKind, out: number[], where: string): void {
  const end = src.end;
  switch (kind) {
    case 'u32':
      while (src.pos < end) out.push(src.varint32());
      return;
    case 'u64':
      // The common 7-byte shape unrolled; anything longer, or running past
      // the end, takes the general path, which also makes the error.
      while (src.pos < end) {
        const n = src.tryVarint49();
        out.push(n >= 0 ? n : readOne(src, kind, out.length, where));
      }
      return;
    case 's32':
      while (src.pos < end) {
        const z = src.varint32();
        out.push((z >>> 1) ^ -(z & 1));
      }
      return;
    default:
      while (src.pos < end) out.push(readOne(src, kind, out.length, where));
  }
}

function expectedWire(kind: NumberKind): number {
  return kind === 'f64' ? WIRE_FIXED64 : WIRE_VARINT;
}

function readMessage(src: ProtoReader, layout: ColumnLayout, into: ColumnRecord, path: string): void {
  const byId = layoutIndex(layout);
  while (src.pos < src.end) {
    const key = src.varint32();
    const id = key >>> 3;
    const wire = key & 7;
    if (id === 0) throw new CodecError(`${path}: field number 0 at byte ${src.pos}`);
    const f = byId.get(id);
    if (!f) {
      src.skip(wire);
      continue;
    }
    const where = `${path}.${f.name}`;
    if (f.kind === 'count') {
      if (wire !== WIRE_VARINT) throw new CodecError(`${where}: wire type ${wire}, expected a varint`);
      into[f.name] = src.varint32();
    } else if (f.kind === 'msg') {
      if (wire !== WIRE_LEN) throw new CodecError(`${where}: wire type ${wire}, expected a message`);
      const len = src.length();
      const nested = (into[f.name] ??= emptyRecord(f.layout)) as ColumnRecord;
      readMessage(new ProtoReader(src.buf, src.pos, src.pos + len), f.layout, nested, where);
      src.pos += len;
    } else if (f.kind === 'str') {
      if (wire !== WIRE_LEN) throw new CodecError(`${where}: wire type ${wire}, expected a string`);
      const len = src.length();
      (into[f.name] as string[]).push(src.buf.toString('utf8', src.pos, src.pos + len));
      src.pos += len;
    } else {
      const out = into[f.name] as number[];
      if (wire === WIRE_LEN) {
        // Packed (what every proto3 encoder writes).
        const len = src.length();
        const packed = new ProtoReader(src.buf, src.pos, src.pos + len);
        if (f.kind === 'f64' && len % 8 !== 0) throw new CodecError(`${where}: ${len} bytes is not a whole number of doubles`);
        readPacked(packed, f.kind, out, where);
        src.pos += len;
      } else if (wire === expectedWire(f.kind)) {
        // Unpacked: one value per field occurrence (parsers must accept it).
        out.push(readOne(src, f.kind, out.length, where));
      } else {
        throw new CodecError(`${where}: wire type ${wire} does not fit a ${f.kind} column`);
      }
    }
  }
  if (src.pos !== src.end) throw new CodecError(`${path}: ran past the end of the message`);
}

const indexCache = new WeakMap<ColumnLayout, Map<number, LayoutField>>();

function layoutIndex(layout: ColumnLayout): Map<number, LayoutField> {
  let index = indexCache.get(layout);
  if (!index) {
    index = new Map(layout.fields.map((f) => [f.id, f]));
    indexCache.set(layout, index);
  }
  return index;
}

function emptyRecord(layout: ColumnLayout): ColumnRecord {
  const r: ColumnRecord = {};
  for (const f of layout.fields) {
    if (f.kind === 'count') r[f.name] = 0;
    else if (f.kind !== 'msg') r[f.name] = [];
  }
  return r;
}

/**
 * Decodes a column message: counts default to 0, columns to [], nested
 * messages are absent unless present on the wire. Throws CodecError.
 */
export function decodeColumns(layout: ColumnLayout, bytes: Uint8Array, path = layout.name): ColumnRecord {
  const into = emptyRecord(layout);
  readMessage(ProtoReader.of(bytes), layout, into, path);
  return into;
}
