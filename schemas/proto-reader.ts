/**
 * The protobuf reader: every decoder here that reads protobuf bytes itself
 * (schemas/columns.ts, schemas/event-batch-codec.ts's split,
 * schemas/typed-decode.ts, sink/fast-decode.ts) reads them with this.
 * protobufjs still decodes the small messages by reflection
 * (schemas/proto-reflect.ts).
 *
 * Two kinds of read, over the same varint code:
 * - checked (varint32, varint64, length, skip, advance, scanFields): any
 *   valid protobuf is read; bad bytes throw CodecError saying where.
 * - "or bail" (u32OrBail, spanOrBail, skipOrBail, packed*IntoOrBail,
 *   splitFieldsOrBail): only the shapes our encoders write (varints of at
 *   most 5 bytes below 2^32, 7 bytes for 64-bit values); anything else,
 *   valid or not, throws NOT_FAST, so that a fast decoder hands the bytes
 *   to the reference decoder and its answer or error is the one given.
 *
 * The common shapes are read by unrolled 32-bit integer steps (tryVarint32,
 * tryVarint49); both kinds start there. These are the hot loops of the
 * processors and the sink: keep them small enough for V8 to inline.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const TWO_32 = 4294967296;

/** Bytes that are not the protobuf expected (a checked read). */
export class CodecError extends Error {}

/** Thrown by an "or bail" read to mean "not for the fast path": the reference decoder decides. */
export class NotFast extends Error {}
export const NOT_FAST = new NotFast();

/** A reader over [pos, end) of a buffer. */
export class ProtoReader {
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

  /** A reader over all of `bytes`: a Buffer view (no copy), for its fast utf8 and double reads. */
  static of(bytes: Uint8Array): ProtoReader {
    return new ProtoReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.byteLength);
  }

  // -------------------------------------------------------------------------
  // The common shapes: the value, or -1 with pos unmoved
  // -------------------------------------------------------------------------

  /** A varint of at most 5 bytes, below 2^32, within the end; else -1. */
  tryVarint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let b = buf[pos++]!;
    let v = b & 127;
    if (b >= 128) {
      b = buf[pos++]!;
      v |= (b & 127) << 7;
      if (b >= 128) {
        b = buf[pos++]!;
        v |= (b & 127) << 14;
        if (b >= 128) {
          b = buf[pos++]!;
          v |= (b & 127) << 21;
          if (b >= 128) {
            b = buf[pos++]!;
            // A sixth byte, or bits past 32.
            if (b > 15) return -1;
            v = (v >>> 0) + b * 268435456;
          }
        }
      }
    }
    if (pos > this.end) return -1;
    this.pos = pos;
    return v >>> 0;
  }

  /**
   * A varint of at most 7 bytes (49 bits: every address and boot-time ns;
   * exact in a double), within the end; else -1. 28 low bits, then 21 high
   * ones, combined once in a double.
   */
  tryVarint49(): number {
    const buf = this.buf;
    let pos = this.pos;
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
    if (b >= 128 || pos > this.end) return -1;
    this.pos = pos;
    return n;
  }

  // -------------------------------------------------------------------------
  // Checked reads: any valid protobuf; CodecError otherwise
  // -------------------------------------------------------------------------

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
    const v = this.tryVarint32();
    if (v >= 0) return v;
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

  /** A fixed64 double. */
  double(): number {
    this.advance(8);
    return this.buf.readDoubleLE(this.pos - 8);
  }

  // -------------------------------------------------------------------------
  // "Or bail" reads: the common shapes only; NOT_FAST otherwise
  // -------------------------------------------------------------------------

  u32OrBail(): number {
    const v = this.tryVarint32();
    if (v < 0) throw NOT_FAST;
    return v;
  }

  /** A length-delimited payload: its [start, end). */
  spanOrBail(): [number, number] {
    const len = this.u32OrBail();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw NOT_FAST;
    this.pos = end;
    return [start, end];
  }

  skipOrBail(wire: number): void {
    if (wire === WIRE_VARINT) {
      while (this.pos < this.end && this.buf[this.pos]! >= 128) this.pos++;
      this.pos++;
    } else if (wire === WIRE_LEN) this.spanOrBail();
    else if (wire === WIRE_FIXED64) this.pos += 8;
    else if (wire === WIRE_FIXED32) this.pos += 4;
    else throw NOT_FAST;
    if (this.pos > this.end) throw NOT_FAST;
  }

  /** The rest of the reader as packed u64 varints (of at most 7 bytes) into out; returns how many. */
  packedU64IntoOrBail(out: Float64Array): number {
    const cap = out.length;
    const end = this.end;
    let n = 0;
    while (this.pos < end) {
      if (n >= cap) throw NOT_FAST;
      const v = this.tryVarint49();
      if (v < 0) throw NOT_FAST;
      out[n++] = v;
    }
    return n;
  }

  /** The rest of the reader as packed 32-bit varints into out (zigzag-decoded when asked, for s32); returns how many. */
  packed32IntoOrBail(out: Float64Array | Uint32Array | Int32Array, zigzag: boolean): number {
    const cap = out.length;
    const buf = this.buf;
    const end = this.end;
    let n = 0;
    while (this.pos < end) {
      if (n >= cap) throw NOT_FAST;
      // One byte inline: most values (cpu, hint, small counts) are.
      const b = buf[this.pos]!;
      let z: number;
      if (b < 128) {
        z = b;
        this.pos++;
      } else z = this.u32OrBail();
      out[n++] = zigzag ? (z >>> 1) ^ -(z & 1) : z;
    }
    return n;
  }
}

