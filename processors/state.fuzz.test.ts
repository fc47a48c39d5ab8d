/**
 * Processor checkpoints (what the processor-state topic hands back on a
 * restart) with flipped, cut, inflated or spliced bytes. Restoring one ends
 * in a CheckpointError (the caller then starts fresh and replays), or in an
 * engine that continues exactly as the unmutated checkpoint's would: same
 * outputs for the rest of the stream, byte for byte. Before the checksum, a
 * changed byte deserialized as a changed value or type and the restored
 * engine threw TypeError on the next record ("Cannot read properties of
 * undefined (reading 'get')"), on every restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createProcessorConfig } from './config.js';
import { PartitionEngine, type InputRecord, type OutRecord } from './engine.js';
import { CheckpointError, checkpointBody } from './state.js';
import { scenarioRecords, fleetRecords, type StreamRecord } from './synthetic.js';
import { fuzzParams, mutate, mutationArb } from '../test/fuzz.js';

const RUNS = 1000;
const TIMEOUT = { timeout: 60_000 };
const CTX = { config: createProcessorConfig({}), inputTopic: 'pageloop.events.v1' };

function inputs(records: readonly StreamRecord[]): InputRecord[] {
  return records.map((r, i) => ({ offset: i, key: Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value), timestamp: String(1_700_000_000_000 + i) }));
}

const comparable = (o: OutRecord): string => `${o.role} ${o.key} ${o.timestampMs} ${o.value === null ? 'null' : Buffer.from(o.value).toString('hex')}`;

/** A stream cut in two: the checkpoint after the first half, and what the second half makes from it. */
function split(records: readonly InputRecord[]): { checkpoint: Buffer; rest: InputRecord[]; outputs: string[] } {
  const half = Math.floor(records.length / 2);
  const engine = new PartitionEngine(CTX, 0);
  for (const r of records.slice(0, half)) engine.process(r, []);
  const checkpoint = engine.checkpoint();
  const rest = records.slice(half);
  return { checkpoint, rest, outputs: continueFrom(checkpoint, rest) };
}

function continueFrom(checkpoint: Uint8Array, rest: readonly InputRecord[]): string[] {
  const engine = PartitionEngine.restore(CTX, 0, checkpoint);
  const out: OutRecord[] = [];
  for (const r of rest) engine.process(r, out);
  engine.checkpoint();
  return out.map(comparable);
}

const CASES = [split(inputs(scenarioRecords({ windows: 6 }))), split(inputs(fleetRecords(5, 6)))];

/** A case and one to four mutations of its checkpoint (the counterexample prints the edits, not 8 KiB of bytes). */
const mutatedCheckpoint = fc.record({ i: fc.integer({ min: 0, max: CASES.length - 1 }), edits: fc.array(mutationArb, { minLength: 1, maxLength: 4 }) });

describe('processor checkpoints, mutated', () => {
  it('the unmutated checkpoints restore, and the rest of the stream makes outputs', () => {
    for (const c of CASES) assert.ok(c.outputs.length > 0);
  });

  it('a checkpoint written before the checksum frame (the bare v8 envelope) still restores, to the same engine', () => {
    for (const c of CASES) assert.deepEqual(continueFrom(checkpointBody(c.checkpoint), c.rest), c.outputs);
  });

  it('a frame whose checksum does not match, or cut inside the frame: CheckpointError naming why', () => {
    const c = CASES[0]!;
    const flipped = Buffer.from(c.checkpoint);
    flipped[flipped.length - 1]! ^= 1;
    assert.throws(() => PartitionEngine.restore(CTX, 0, flipped), (e: unknown) => e instanceof CheckpointError && /sha256 does not match/.test(e.message));
    assert.throws(() => PartitionEngine.restore(CTX, 0, c.checkpoint.subarray(0, 10)), (e: unknown) => e instanceof CheckpointError && /cut short/.test(e.message));
  });

  it('a CheckpointError, or the same outputs as the unmutated checkpoint', TIMEOUT, () => {
    let refused = 0;
    fc.assert(
      fc.property(mutatedCheckpoint, ({ i, edits }) => {
        const c = CASES[i]!;
        const bytes = edits.reduce<Uint8Array>((b, m) => mutate(b, m), c.checkpoint);
        let outputs: string[];
        try {
          outputs = continueFrom(bytes, c.rest);
        } catch (err) {
          assert.ok(err instanceof CheckpointError, `restored, then threw ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
          refused++;
          return;
        }
        assert.deepEqual(outputs, c.outputs, 'a mutated checkpoint restored into a different engine');
      }),
      fuzzParams(RUNS),
    );
    assert.ok(refused >= RUNS / 2, `only ${refused} of ${RUNS} mutated checkpoints refused`);
  });
});
