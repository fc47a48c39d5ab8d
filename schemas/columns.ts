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
 * The layout comes from the .proto by reflection (schemas/wire.ts); nothing
 * here knows field names or numbers.
 */

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

export class CodecError extends Error {}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;
const TWO_32 = 4294967296;

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/** A growable byte buffer. */
export class Sink {
  buf: Buffer;
  pos = 0;

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** 0 <= n < 2^32. */
  varint32(n: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    n >>>= 0;
    while (n > 127) {
      buf[pos++] = (n & 127) | 128;
      n >>>= 7;
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** An integer 0 <= n < 2^64 (exact as a double). */
  varint64(n: number): void {
    if (n < TWO_32) {
      this.varint32(n);
      return;
    }
    // % and / by 2^32 are exact on integral doubles.
    const lo = n % TWO_32;
    this.varintLoHi(lo, (n - lo) / TWO_32);
  }

  /** The varint of hi * 2^32 + lo (both unsigned 32-bit). */
  varintLoHi(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /** Zigzag of a safe integer. Not 2|v| in doubles: 2^54-3 is not a double. */
  zigzag64(v: number): void {
    if (v >= -1073741824 && v < 1073741824) {
      this.varint32(((v << 1) ^ (v >> 31)) >>> 0);
      return;
    }
    // z = 2x for v = x >= 0; z = 2(x-1) + 1 for v = -x < 0.
    const y = v >= 0 ? v : -v - 1;
    const yLo = y % TWO_32;
    const yHi = (y - yLo) / TWO_32;
    this.varintLoHi(((yLo << 1) | (v < 0 ? 1 : 0)) >>> 0, ((yHi << 1) | (yLo >>> 31)) >>> 0);
  }

  tag(id: number, wire: number): void {
    this.varint32(((id << 3) | wire) >>> 0);
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

function writePacked(scratch: Sink, kind: NumberKind, values: readonly unknown[]): void {
  scratch.pos = 0;
  const n = values.length;
  switch (kind) {
    case 'u32':
      for (let i = 0; i < n; i++) scratch.varint32(values[i] as number);
      break;
    case 's32':
      for (let i = 0; i < n; i++) {
        const v = values[i] as number;
        scratch.varint32(((v << 1) ^ (v >> 31)) >>> 0);
      }
      break;
    case 'u64':
      for (let i = 0; i < n; i++) scratch.varint64(values[i] as number);
      break;
    case 's64':
      for (let i = 0; i < n; i++) scratch.zigzag64(values[i] as number);
      break;
    case 'f64':
      scratch.ensure(8 * n);
      for (let i = 0; i < n; i++) {
        scratch.buf.writeDoubleLE(values[i] as number, scratch.pos);
        scratch.pos += 8;
      }
      break;
  }
}

function writeMessage(out: Sink, layout: ColumnLayout, value: ColumnRecord, scratch: Sink): void {
  for (const f of layout.fields) {
    const v = value[f.name];
    if (v === undefined || v === null) continue;
    switch (f.kind) {
      case 'count':
        if (v !== 0) {
          out.tag(f.id, WIRE_VARINT);
          out.varint32(v as number);
        }
        break;
      case 'msg': {
        const inner = new Sink(256);
        writeMessage(inner, f.layout, v as ColumnRecord, scratch);
        if (inner.pos === 0) break;
        out.tag(f.id, WIRE_LEN);
        out.varint32(inner.pos);
        out.bytes(inner.finish());
        break;
      }
      case 'str':
        for (const s of v as readonly string[]) {
          const len = Buffer.byteLength(s, 'utf8');
          out.tag(f.id, WIRE_LEN);
          out.varint32(len);
          out.ensure(len);
          out.pos += out.buf.write(s, out.pos, len, 'utf8');
        }
        break;
      default: {
        const values = v as readonly unknown[];
        if (values.length === 0) break;
        writePacked(scratch, f.kind, values);
        out.tag(f.id, WIRE_LEN);
        out.varint32(scratch.pos);
        out.bytes(scratch.finish());
      }
    }
  }
}

/**
 * Encodes a column message. Values must already be checked against their
 * kinds (schemas/wire.ts does): this only writes them.
 */
export function encodeColumns(layout: ColumnLayout, value: ColumnRecord): Uint8Array {
  const out = new Sink(4096);
  writeMessage(out, layout, value, new Sink(4096));
  return out.finish();
}

/** Appends field `id` holding an encoded message (a length-delimited field) to `out`. */
export function writeMessageField(out: Sink, id: number, message: Uint8Array): void {
  out.tag(id, WIRE_LEN);
  out.varint32(message.length);
  out.bytes(message);
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/** A bounds-checked reader over one message's bytes. */
export class Source {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;
  /** The last varint64, split (set by varint64()). */
  lo = 0;
  hi = 0;

  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  static of(bytes: Uint8Array): Source {
    // A Buffer view (no copy) for its fast utf8 and double reads.
    return new Source(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.byteLength);
  }

  private byte(): number {
    if (this.pos >= this.end) throw new CodecError(`truncated varint at byte ${this.pos}`);
    return this.buf[this.pos++]!;
  }

  /** Reads a varint of up to 10 bytes into lo/hi (the protobuf varint, any width). */
  varint64(): void {
    let lo = 0;
    let hi = 0;
    let b: number;
    for (let i = 0; i < 4; i++) {
      b = this.byte();
      lo = (lo | ((b & 127) << (i * 7))) >>> 0;
      if (b < 128) {
        this.lo = lo;
        this.hi = 0;
        return;
      }
    }
    b = this.byte();
    lo = (lo | ((b & 127) << 28)) >>> 0;
    hi = (b & 127) >>> 4;
    if (b < 128) {
      this.lo = lo;
      this.hi = hi;
      return;
    }
    for (let i = 0; i < 5; i++) {
      b = this.byte();
      hi = (hi | ((b & 127) << (i * 7 + 3))) >>> 0;
      if (b < 128) {
        this.lo = lo;
        this.hi = hi;
        return;
      }
    }
    throw new CodecError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  /** A varint truncated to 32 bits, unsigned (what protobuf says uint32 does with a wide varint). */
  varint32(): number {
    // Fast path: one byte.
    if (this.pos < this.end) {
      const b = this.buf[this.pos]!;
      if (b < 128) {
        this.pos++;
        return b;
      }
    }
    this.varint64();
    return this.lo;
  }

  /** A length prefix, checked against what is left. */
  length(): number {
    this.varint64();
    const len = this.hi === 0 ? this.lo : Infinity;
    if (len > this.end - this.pos) throw new CodecError(`length ${this.hi === 0 ? len : 'over 2^32'} at byte ${this.pos} runs past the end (${this.end - this.pos} bytes left)`);
    return len;
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN: {
        // Not `this.pos += this.length()`: that reads pos before length() moves it.
        const len = this.length();
        this.pos += len;
        return;
      }
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new CodecError(`wire type ${wire} at byte ${this.pos} (groups and invalid types are not accepted)`);
    }
  }

  advance(n: number): void {
    if (n > this.end - this.pos) throw new CodecError(`truncated: ${n} bytes needed at byte ${this.pos}`);
    this.pos += n;
  }
}

/** lo/hi as an unsigned number, or undefined when no double holds it exactly. */
function unsignedOf(lo: number, hi: number): number | undefined {
  if (hi === 0) return lo;
  const n = hi * TWO_32 + lo;
  if (n <= Number.MAX_SAFE_INTEGER) return n;
  // hi * 2^32 is exact; the sum rounded iff its low 32 bits changed.
  return n % TWO_32 === lo ? n : undefined;
}

/** lo/hi zigzag-decoded as a signed safe integer, or undefined. */
function zigzagOf(lo: number, hi: number): number | undefined {
  const negative = (lo & 1) === 1;
  const mLo = ((lo >>> 1) | (hi << 31)) >>> 0;
  const mHi = hi >>> 1;
  const m = mHi * TWO_32 + mLo;
  if (m > Number.MAX_SAFE_INTEGER - (negative ? 1 : 0)) return undefined;
  return negative ? -m - 1 : m;
}

/** One value; `index` is its place in the column, for errors. */
function readOne(src: Source, kind: NumberKind, index: number, where: string): number {
  switch (kind) {
    case 'u32':
      return src.varint32();
    case 's32': {
      const z = src.varint32();
      return (z >>> 1) ^ -(z & 1);
    }
    case 'u64': {
      src.varint64();
      const n = unsignedOf(src.lo, src.hi);
      if (n === undefined) throw new CodecError(`${where}[${index}]: ${bigOf(src.lo, src.hi)} is not exactly a JavaScript number`);
      return n;
    }
    case 's64': {
      src.varint64();
      const n = zigzagOf(src.lo, src.hi);
      if (n === undefined) throw new CodecError(`${where}[${index}]: a zigzag value of ${bigOf(src.lo, src.hi)} is not a safe integer`);
      return n;
    }
    case 'f64':
      src.advance(8);
      return src.buf.readDoubleLE(src.pos - 8);
  }
}

/** A whole packed run; one loop per kind keeps the per-value work to the varint itself. */
function readPacked(src: Source, kind: NumberKind, out: number[], where: string): void {
  const buf = src.buf;
  const end = src.end;
  let pos = src.pos;
  switch (kind) {
    case 'u32': {
      while (pos < end) {
        const b = buf[pos]!;
        if (b < 128) {
          out.push(b);
          pos++;
          continue;
        }
        src.pos = pos;
        out.push(src.varint32());
        pos = src.pos;
      }
      src.pos = pos;
      return;
    }
    case 'u64': {
      // Up to 7 bytes (49 bits: every address and boot-time ns), unrolled in
      // 32-bit integer steps (28 low bits, then 21 high ones, combined once
      // in a double, exactly); anything longer, or running past the end,
      // takes the general path, which also makes the error.
      while (pos < end) {
        const start = pos;
        let b = buf[pos++]!;
        let n = b & 127;
        if (b >= 128) {
          b = buf[pos++]!;
          n |= (b & 127) << 7;
          if (b >= 128) {
            b = buf[pos++]!;
            n |= (b & 127) << 14;
            if (b >= 128) {
              b = buf[pos++]!;
              n |= (b & 127) << 21;
              if (b >= 128) {
                b = buf[pos++]!;
                let hi = b & 127;
                if (b >= 128) {
                  b = buf[pos++]!;
                  hi |= (b & 127) << 7;
                  if (b >= 128) {
                    b = buf[pos++]!;
                    hi |= (b & 127) << 14;
                  }
                }
                n += hi * 268435456;
              }
            }
          }
        }
        // b >= 128 here: an eighth byte follows. pos > end: the varint ran out.
        if (b < 128 && pos <= end) {
          out.push(n);
          continue;
        }
        src.pos = start;
        out.push(readOne(src, kind, out.length, where));
        pos = src.pos;
      }
      src.pos = pos;
      return;
    }
    case 's32':
      while (src.pos < src.end) {
        const z = src.varint32();
        out.push((z >>> 1) ^ -(z & 1));
      }
      return;
    default:
      while (src.pos < src.end) out.push(readOne(src, kind, out.length, where));
  }
}

function bigOf(lo: number, hi: number): string {
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

function expectedWire(kind: NumberKind): number {
  return kind === 'f64' ? WIRE_FIXED64 : WIRE_VARINT;
}

function readMessage(src: Source, layout: ColumnLayout, into: ColumnRecord, path: string): void {
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
      readMessage(new Source(src.buf, src.pos, src.pos + len), f.layout, nested, where);
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
        const packed = new Source(src.buf, src.pos, src.pos + len);
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
  readMessage(Source.of(bytes), layout, into, path);
  return into;
}

/** Decodes a column message at [start, end) of a Source's buffer. */
export function decodeColumnsAt(src: Source, start: number, end: number, layout: ColumnLayout, path = layout.name): ColumnRecord {
  const into = emptyRecord(layout);
  readMessage(new Source(src.buf, start, end), layout, into, path);
  return into;
}

/** One top-level field of a message: its number, wire type and the byte range of the whole field. */
export interface FieldSpan {
  readonly id: number;
  readonly wire: number;
  /** Where the field (tag included) starts and ends. */
  readonly start: number;
  readonly end: number;
  /** Where a length-delimited field's payload starts (after tag and length). */
  readonly payload: number;
}

/** Splits a message into its top-level fields without decoding them. Throws CodecError. */
export function scanFields(src: Source): FieldSpan[] {
  const spans: FieldSpan[] = [];
  while (src.pos < src.end) {
    const start = src.pos;
    const key = src.varint32();
    const id = key >>> 3;
    const wire = key & 7;
    if (id === 0) throw new CodecError(`field number 0 at byte ${start}`);
    let payload = src.pos;
    if (wire === WIRE_LEN) {
      const len = src.length();
      payload = src.pos;
      src.pos += len;
    } else {
      src.skip(wire);
    }
    spans.push({ id, wire, start, end: src.pos, payload });
  }
  return spans;
}
