/**
 * Ring-buffer batches as the addon hands them over (u32 length, u32 0, the
 * record padded to 8), mutated: flipped bytes, truncation mid-record,
 * lengths too short or too long for the record's kind, unknown kinds. The
 * decoders of the probes (decodeBatch) and of the collector's hot path
 * (eventBatchFromRecords, encodeEventBatchFromRecords) end in events or in a
 * RingRecordError (a PageloopError naming the byte offset) or, for a value
 * no JS number holds, WireEncodeError; never in a
 * RangeError or a read of the neighbouring record, and never hang; what the
 * collector encodes from any batch the processors can decode.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PageloopError } from '../lib/errors.js';
import { prng } from '../lib/prng.js';
import { Kind, layouts } from './layout.generated.js';
import { RingRecordError, UnknownRecordError, decodeBatch, forEachRecord } from './events.js';
import type { BatchMeta } from '../schemas/event-batch.js';
import { decodeEventBatch, encodeEventBatch } from '../schemas/event-batch-codec.js';
import { eventBatchFromRecords, eventCount } from '../schemas/event-batch-rows.js';
import { encodeEventBatchFromRecords } from '../schemas/record-encoder.js';
import { decodesOrRefuses, fuzzParams, mutatedArb, mutate } from '../test/fuzz.js';

const RUNS = 1000;
const TIMEOUT = { timeout: 20_000 };
const META: BatchMeta = { host: 'node-a', bootId: 'boot', collectorId: 'c1', sequence: 1 };

const KINDS = Object.entries(Kind)
  .filter(([name]) => layouts[`pl_${name.slice(8).toLowerCase()}_event`])
  .map(([name, kind]) => ({ name, kind, layout: layouts[`pl_${name.slice(8).toLowerCase()}_event`]! }));

/** One framed record of `kind` with seeded field values. */
function frame(kind: number, size: number, rnd: () => number): Buffer {
  const rec = Buffer.alloc(size);
  for (let at = 0; at + 4 <= size; at += 4) rec.writeUInt32LE(Math.floor(rnd() * 2 ** 32), at);
  // Times and u64s small enough for a JS number; the kind where it belongs.
  for (const at of [4, 12]) rec.writeUInt32LE(Math.floor(rnd() * 2 ** 20), at);
  for (let at = 36; at + 4 <= size; at += 8) rec.writeUInt32LE(Math.floor(rnd() * 2 ** 20), at);
  rec.writeUInt16LE(kind, 24);
  const out = Buffer.alloc(8 + ((size + 7) & ~7));
  out.writeUInt32LE(size, 0);
  rec.copy(out, 8);
  return out;
}

function batchOf(seed: number, records: number): Buffer {
  const rnd = prng(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < records; i++) {
    const k = KINDS[Math.floor(rnd() * KINDS.length)]!;
    parts.push(frame(k.kind, k.layout.size, rnd));
  }
  return Buffer.concat(parts);
}

const VALID = [batchOf(1, 1), batchOf(2, 4), batchOf(3, 12), batchOf(4, 30)];

const isRingError = (e: unknown): boolean => e instanceof RingRecordError && e instanceof PageloopError;
const isRingOrWire = (e: unknown): boolean => isRingError(e) || (e instanceof PageloopError && e.code === 'wire-encode');

/** Edits aimed at a frame's own fields: its length word and its kind. */
const frameFieldMutation: fc.Arbitrary<{ record: number; length?: number; kind?: number }> = fc.record({
  record: fc.nat(),
  length: fc.option(fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000)), { nil: undefined }),
  kind: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
});

function editFrame(batch: Buffer, e: { record: number; length?: number; kind?: number }): Buffer {
  const out = Buffer.from(batch);
  const starts: number[] = [];
  let at = 0;
  while (at + 8 <= out.length) {
    starts.push(at);
    at += 8 + ((out.readUInt32LE(at) + 7) & ~7);
  }
  const start = starts[e.record % starts.length]!;
  if (e.length !== undefined) out.writeUInt32LE(e.length, start);
  if (e.kind !== undefined && start + 8 + 26 <= out.length) out.writeUInt16LE(e.kind, start + 8 + 24);
  return out;
}

const badBatchArb = fc.oneof(
  mutatedArb(VALID).map((b) => Buffer.from(b)),
  fc.tuple(fc.constantFrom(...VALID), frameFieldMutation).map(([b, e]) => editFrame(b, e)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
);

describe('ring-buffer frames, fuzzed', () => {
  it('the valid batches decode, every kind among them', () => {
    const seen = new Set<string>();
    for (const b of VALID) for (const e of decodeBatch(b)) seen.add(e.type);
    assert.ok(seen.size >= 8, `only ${[...seen].join(',')}`);
    for (const b of VALID) decodeEventBatch(encodeEventBatchFromRecords(META, [b], []));
  });

  it('a short or truncated record is refused with the offset, not read from its neighbour', () => {
    const one = batchOf(9, 2);
    const size = one.readUInt32LE(0);
    const short = editFrame(one, { record: 0, length: size - 8 });
    assert.throws(() => decodeBatch(short), (e: unknown) => isRingError(e) && /at byte 0/.test((e as Error).message));
    assert.throws(() => decodeBatch(one.subarray(0, one.length - 4)), (e: unknown) => isRingError(e) && /past the end/.test((e as Error).message));
    assert.throws(() => decodeBatch(editFrame(one, { record: 1, kind: 999 })), (e: unknown) => e instanceof UnknownRecordError && isRingError(e));
  });

  it('decodeBatch and forEachRecord: events or RingRecordError', TIMEOUT, () => {
    fc.assert(
      fc.property(badBatchArb, (batch) => {
        decodesOrRefuses(() => decodeBatch(batch), isRingError);
        decodesOrRefuses(() => forEachRecord(batch, () => undefined), isRingError);
      }),
      fuzzParams(RUNS),
    );
  });

  it("the collector's encoders: a batch the processors decode, or RingRecordError; both paths agree", TIMEOUT, () => {
    fc.assert(
      fc.property(badBatchArb, (batch) => {
        const fast = decodesOrRefuses(() => encodeEventBatchFromRecords(META, [batch], []), isRingOrWire);
        const slow = decodesOrRefuses(() => eventBatchFromRecords(META, [batch], []), isRingError);
        const slowBytes = slow.ok ? decodesOrRefuses(() => encodeEventBatch(slow.value), isRingOrWire) : slow;
        const events = decodesOrRefuses(() => decodeBatch(batch).filter((e) => e.type !== 'bench'), isRingError);
        if (fast.ok) {
          const decoded = decodeEventBatch(fast.value);
          if (events.ok) assert.equal(eventCount(decoded), events.value.length);
        }
        if (slow.ok && events.ok) assert.equal(eventCount(slow.value), events.value.length);
        assert.equal(fast.ok, slowBytes.ok, `hot path ${fast.ok ? 'encodes' : 'refuses'}, object path ${slowBytes.ok ? 'encodes' : 'refuses'}`);
        if (fast.ok && slowBytes.ok) assert.ok(Buffer.from(fast.value).equals(Buffer.from(slowBytes.value as Uint8Array)), 'the hot path and the object path encode different bytes');
      }),
      fuzzParams(RUNS),
    );
  });

  it('mutate() edits stay within the batch (the harness itself)', () => {
    const b = VALID[1]!;
    assert.equal(mutate(b, { op: 'truncate', at: 10 }).length, 10);
    assert.equal(mutate(b, { op: 'flip', at: b.length + 3, mask: 1 })[3], b[3]! ^ 1);
  });
});