// ---------------------------------------------------------------------------
// 64-bit values as JS numbers, only when exact
// ---------------------------------------------------------------------------

/** hi * 2^32 + lo (both unsigned), or undefined when no double holds it exactly. */
export function exactUnsigned(lo: number, hi: number): number | undefined {
  if (hi === 0) return lo;
  const n = hi * TWO_32 + lo;
  if (n <= Number.MAX_SAFE_INTEGER) return n;
  // hi * 2^32 is exact; the sum rounded iff its low 32 bits changed
  // (rounding below 2^64 moves it by far less than 2^32).
  return n % TWO_32 === lo ? n : undefined;
}

/** The two's-complement value of signed hi (int32) and unsigned lo, or undefined when it is not a safe integer. */
export function exactSigned(lo: number, hi: number): number | undefined {
  const n = hi * TWO_32 + lo;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** lo/hi zigzag-decoded as a signed safe integer, or undefined. */
export function exactZigzag(lo: number, hi: number): number | undefined {
  const negative = (lo & 1) === 1;
  const mLo = ((lo >>> 1) | (hi << 31)) >>> 0;
  const mHi = hi >>> 1;
  const m = mHi * TWO_32 + mLo;
  if (m > Number.MAX_SAFE_INTEGER - (negative ? 1 : 0)) return undefined;
  return negative ? -m - 1 : m;
}

/** lo/hi as a decimal string (for errors about values no number holds). */
export function decimalOf(lo: number, hi: number): string {
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

// ---------------------------------------------------------------------------
// A message's top-level fields
// ---------------------------------------------------------------------------

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

/** Checked: splits a message into its top-level fields without decoding them. Throws CodecError. */
export function scanFields(src: ProtoReader): FieldSpan[] {
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

/**
 * Or bail: a message's top-level fields in two parts: the payload of each
 * field number in `wanted` (length-delimited, at most once: a repeated
 * message field merges, which the reference decoder does), and the bytes
 * of all the other fields, in order.
 */
export function splitFieldsOrBail(src: ProtoReader, wanted: { has(id: number): boolean }): { spans: Map<number, [number, number]>; rest: Buffer } {
  const spans = new Map<number, [number, number]>();
  const rest: Uint8Array[] = [];
  while (src.pos < src.end) {
    const fieldStart = src.pos;
    const key = src.u32OrBail();
    const id = key >>> 3;
    const wire = key & 7;
    if (id === 0) throw NOT_FAST;
    if (wanted.has(id)) {
      if (wire !== WIRE_LEN || spans.has(id)) throw NOT_FAST;
      spans.set(id, src.spanOrBail());
      continue;
    }
    src.skipOrBail(wire);
    rest.push(src.buf.subarray(fieldStart, src.pos));
  }
  return { spans, rest: Buffer.concat(rest) };
}
