/**
 * The derived messages (RegionScore, PhaseChange, Hint, HintAction,
 * TunerChange) and DeadLetter round-trip exactly, and refuse what an actor
 * must not act on with the typed errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { WireDecodeError, WireEncodeError } from './wire-errors.js';
import { wireRoot } from './proto-reflect.js';
import { decodeHint, decodeHintAction, decodePhaseChange, decodeRegionScore, decodeTunerChange, encodeHint, encodeHintAction, encodePhaseChange, encodeRegionScore, encodeTunerChange, type Hint, type HintAction, type PhaseChange, type RegionScore, type TunerChange } from './derived.js';
import { decodeDeadLetter, encodeDeadLetter, type DeadLetter } from './dead-letter.js';

// protobufjs's Long class (its `long` dependency), for values past 2^53.
const Long = protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): object };

const U32 = 2 ** 32 - 1;
const U64 = Number.MAX_SAFE_INTEGER; // 2^53-1: the largest u64 a JS number holds exactly

function decodeError(fn: () => unknown): WireDecodeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WireDecodeError, `expected WireDecodeError, got ${String(err)}`);
    assert.equal(err.code, 'wire-decode');
    assert.equal(err.retriable, false);
    return err;
  }
  assert.fail('decoding did not throw');
}


const PROCESS = { host: 'node-7.example', bootId: '5e1f4c0e', pid: U32, startNs: U64 };
const REGION = { mapping: { kind: 'file' as const, path: '/usr/lib/libjvm.so', ordinal: 0 }, offset: U64, start: 0x7f00_0000_0000, length: 2 ** 21 };

const HINT: Hint = {
  hintId: 'h-000001',
  process: PROCESS,
  region: REGION,
  action: 'promote',
  pageSizeKb: 2048,
  score: 1.25e-3,
  reason: 'hot: 4e5 faults/s',
  issuedNs: 1,
  expiresNs: U64,
  cgroup: '',
  bytes: 0,
};

test('RegionScore, PhaseChange, Hint, HintAction, TunerChange and DeadLetter round-trip exactly', () => {
  const score: RegionScore = {
    process: PROCESS,
    region: { ...REGION, mapping: { kind: 'anon', path: '', ordinal: U32 } },
    windowStartNs: 0,
    windowEndNs: U64,
    sizes: [
      { sizeKb: 64, benefit: 0.5, cost: 0.25, net: 0.25 },
      { sizeKb: 2048, benefit: -1.5, cost: 3, net: -4.5 },
    ],
    preferredSizeKb: 64,
    access: {
      faults: U64,
      writeFaults: 1,
      instrFaults: 2,
      protFaults: 3,
      majorFaults: 4,
      promotions: 5,
      promotionFailures: 6,
      collapses: 7,
      swapOuts: 8,
      damonAccesses: 9.5,
      touchedBytes: 10,
    },
    executable: '/usr/bin/java',
    comm: 'java',
  };
  assert.deepStrictEqual(decodeRegionScore(encodeRegionScore(score)), score);

  const summary = { hotSetHash: U64, hotRegions: U32, hotBytes: U64, faultRate: 1e6, majorFaultRate: 0, promotionRate: 0.5, swapOutRate: 3 };
  const phase: PhaseChange = { process: PROCESS, atNs: U64, phase: 3, before: summary, after: { ...summary, hotRegions: 0 }, distance: 0.75, reason: 'hot set changed' };
  assert.deepStrictEqual(decodePhaseChange(encodePhaseChange(phase)), phase);

  assert.deepStrictEqual(decodeHint(encodeHint(HINT)), HINT);
  const cgroupHint: Hint = { ...HINT, process: { ...PROCESS, pid: 0, startNs: 0 }, action: 'reclaim_cgroup', cgroup: '/sys/fs/cgroup/batch', bytes: 2 ** 30 };
  delete cgroupHint.region;
  assert.deepStrictEqual(decodeHint(encodeHint(cgroupHint)), cgroupHint);

  const action: HintAction = {
    hintId: HINT.hintId,
    process: PROCESS,
    region: REGION,
    action: 'page_out',
    pageSizeKb: 4,
    outcome: 'failed',
    reason: 'process_madvise: EPERM',
    errno: -1,
    bytesAffected: U64,
    durationNs: 12_345,
    atNs: 99,
    cgroup: '',
  };
  assert.deepStrictEqual(decodeHintAction(encodeHintAction(action)), action);
  for (const outcome of ['applied', 'refused', 'dry_run'] as const) {
    assert.equal(decodeHintAction(encodeHintAction({ ...action, outcome })).outcome, outcome);
  }

  const tuner: TunerChange = { threshold: 'planner.minScore', oldValue: 0.1, newValue: -0.2, objective: 'p99_fault_latency_ns', measured: 1234.5, target: 1000, atNs: U64, scope: '', reason: 'above target' };
  assert.deepStrictEqual(decodeTunerChange(encodeTunerChange(tuner)), tuner);

  const dead: DeadLetter = {
    topic: 'pageloop.events.v1',
    partition: 7,
    offset: U64,
    key: new Uint8Array([1, 2, 3]),
    reason: 'cannot decode pageloop.v1.EventBatch: host: empty',
    raw: new Uint8Array([0xff, 0x00, 0x10]),
    consumer: 'pageloop-scorer',
    timestampMs: 1_700_000_000_000,
  };
  assert.deepStrictEqual(decodeDeadLetter(encodeDeadLetter(dead)), dead);
  assert.deepStrictEqual(decodeDeadLetter(encodeDeadLetter({ ...dead, key: new Uint8Array(0) })).key, new Uint8Array(0));
});

test('derived messages refuse what an actor must not act on, with typed errors', () => {
  assert.throws(() => encodeHint({ ...HINT, action: 'unspecified' }), (e: unknown) => e instanceof WireEncodeError && /action: unspecified/.test(e.reason));
  assert.throws(() => encodeHint({ ...HINT, action: 'bogus' as Hint['action'] }), (e: unknown) => e instanceof WireEncodeError && /Hint\.action: "bogus" is not one of/.test(e.reason));
  assert.throws(() => encodeHint({ ...HINT, pageSizeKb: -1 }), (e: unknown) => e instanceof WireEncodeError && /Hint\.pageSizeKb: expected an integer/.test(e.reason));
  const noRegion: Hint = { ...HINT };
  delete noRegion.region;
  assert.throws(() => encodeHint(noRegion), (e: unknown) => e instanceof WireEncodeError && /region: missing/.test(e.reason));

  const hintType = wireRoot().lookupType('pageloop.v1.Hint');
  const raw = (fields: Record<string, unknown>): Uint8Array => hintType.encode({ hintId: 'x', process: { host: 'h', bootId: 'b', pid: 1 }, region: { mapping: { kind: 1 } }, action: 1, ...fields }).finish();
  assert.deepEqual(decodeHint(raw({})).action, 'promote');
  assert.match(decodeError(() => decodeHint(raw({ action: 0 }))).reason, /action: unspecified/);
  assert.match(decodeError(() => decodeHint(raw({ action: 42 }))).reason, /Hint\.action: unknown Action value 42/);
  assert.match(decodeError(() => decodeHint(raw({ process: null }))).reason, /process: missing/);
  assert.match(decodeError(() => decodeHint(raw({ region: { mapping: { kind: 0 } } }))).reason, /region\.mapping\.kind: unspecified/);
  assert.match(decodeError(() => decodeHint(raw({ region: { offset: 1 } }))).reason, /region\.mapping: missing/);
  assert.match(decodeError(() => decodeHint(raw({ expiresNs: Long.fromString('9007199254740993', true) }))).reason, /expiresNs: 9007199254740993 is not exactly a JavaScript number/);
  for (const decode of [decodeRegionScore, decodePhaseChange, decodeHint, decodeHintAction, decodeTunerChange, decodeDeadLetter]) {
    decodeError(() => decode(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])));
  }
});
