/**
 * One bad record in a stream of good ones, fuzzed: a mutated EventBatch
 * (flipped, cut, inflated), random bytes, a tombstone, placed anywhere in a
 * partition. The engine turns it into exactly one dead letter (its offset,
 * its bytes, the decoder's reason) and every good record's outputs are
 * what they are without it: same records, same order, same bytes. A
 * mutation that still decodes is processed like any batch: the engine does
 * not throw and the bad batch's effects go no further than its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeDeadLetter } from '../schemas/dead-letter.js';
import { decodeEventBatchTyped } from '../schemas/typed-decode.js';
import { createProcessorConfig } from './config.js';
import { PartitionEngine, type InputRecord, type OutRecord } from './engine.js';
import { fleetRecords, scenarioRecords, type StreamRecord } from './synthetic.js';
import { attempt, fuzzParams, mutatedArb, randomBytesArb } from '../test/fuzz.js';

const RUNS = 200;
const TIMEOUT = { timeout: 20_000 };
const CONFIG = createProcessorConfig({});
const CTX = { config: CONFIG, inputTopic: 'pageloop.events.v1' };

/** Good records at even offsets, so a bad one slots in at an odd offset without moving them. */
function inputs(records: readonly StreamRecord[]): InputRecord[] {
  return records.map((r, i) => ({ offset: 2 * i, key: Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value), timestamp: String(1_700_000_000_000 + i) }));
}

function run(records: readonly InputRecord[]): OutRecord[] {
  const engine = new PartitionEngine(CTX, 0);
  const out: OutRecord[] = [];
  for (const r of records) engine.process(r, out);
  return out;
}

const STREAMS = [inputs(scenarioRecords({ windows: 6 })), inputs(fleetRecords(7, 6))];
const BASELINES = STREAMS.map(run);
const VALUES = STREAMS.flatMap((s) => s.flatMap((r) => (r.value ? [r.value] : []))).slice(0, 40);

const badValueArb: fc.Arbitrary<Buffer | null> = fc.oneof(
  { weight: 6, arbitrary: mutatedArb(VALUES).map((b) => Buffer.from(b)) },
  { weight: 2, arbitrary: randomBytesArb.map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant(null) },
);

const comparable = (o: OutRecord): string => `${o.role} ${o.key} ${o.timestampMs} ${o.value === null ? 'null' : Buffer.from(o.value).toString('hex')}`;

describe('the processors: one bad record among good ones', () => {
  it('the streams make outputs of every kind (so "the same outputs" says something)', () => {
    for (const out of BASELINES) {
      const roles = new Set(out.map((o) => o.role));
      assert.ok(roles.has('scores') && roles.has('hints'), [...roles].join(','));
      assert.ok(!roles.has('dlq'));
    }
  });

  it('a record the decoder refuses: one dead letter with its offset, bytes and reason; the good records\' outputs unchanged', TIMEOUT, () => {
    let refused = 0;
    let decoded = 0;
    fc.assert(
      fc.property(fc.nat(), fc.nat(), badValueArb, (which, where, value) => {
        const s = which % STREAMS.length;
        const stream = STREAMS[s]!;
        const at = where % (stream.length + 1);
        const bad: InputRecord = { offset: 2 * at - 1, key: Buffer.from('node-x'), value, timestamp: stream[Math.min(at, stream.length - 1)]!.timestamp };
        const withBad = [...stream.slice(0, at), bad, ...stream.slice(at)];
        const out = run(withBad);
        const refusedByDecoder = value === null || !attempt(() => decodeEventBatchTyped(value)).ok;
        const letters = out.filter((o) => o.role === 'dlq');
        if (refusedByDecoder) {
          refused++;
          assert.equal(letters.length, 1, `${letters.length} dead letters for one bad record`);
          const letter = decodeDeadLetter(letters[0]!.value!);
          assert.equal(letter.offset, bad.offset);
          assert.equal(letter.topic, CTX.inputTopic);
          assert.ok(Buffer.from(letter.raw).equals(value ?? Buffer.alloc(0)), 'the dead letter does not carry the record');
          assert.ok(letter.reason.length > 0 && !letter.reason.includes('\n'), `reason ${JSON.stringify(letter.reason)}`);
          assert.deepEqual(out.filter((o) => o.role !== 'dlq').map(comparable), BASELINES[s]!.map(comparable));
        } else {
          // It decodes: a batch like any other (maybe a host's duplicate or a gap); the run completed without throwing.
          decoded++;
          assert.ok(letters.length <= 1);
        }
      }),
      fuzzParams(RUNS),
    );
    assert.ok(refused >= RUNS / 3, `only ${refused} of ${RUNS} bad records were refused by the decoder (${decoded} decoded)`);
  });
});
