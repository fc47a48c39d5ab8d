import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import type { ProbeEvent } from '../bpf/events.js';
import { Kind } from '../bpf/layout.generated.js';
import { prng } from '../lib/prng.js';
import { CollectorStream, SEC, compaction, faultSummary, kcompactdWake, promotion, rawFault, scenarioRecords, swapIn, swapOut } from '../processors/synthetic.js';
import { ColumnScratch, decodeEventBatchTyped, takesFastPath } from './typed-decode.js';
import { WireDecodeError } from './wire-errors.js';
import { wireRoot } from './proto-reflect.js';
import { decodeEventBatch, encodeEventBatch } from './event-batch-codec.js';
import { eventBatchFromProbeEvents } from './event-batch-rows.js';

// protobufjs's Long class (its `long` dependency), for values past 2^53.
const Long = protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): object };
const U32 = 2 ** 32 - 1;
const META = { host: 'h', bootId: 'b', collectorId: 'c', sequence: 1 };

/** Typed arrays as plain arrays, to compare with decodeEventBatch's result. */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Both decoders give the same values, or the same error. Returns whether the bytes decoded. */
function sameAsReference(bytes: Uint8Array): boolean {
  let ref: unknown;
  let refErr: unknown;
  try {
    ref = decodeEventBatch(bytes);
  } catch (err) {
    refErr = err;
  }
  if (refErr) {
    assert.ok(refErr instanceof WireDecodeError);
    assert.throws(
      () => decodeEventBatchTyped(bytes),
      (e: unknown) => e instanceof WireDecodeError && e.reason === refErr.reason && e.message === refErr.message,
    );
    return false;
  }
  const typed = decodeEventBatchTyped(bytes);
  assert.deepStrictEqual(plain(typed), ref);
  // Numbers of event blocks are typed, whichever path decoded them.
  assert.ok(typed.faultSummaries.lastNs instanceof Float64Array);
  assert.ok(typed.faults.h.pid instanceof Uint32Array);
  assert.ok(typed.compactions.order instanceof Int32Array);
  return true;
}

/** A mix of every event type, with samplers, like the bench's stream. */
function mixedBatch(seed: number, n: number, stream = new CollectorStream('host-x', 'boot-x', 'col-x')): Uint8Array {
  const rnd = prng(seed);
  const ev: ProbeEvent[] = [];
  const t0 = 1000 * SEC;
  for (let i = 0; i < n; i++) {
    const t = t0 + i * 1000;
    const pid = 1000 + Math.floor(rnd() * 5);
    const region = 0x7f0000000000 + Math.floor(rnd() * 50) * 2 * 1024 * 1024;
    const x = rnd();
    if (x < 0.6) ev.push(faultSummary(t, pid, 1e9 + pid, region, 1 + Math.floor(rnd() * 9)));
    else if (x < 0.75) ev.push(rawFault(t, pid, 1e9 + pid, region + Math.floor(rnd() * 512) * 4096, Math.floor(rnd() * 32)));
    else if (x < 0.85) ev.push(promotion(t, pid, 1e9 + pid, region, rnd() < 0.5 ? 9 : 4, rnd() < 0.2));
    else if (x < 0.9) ev.push(swapOut(t, pid, 1e9 + pid, region, 1 + Math.floor(rnd() * 4)));
    else if (x < 0.95) ev.push(swapIn(t, pid, 1e9 + pid, region));
    else if (x < 0.98) ev.push(compaction(t, 1_000_000, rnd() < 0.5 ? 9 : -1, rnd() < 0.5));
    else ev.push(kcompactdWake(t));
  }
  return stream.batch(ev, {
    psi: [{ tsNs: t0, cgroup: '', someAvg10: 1.5, someAvg60: 0.25, someAvg300: 0, someTotalUs: 12, fullAvg10: 0, fullAvg60: 0, fullAvg300: 0, fullTotalUs: 3 }],
    damon: [{ tsNs: t0 + 5, pid: 1000, startNs: 1e9 + 1000, regionStart: 0x7f0000000000, regionEnd: 0x7f0000400000, nrAccesses: 7, age: 2 }],
  });
}

test('the typed decode gives what decodeEventBatch gives, value for value', () => {
  for (const r of scenarioRecords({ windows: 12 })) sameAsReference(r.value);
  for (let seed = 1; seed <= 10; seed++) sameAsReference(mixedBatch(seed, 50 * seed));
  // Extremes: 32-bit maxima and u64s past 49 bits (those records take the reference path).
  const big: ProbeEvent[] = [
    { type: 'fault', h: { tsNs: 2 ** 53, startNs: 1, pid: U32, tid: U32, kind: Kind.PL_KIND_FAULT, cpu: 65535, hint: U32 }, address: 2 ** 60, ip: 0, errorCode: U32, sampleWeight: 0 },
    faultSummary(2 ** 48, U32, 2 ** 49 - 1, 0, U32),
  ];
  sameAsReference(encodeEventBatch(eventBatchFromProbeEvents(META, big)));
  const atLimit = [faultSummary(2 ** 49 - 1, U32, 2 ** 49 - 1, 2 ** 49 - 2, 2 ** 49 - 1), rawFault(2 ** 49 - 1, U32, 0, 2 ** 49 - 1, U32)];
  assert.ok(takesFastPath(encodeEventBatch(eventBatchFromProbeEvents(META, atLimit))));
  sameAsReference(encodeEventBatch(eventBatchFromProbeEvents(META, atLimit)));
  // Nothing at all, and a batch without an order.
  sameAsReference(encodeEventBatch(eventBatchFromProbeEvents(META, [])));
  sameAsReference(encodeEventBatch({ ...eventBatchFromProbeEvents(META, [swapIn(5, 1, 2, 4096), rawFault(6, 1, 2, 8192)]), order: { type: [], run: [] } }));
});

