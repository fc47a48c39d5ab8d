/**
 * The wire decoders on bytes nobody vouches for: random bytes and valid
 * encodings with flipped bytes, truncations, inflated lengths and spliced
 * garbage. Every decoder ends in a value or a WireDecodeError (what the
 * processors and the sink turn into a dead letter), never in another throw
 * and never in a hang; the EventBatch decoders (the object one, the typed
 * one the processors use) agree on what they accept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WireDecodeError } from './wire-errors.js';
import { decodeDeadLetter } from './dead-letter.js';
import { decodeHint, decodeHintAction, decodePhaseChange, decodeRegionScore, decodeTunerChange } from './derived.js';
import { decodeEventBatch, encodeEventBatch } from './event-batch-codec.js';
import { decodeEventBatchTyped } from './typed-decode.js';
import { decodeEventBatchFast, type SinkEventBatch } from '../sink/fast-decode.js';
import { actionValue, deadLetterValue, eventRecord, hintValue, phaseValue, scoreValue, tunerValue } from '../test/sink-records.js';
import { scenarioRecords } from '../processors/synthetic.js';
import { decodesOrRefuses, fuzzParams, mutatedArb, randomBytesArb } from '../test/fuzz.js';

const isWireError = (e: unknown): boolean => e instanceof WireDecodeError;
const RUNS = 1000;
const TIMEOUT = { timeout: 20_000 };

const events: Uint8Array[] = [
  eventRecord('node-a', 0, { faults: 0, mixed: false }).value,
  eventRecord('node-a', 1, { faults: 5, mixed: true }).value,
  eventRecord('node-b', 7, { faults: 40, mixed: true }).value,
  ...scenarioRecords({ windows: 2 }).flatMap((r) => (r.value ? [r.value] : [])).slice(0, 6),
];

const DECODERS: { name: string; decode: (b: Uint8Array) => unknown; valid: Uint8Array[] }[] = [
  { name: 'EventBatch', decode: decodeEventBatch, valid: events },
  { name: 'EventBatch (typed, the processors)', decode: (b) => decodeEventBatchTyped(b), valid: events },
  { name: 'EventBatch (fast, the sink)', decode: decodeEventBatchFast, valid: events },
  { name: 'RegionScore', decode: decodeRegionScore, valid: [scoreValue('node-a', 0), scoreValue('node-b', 3)] },
  { name: 'PhaseChange', decode: decodePhaseChange, valid: [phaseValue('node-a', 0), phaseValue('node-c', 2)] },
  { name: 'Hint', decode: decodeHint, valid: [hintValue('node-a', 0), hintValue('node-a', 1), hintValue('node-b', 5)] },
  { name: 'HintAction', decode: decodeHintAction, valid: [actionValue('node-a', 0), actionValue('node-b', 3)] },
  { name: 'TunerChange', decode: decodeTunerChange, valid: [tunerValue(0), tunerValue(1)] },
  { name: 'DeadLetter', decode: decodeDeadLetter, valid: [deadLetterValue(0), deadLetterValue(9)] },
];

describe('wire decoders on random and mutated bytes', () => {
  it('the valid samples decode (the mutations start from real encodings)', () => {
    for (const d of DECODERS) for (const v of d.valid) assert.doesNotThrow(() => d.decode(v), d.name);
  });

  for (const d of DECODERS) {
    it(`${d.name}: random bytes decode or throw WireDecodeError`, TIMEOUT, () => {
      fc.assert(
        fc.property(randomBytesArb, (bytes) => {
          decodesOrRefuses(() => d.decode(bytes), isWireError);
        }),
        fuzzParams(RUNS),
      );
    });

    it(`${d.name}: mutated valid encodings decode or throw WireDecodeError`, TIMEOUT, () => {
      fc.assert(
        fc.property(mutatedArb(d.valid), (bytes) => {
          decodesOrRefuses(() => d.decode(bytes), isWireError);
        }),
        fuzzParams(RUNS),
      );
    });
  }

  it('EventBatch: another message type in its place is refused or decoded, never thrown past the decoder', TIMEOUT, () => {
    const others = DECODERS.filter((d) => !d.name.startsWith('EventBatch')).flatMap((d) => d.valid);
    fc.assert(
      fc.property(mutatedArb(others), (bytes) => {
        decodesOrRefuses(() => decodeEventBatch(bytes), isWireError);
        decodesOrRefuses(() => decodeEventBatchTyped(bytes), isWireError);
      }),
      fuzzParams(RUNS),
    );
  });

  it('EventBatch: the object decoder and the typed decoder accept the same mutated batches, with the same counts', TIMEOUT, () => {
    fc.assert(
      fc.property(mutatedArb(events), (bytes) => {
        const slow = decodesOrRefuses(() => decodeEventBatch(bytes), isWireError);
        const typed = decodesOrRefuses(() => decodeEventBatchTyped(bytes), isWireError);
        assert.equal(typed.ok, slow.ok, `object decoder ${slow.ok ? 'accepts' : `refuses (${(slow as { error: Error }).error.message})`}, typed decoder ${typed.ok ? 'accepts' : `refuses (${(typed as { error: Error }).error.message})`}`);
        if (slow.ok && typed.ok) {
          const a = slow.value;
          const b = typed.value;
          assert.deepEqual([b.host, b.bootId, b.collectorId, b.sequence, b.faults.address.length, b.promotions.address.length], [a.host, a.bootId, a.collectorId, a.sequence, a.faults.address.length, a.promotions.address.length]);
        }
      }),
      fuzzParams(RUNS),
    );
  });

  it('EventBatch: the sink\'s fast decoder gives the object decoder\'s answer on mutated batches: the same batch, or the same WireDecodeError reason', TIMEOUT, () => {
    // Typed arrays as plain arrays, so the two answers compare as JSON.
    const plain = (b: SinkEventBatch | object): unknown => JSON.parse(JSON.stringify(b, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v)));
    let refused = 0;
    fc.assert(
      fc.property(mutatedArb(events), (bytes) => {
        const slow = decodesOrRefuses(() => decodeEventBatch(bytes), isWireError);
        const fast = decodesOrRefuses(() => decodeEventBatchFast(bytes), isWireError);
        assert.equal(fast.ok, slow.ok, `object decoder ${slow.ok ? 'accepts' : 'refuses'}, the sink's ${fast.ok ? 'accepts' : 'refuses'}`);
        if (slow.ok && fast.ok) assert.deepEqual(plain(fast.value), plain(slow.value));
        if (!slow.ok && !fast.ok) {
          refused++;
          assert.equal((fast.error as WireDecodeError).reason, (slow.error as WireDecodeError).reason);
        }
      }),
      fuzzParams(RUNS),
    );
    // Both branches ran: a property that only ever saw one side would say little.
    assert.ok(refused > 0 && refused < RUNS, `${refused} of ${RUNS} refused`);
  });

  it('EventBatch: what decodes from a mutated batch encodes again (a decoded batch is a valid batch)', TIMEOUT, () => {
    fc.assert(
      fc.property(mutatedArb(events), (bytes) => {
        const r = decodesOrRefuses(() => decodeEventBatch(bytes), isWireError);
        if (r.ok) decodeEventBatch(encodeEventBatch(r.value));
      }),
      fuzzParams(RUNS),
    );
  });
});
