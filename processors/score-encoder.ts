/**
 * RegionScore and Hint to bytes, fast: the same bytes as schemas/wire.ts's
 * encodeRegionScore and encodeHint (score-encoder.test.ts checks them
 * against each other over many random messages), at a few percent of their
 * cost. Scores are the processors' high-volume output (one per active region
 * per window) and hints the next; the reflective encoder (~10-30 us each)
 * would cap a scorer far below its event rate. protobufjs writes every
 * present field, zeros included, in field-number order; so does this.
 *
 * Contract: the caller passes a message that the wire.ts encoder accepts
 * (the engine builds them from validated numbers); this does not re-check.
 */
import type { Hint, Region, RegionScore } from '../schemas/wire.js';

const MAPPING_KIND: Readonly<Record<string, number>> = { unspecified: 0, anon: 1, heap: 2, stack: 3, file: 4 };
/** Hint.Action's numbers (pageloop.proto). */
const HINT_ACTION: Readonly<Record<string, number>> = { unspecified: 0, promote: 1, keep_base_pages: 2, mark_cold: 3, page_out: 4, reclaim_cgroup: 5 };
const TWO_32 = 4294967296;

class Writer {
  buf = Buffer.allocUnsafe(1024);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint32(n: number): void {
    this.ensure(5);
    n >>>= 0;
    while (n > 127) {
      this.buf[this.pos++] = (n & 127) | 128;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  /** 0 <= n < 2^64, an integral double. */
  varint64(n: number): void {
    if (n < TWO_32) {
      this.varint32(n);
      return;
    }
    this.ensure(10);
    let lo = n % TWO_32 >>> 0;
    let hi = ((n - (n % TWO_32)) / TWO_32) >>> 0;
    while (hi !== 0) {
      this.buf[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      this.buf[this.pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  u32(id: number, v: number): void {
    this.varint32(id << 3);
    this.varint32(v);
  }

  u64(id: number, v: number): void {
    this.varint32(id << 3);
    this.varint64(v);
  }

  f64(id: number, v: number): void {
    this.varint32((id << 3) | 1);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  str(id: number, s: string): void {
    this.varint32((id << 3) | 2);
    if (s === '') {
      this.varint32(0);
      return;
    }
    // Written in place: hint ids and reasons are all different (the repeated strings, process and
    // mapping, are copied as whole fields).
    const len = Buffer.byteLength(s, 'utf8');
    this.varint32(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  /** Opens a sub-message: its tag and a one-byte length placeholder; returns where its body starts. */
  begin(id: number): number {
    this.varint32((id << 3) | 2);
    this.ensure(1);
    this.pos++;
    return this.pos;
  }

  /** Closes it: the length goes in the placeholder (the body moves if the length needs more bytes). */
  end(body: number): void {
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

const w = new Writer();

/**
 * The last process and mapping fields written, as bytes (tag and length
 * included): a window's scores come process by process, and the engine's
 * mappings are all the same placeholder, so these mostly copy.
 */
let pHost = '';
let pBoot = '';
let pPid = -1;
let pStart = -1;
let pBytes = Buffer.alloc(0);
let mKind = '';
let mPath = '';
let mOrdinal = -1;
let mBytes = Buffer.alloc(0);

function copyIn(b: Buffer): void {
  w.ensure(b.length);
  b.copy(w.buf, w.pos);
  w.pos += b.length;
}

function writeProcess(id: number, p: RegionScore['process']): void {
  const at = w.begin(id);
  w.str(1, p.host);
  w.str(2, p.bootId);
  w.u32(3, p.pid);
  w.u64(4, p.startNs);
  w.end(at);
}

/** RegionScore.process (field 1), from the last bytes written when it is the same process. */
function processField(p: RegionScore['process']): void {
  if (p.host === pHost && p.bootId === pBoot && p.pid === pPid && p.startNs === pStart) {
    copyIn(pBytes);
    return;
  }
  const from = w.pos;
  writeProcess(1, p);
  pBytes = Buffer.from(w.buf.subarray(from, w.pos));
  pHost = p.host;
  pBoot = p.bootId;
  pPid = p.pid;
  pStart = p.startNs;
}

function mappingField(m: RegionScore['region']['mapping']): void {
  if (m.kind === mKind && m.path === mPath && m.ordinal === mOrdinal) {
    copyIn(mBytes);
    return;
  }
  const from = w.pos;
  const at = w.begin(1);
  w.u32(1, MAPPING_KIND[m.kind] ?? 0);
  w.str(2, m.path);
  w.u32(3, m.ordinal);
  w.end(at);
  mBytes = Buffer.from(w.buf.subarray(from, w.pos));
  mKind = m.kind;
  mPath = m.path;
  mOrdinal = m.ordinal;
}

function regionField(id: number, r: Region): void {
  const at = w.begin(id);
  mappingField(r.mapping);
  w.u64(2, r.offset);
  w.u64(3, r.start);
  w.u64(4, r.length);
  w.end(at);
}

export function encodeRegionScoreFast(s: RegionScore): Uint8Array {
  w.pos = 0;
  processField(s.process);
  regionField(2, s.region);
  w.u64(3, s.windowStartNs);
  w.u64(4, s.windowEndNs);
  for (const z of s.sizes) {
    const at = w.begin(5);
    w.u32(1, z.sizeKb);
    w.f64(2, z.benefit);
    w.f64(3, z.cost);
    w.f64(4, z.net);
    w.end(at);
  }
  w.u32(6, s.preferredSizeKb);
  const a = s.access;
  const at = w.begin(7);
  w.u64(1, a.faults);
  w.u64(2, a.writeFaults);
  w.u64(3, a.instrFaults);
  w.u64(4, a.protFaults);
  w.u64(5, a.majorFaults);
  w.u64(6, a.promotions);
  w.u64(7, a.promotionFailures);
  w.u64(8, a.collapses);
  w.u64(9, a.swapOuts);
  w.f64(10, a.damonAccesses);
  w.u64(11, a.touchedBytes);
  w.end(at);
  w.str(8, s.executable);
  w.str(9, s.comm);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

export function encodeHintFast(h: Hint): Uint8Array {
  w.pos = 0;
  w.str(1, h.hintId);
  writeProcess(2, h.process);
  if (h.region) regionField(3, h.region);
  w.u32(4, HINT_ACTION[h.action] ?? 0);
  w.u32(5, h.pageSizeKb);
  w.f64(6, h.score);
  w.str(7, h.reason);
  w.u64(8, h.issuedNs);
  w.u64(9, h.expiresNs);
  w.str(10, h.cgroup);
  w.u64(11, h.bytes);
  return Buffer.from(w.buf.subarray(0, w.pos));
}