test('the common record takes the fast path', () => {
  assert.ok(takesFastPath(mixedBatch(3, 500)));
  for (const r of scenarioRecords({ windows: 2 })) assert.ok(takesFastPath(r.value));
});

function rawBatch(fields: Record<string, unknown>): Uint8Array {
  return wireRoot().lookupType('pageloop.v1.EventBatch').encode({ host: 'h', bootId: 'b', collectorId: 'c', ...fields }).finish();
}

test('bad records fail the same way on both paths', () => {
  const good = mixedBatch(7, 300);
  assert.ok(sameAsReference(good));
  for (const cut of [1, 7, 40, good.length >> 1, good.length - 7, good.length - 1]) sameAsReference(good.subarray(0, cut));
  sameAsReference(Buffer.from([0xff, 0xff, 0xff]));
  sameAsReference(Buffer.alloc(0));
  sameAsReference(Buffer.from('this is not a protobuf, it is a sentence'));
  const cases: Record<string, unknown>[] = [
    { faults: { rows: 3, h: { tsNs: [1, 2] } } },
    { faults: { rows: 1_000_000 } },
    { faults: { rows: 1_000_000, address: [1] } },
    { faultSummaries: { rows: 2, pid: [1, 2, 3] } },
    { faultSummaries: { rows: 0, pid: [1] } },
    { swapIns: { rows: 1, address: [Long.fromString('9007199254740993', true)] } },
    { swapIns: { rows: 1, address: [Long.fromString('562949953421312', true)] } },
    { order: { type: [99], run: [1] } },
    { faults: { rows: 2, address: [1, 2] }, order: { type: [1], run: [1] } },
    { faults: { rows: 2, address: [1, 2] }, order: { type: [1, 1], run: [1, 1] } },
    { faults: { rows: 2, address: [1, 2] }, order: { type: [1], run: [2, 1] } },
    { promotions: { rows: 1, migratetype: [-5] }, order: { type: [2], run: [1] } },
    { vmstat: { rows: 1, tsNs: [1], entries: [2], names: ['a'], nameIndex: [0, 1], delta: [1, 2] } },
    { collectorId: '' },
  ];
  for (const fields of cases) sameAsReference(rawBatch(fields));
  // A block sent twice merges (the reference decoder's job), and an unknown field inside a block is skipped.
  const once = encodeEventBatch(eventBatchFromProbeEvents(META, [rawFault(5, 1, 2, 4096)]));
  const faultsField = rawBatch({ faults: { rows: 1, address: [8192] } }).subarray(rawBatch({}).length);
  sameAsReference(Buffer.concat([once, faultsField]));
  sameAsReference(Buffer.concat([rawBatch({}), Buffer.from([0x82, 0x01, 4, 0x08, 0, 0x78, 1])]));
  // Random corruption of valid records.
  const rnd = prng(11);
  let decoded = 0;
  for (let i = 0; i < 400; i++) {
    const bad = Buffer.from(i % 2 ? good : mixedBatch(i, 40));
    for (let j = 0; j < 1 + (i % 3); j++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
    if (sameAsReference(bad)) decoded++;
  }
  // Some corruptions only change values: those must decode the same too.
  assert.ok(decoded > 0);
});

test('with a ColumnScratch, each batch decodes to what it decodes to alone (reused buffers hold nothing over)', () => {
  const scratch = new ColumnScratch();
  // Sizes up and down, and columns that are on the wire in one batch and absent (all zero) in the next.
  const batches: Uint8Array[] = [];
  for (let seed = 1; seed <= 12; seed++) batches.push(mixedBatch(seed, seed % 3 === 0 ? 400 : 30 * seed));
  batches.push(new CollectorStream('h', 'b', 'c').batch([faultSummary(SEC, 1, 2, 0x7f0000000000, 0)]));
  batches.push(new CollectorStream('h', 'b', 'c').batch([]));
  for (const r of scenarioRecords({ windows: 4 })) batches.push(r.value);
  for (const bytes of batches) {
    assert.ok(takesFastPath(bytes));
    assert.deepStrictEqual(plain(decodeEventBatchTyped(bytes, scratch)), plain(decodeEventBatchTyped(bytes)));
  }
});
