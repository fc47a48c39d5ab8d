/**
 * RegionScore and Hint to bytes, fast: the same bytes as schemas/derived.ts's
 * encodeRegionScore and encodeHint (score-encoder.test.ts checks them
 * against each other over many random messages), at a few percent of their
 * cost. Scores are the processors' high-volume output (one per active region
 * per window) and hints the next; the reflective encoder (~10-30 us each)
 * would cap a scorer far below its event rate. protobufjs writes every
 * present field, zeros included, in field-number order; so does this.
 *
 * Contract: the caller passes a message that the derived.ts encoder accepts
 * (the engine builds them from validated numbers); this does not re-check.
 */
import type { Hint, RegionScore } from '../schemas/derived.js';
import type { Region } from '../schemas/identity.js';
import { ProtoWriter } from '../schemas/proto-writer.js';

const MAPPING_KIND: Readonly<Record<string, number>> = { unspecified: 0, anon: 1, heap: 2, stack: 3, file: 4 };
/** Hint.Action's numbers (pageloop.proto). */
const HINT_ACTION: Readonly<Record<string, number>> = { unspecified: 0, promote: 1, keep_base_pages: 2, mark_cold: 3, page_out: 4, reclaim_cgroup: 5 };

const w = new ProtoWriter(1024);

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
  const at = w.beginMessage(id);
  w.stringField(1, p.host);
  w.stringField(2, p.bootId);
  w.uint32Field(3, p.pid);
  w.uint64Field(4, p.startNs);
  w.endMessage(at);
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
  const at = w.beginMessage(1);
  w.uint32Field(1, MAPPING_KIND[m.kind] ?? 0);
  w.stringField(2, m.path);
  w.uint32Field(3, m.ordinal);
  w.endMessage(at);
  mBytes = Buffer.from(w.buf.subarray(from, w.pos));
  mKind = m.kind;
  mPath = m.path;
  mOrdinal = m.ordinal;
}

function regionField(id: number, r: Region): void {
  const at = w.beginMessage(id);
  mappingField(r.mapping);
  w.uint64Field(2, r.offset);
  w.uint64Field(3, r.start);
  w.uint64Field(4, r.length);
  w.endMessage(at);
}

export function encodeRegionScoreFast(s: RegionScore): Uint8Array {
  w.pos = 0;
  processField(s.process);
  regionField(2, s.region);
  w.uint64Field(3, s.windowStartNs);
  w.uint64Field(4, s.windowEndNs);
  for (const z of s.sizes) {
    const at = w.beginMessage(5);
    w.uint32Field(1, z.sizeKb);
    w.doubleField(2, z.benefit);
    w.doubleField(3, z.cost);
    w.doubleField(4, z.net);
    w.endMessage(at);
  }
  w.uint32Field(6, s.preferredSizeKb);
  const a = s.access;
  const at = w.beginMessage(7);
  w.uint64Field(1, a.faults);
  w.uint64Field(2, a.writeFaults);
  w.uint64Field(3, a.instrFaults);
  w.uint64Field(4, a.protFaults);
  w.uint64Field(5, a.majorFaults);
  w.uint64Field(6, a.promotions);
  w.uint64Field(7, a.promotionFailures);
  w.uint64Field(8, a.collapses);
  w.uint64Field(9, a.swapOuts);
  w.doubleField(10, a.damonAccesses);
  w.uint64Field(11, a.touchedBytes);
  w.endMessage(at);
  w.stringField(8, s.executable);
  w.stringField(9, s.comm);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

export function encodeHintFast(h: Hint): Uint8Array {
  w.pos = 0;
  w.stringField(1, h.hintId);
  writeProcess(2, h.process);
  if (h.region) regionField(3, h.region);
  w.uint32Field(4, HINT_ACTION[h.action] ?? 0);
  w.uint32Field(5, h.pageSizeKb);
  w.doubleField(6, h.score);
  w.stringField(7, h.reason);
  w.uint64Field(8, h.issuedNs);
  w.uint64Field(9, h.expiresNs);
  w.stringField(10, h.cgroup);
  w.uint64Field(11, h.bytes);
  return Buffer.from(w.buf.subarray(0, w.pos));
}
