/**
 * The protobuf writer: every encoder here that writes protobuf bytes itself
 * (schemas/columns.ts, schemas/event-batch-codec.ts, schemas/record-encoder.ts,
 * processors/score-encoder.ts) writes them with this, and the same bytes as
 * protobufjs (which still encodes the small messages by reflection,
 * schemas/proto-reflect.ts): varints at their shortest, zigzag for sint,
 * little-endian fixed64 doubles, length-delimited strings and messages.
 *
 * record-encoder.ts generates its per-event-type writers as source text;
 * varint32Source and varintLoHiSource are this file's varint loops as that
 * text, so there is one varint writer in two spellings side by side.
 */
import { WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './proto-reader.js';

const TWO_32 = 4294967296;

/** A growable byte buffer that protobuf is written into. */
export class ProtoWriter {
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

  // -------------------------------------------------------------------------
  // Values
  // -------------------------------------------------------------------------

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

  /** Zigzag of an int32 (sint32). */
  zigzag32(v: number): void {
    this.varint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** Zigzag of a safe integer (sint64). Not 2|v| in doubles: 2^54-3 is not a double. */
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

  /** A little-endian fixed64 double. */
  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  tag(id: number, wire: number): void {
    this.varint32(((id << 3) | wire) >>> 0);
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** What has been written: a view of the buffer, good until the next write. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  // -------------------------------------------------------------------------
  // Whole fields: tag and value
  // -------------------------------------------------------------------------

  uint32Field(id: number, v: number): void {
    this.tag(id, WIRE_VARINT);
    this.varint32(v);
  }

  uint64Field(id: number, v: number): void {
    this.tag(id, WIRE_VARINT);
    this.varint64(v);
  }

  doubleField(id: number, v: number): void {
    this.tag(id, WIRE_FIXED64);
    this.double(v);
  }

  /** A string field, UTF-8 written in place. */
  stringField(id: number, s: string): void {
    this.tag(id, WIRE_LEN);
    if (s === '') {
      this.varint32(0);
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varint32(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  /** Field `id` holding an encoded message (or any bytes): tag, length, payload. */
  messageField(id: number, message: Uint8Array): void {
    this.tag(id, WIRE_LEN);
    this.varint32(message.length);
    this.bytes(message);
  }

  /**
   * Opens a sub-message written in place: its tag and a one-byte length
   * placeholder; returns where its body starts, for endMessage.
   */
  beginMessage(id: number): number {
    this.tag(id, WIRE_LEN);
    this.ensure(1);
    this.pos++;
    return this.pos;
  }

  /** Closes it: the length goes in the placeholder (the body moves if the length needs more bytes). */
  endMessage(body: number): void {
    const len = this.pos - body;
    if (len < 128) {
      this.buf[body - 1] = len;
      return;
    }
    let extra = 0;
    for (let n = len >>> 7; n > 0; n >>>= 7) extra++;
    this.ensure(extra);
    this.buf.copyWithin(body + extra, body, this.pos);
    this.pos += extra;
    let at = body - 1;
    let n = len;
    while (n > 127) {
      this.buf[at++] = (n & 127) | 128;
      n >>>= 7;
    }
    this.buf[at] = n;
  }
}

// ---------------------------------------------------------------------------
// The varint loops as source text, for generated writers
// ---------------------------------------------------------------------------

/** Code that appends the varint of uint32 local `v` at `b[p++]` (as ProtoWriter.varint32). */
export function varint32Source(b: string, p: string, v: string): string {
  return `while (${v} > 127) { ${b}[${p}++] = (${v} & 127) | 128; ${v} >>>= 7; } ${b}[${p}++] = ${v};`;
}

/** Code that appends the varint of lo + hi * 2^32 (uint32 locals) at `b[p++]` (as ProtoWriter.varintLoHi). */
export function varintLoHiSource(b: string, p: string, lo: string, hi: string): string {
  return `while (${hi} !== 0) { ${b}[${p}++] = (${lo} & 127) | 128; ${lo} = ((${lo} >>> 7) | (${hi} << 25)) >>> 0; ${hi} >>>= 7; } while (${lo} > 127) { ${b}[${p}++] = (${lo} & 127) | 128; ${lo} >>>= 7; } ${b}[${p}++] = ${lo};`;
}
