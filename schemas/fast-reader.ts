/**
 * The pieces the fast EventBatch decoders share (schemas/typed-decode.ts for
 * the processors, sink/fast-decode.ts for the sink): a bounds-
 * checked reader and packed-varint loops that take only the common shapes
 * and throw NOT_FAST at anything else, so that the caller hands the bytes
 * to decodeEventBatch, whose answer (or error) is then the one given.
 */

/** Thrown inside a fast path to mean "not for me": decodeEventBatch decides. */
export class NotFast extends Error {}
export const NOT_FAST = new NotFast();

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** A reader over [start, end) of a buffer; anything odd throws NOT_FAST. */
export class FastReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint of at most 5 bytes, below 2^32. */
  u32(): number {
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
            // A sixth byte, or bits past 32: decodeEventBatch truncates; leave that to it.
            if (b > 15) throw NOT_FAST;
            v = (v >>> 0) + b * 268435456;
          }
        }
      }
    }
    if (pos > this.end) throw NOT_FAST;
    this.pos = pos;
    return v >>> 0;
  }

  /** A length-delimited payload: its [start, end). */
  span(): [number, number] {
    const len = this.u32();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw NOT_FAST;
    this.pos = end;
    return [start, end];
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) {
      while (this.pos < this.end && this.buf[this.pos]! >= 128) this.pos++;
      this.pos++;
    } else if (wire === WIRE_LEN) this.span();
    else if (wire === WIRE_FIXED64) this.pos += 8;
    else if (wire === WIRE_FIXED32) this.pos += 4;
    else throw NOT_FAST;
    if (this.pos > this.end) throw NOT_FAST;
  }
}

/**
 * Packed u64 varints of at most 7 bytes (49 bits: every address and
 * boot-time ns; exact in a double) into out; returns how many. Unrolled in
 * 32-bit integer steps (28 low bits, then 21 high ones).
 */
export function packedU64(buf: Uint8Array, start: number, end: number, out: Float64Array): number {
  const cap = out.length;
  let n = 0;
  let pos = start;
  while (pos < end) {
    if (n >= cap) throw NOT_FAST;
    let b = buf[pos++]!;
    let lo = b & 127;
    if (b >= 128) {
      b = buf[pos++]!;
      lo |= (b & 127) << 7;
      if (b >= 128) {
        b = buf[pos++]!;
        lo |= (b & 127) << 14;
        if (b >= 128) {
          b = buf[pos++]!;
          lo |= (b & 127) << 21;
          if (b >= 128) {
            b = buf[pos++]!;
            let hi = b & 127;
            if (b >= 128) {
              b = buf[pos++]!;
              hi |= (b & 127) << 7;
              if (b >= 128) {
                b = buf[pos++]!;
                hi |= (b & 127) << 14;
                if (b >= 128) throw NOT_FAST;
              }
            }
            out[n++] = lo + hi * 268435456;
            continue;
          }
        }
      }
    }
    out[n++] = lo;
  }
  if (pos !== end) throw NOT_FAST;
  return n;
}

/** Packed 32-bit varints into out (zigzag-decoded when asked, for s32); returns how many. */
export function packed32(buf: Uint8Array, start: number, end: number, out: Float64Array | Uint32Array | Int32Array, zigzag: boolean): number {
  const cap = out.length;
  let n = 0;
  let pos = start;
  const c = new FastReader(buf, start, end);
  while (pos < end) {
    if (n >= cap) throw NOT_FAST;
    const b = buf[pos]!;
    let z: number;
    if (b < 128) {
      z = b;
      pos++;
    } else {
      c.pos = pos;
      z = c.u32();
      pos = c.pos;
    }
    out[n++] = zigzag ? (z >>> 1) ^ -(z & 1) : z;
  }
  if (pos !== end) throw NOT_FAST;
  return n;
}

/** EventOrder's payload: packed types (field 1) and runs (field 2), as numbers. */
export function readOrder(buf: Uint8Array, start: number, end: number): { type: number[]; run: number[] } {
  const type: number[] = [];
  const run: number[] = [];
  const r = new FastReader(buf, start, end);
  while (r.pos < end) {
    const key = r.u32();
    const id = key >>> 3;
    if ((key & 7) !== WIRE_LEN || (id !== 1 && id !== 2)) throw NOT_FAST;
    const [s, e] = r.span();
    const inner = new FastReader(buf, s, e);
    const into = id === 1 ? type : run;
    while (inner.pos < e) into.push(inner.u32());
  }
  return { type, run };
}
