/**
 * The sink's decoding of a fetched batch (buildBlocks: every topic's
 * records into ClickHouse blocks) with one bad record among good ones of
 * every topic: mutated values (flipped, cut, inflated), random bytes, an
 * empty value, on any topic. The bad record comes back as the one dead
 * letter, with a one-line reason, and the blocks hold exactly the good
 * records' rows, byte for byte; a mutation that still decodes adds its own
 * rows and no dead letter. Nothing else is thrown (a throw here would stop
 * the partition: the sink retries a failed batch).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TOPIC } from '../schemas/topics.js';
import type { SinkRecord, TableBlocks } from './table-blocks.js';
import { buildBlocks } from './build.js';
import { actionValue, deadLetterValue, eventRecord, hintValue, phaseValue, scoreValue, tunerValue } from '../test/sink-records.js';
import { fuzzParams, mutatedArb, randomBytesArb } from '../test/fuzz.js';

const RUNS = 300;
const TIMEOUT = { timeout: 20_000 };

/** Good records at even offsets, so a bad one slots in at an odd offset without moving them. */
const GOOD: SinkRecord[] = [
  [TOPIC.events, eventRecord('node-a', 1, { faults: 20, mixed: true }).value],
  [TOPIC.scores, scoreValue('node-a', 1)],
  [TOPIC.events, eventRecord('node-b', 2, { faults: 3, mixed: false }).value],
  [TOPIC.phases, phaseValue('node-b', 1)],
  [TOPIC.hints, hintValue('node-a', 2)],
  [TOPIC.actions, actionValue('node-a', 2)],
  [TOPIC.tuner, tunerValue(3)],
  [TOPIC.dlq, deadLetterValue(4)],
  [TOPIC.events, eventRecord('node-c', 3, { faults: 5, mixed: true }).value],
].map(([topic, value], i) => ({ topic: topic as string, partition: 0, offset: 2 * i, timestampMs: 1_700_000_000_000 + i, key: Buffer.from('node-a'), value: value as Buffer }));

/** Every block's encoded bytes, by block name: what the inserts would send. */
function blockBytes(t: TableBlocks): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, block] of t.blocks) {
    const e = block.encode();
    if (e) out.set(name, `${e.columns.join(',')}|${Buffer.concat(e.body).toString('hex')}`);
  }
  return out;
}

const BASELINE = await buildBlocks(GOOD);
const BASELINE_BYTES = blockBytes(BASELINE.tables);

const badArb = fc.record({
  at: fc.nat(),
  topic: fc.constantFrom(...new Set(GOOD.map((r) => r.topic))),
  value: fc.oneof(
    { weight: 6, arbitrary: mutatedArb(GOOD.map((r) => r.value!)).map((b) => Buffer.from(b)) },
    { weight: 2, arbitrary: randomBytesArb.map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  ),
});

describe('the sink: one bad record among good ones of every topic', () => {
  it('the good batch decodes whole, into blocks of every table it feeds', () => {
    assert.deepEqual(BASELINE.bad, []);
    assert.ok(BASELINE_BYTES.size >= 8, [...BASELINE_BYTES.keys()].join(','));
  });

  it('one dead letter for the bad record, the good records\' rows byte for byte; or, if it decodes, rows of its own and no dead letter', TIMEOUT, async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(badArb, async ({ at, topic, value }) => {
        const i = at % (GOOD.length + 1);
        const bad: SinkRecord = { topic, partition: 0, offset: 2 * i - 1, timestampMs: 1_700_000_000_000 + i, key: Buffer.from('node-x'), value };
        const records = [...GOOD.slice(0, i), bad, ...GOOD.slice(i)];
        // Any throw fails the property: buildBlocks must dead-letter, not throw.
        const { tables, bad: letters } = await buildBlocks(records);
        assert.ok(letters.length <= 1, `${letters.length} dead letters for one bad record`);
        if (letters.length === 1) {
          refused++;
          assert.equal(letters[0]!.rec, bad);
          assert.ok(letters[0]!.reason.length > 0 && !letters[0]!.reason.includes('\n'), `reason ${JSON.stringify(letters[0]!.reason)}`);
          assert.deepEqual(blockBytes(tables), BASELINE_BYTES, 'the good records\' rows changed');
        }
      }),
      fuzzParams(RUNS),
    );
    assert.ok(refused >= RUNS / 3, `only ${refused} of ${RUNS} bad records were dead-lettered`);
  });
});
