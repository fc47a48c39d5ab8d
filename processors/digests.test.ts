/**
 * The processors' outputs and final state on 20 fixed workloads, as sha256
 * digests compared with processors/testdata/workload-digests.json. A change
 * meant to keep behaviour (a refactor, a speed-up) must keep every digest;
 * a change meant to alter outputs regenerates the file on purpose:
 *
 *   PAGELOOP_WRITE_DIGESTS=1 node --test dist/processors/digests.test.js
 *
 * and says why in its commit.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { deserialize } from 'node:v8';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { createProcessorConfig, type ProcessorConfigInput } from './config.js';
import { PartitionEngine, type OutRecord } from './engine.js';
import { CollectorStream, SEC, T0, faultSummary, fleetRecords, scenarioRecords, type StreamRecord } from './synthetic.js';

const GOLDEN = resolve(dirname(fileURLToPath(import.meta.url)), '../../processors/testdata/workload-digests.json');

interface Workload {
  readonly name: string;
  readonly records: () => StreamRecord[];
  readonly config?: ProcessorConfigInput;
  /** Restore from a checkpoint every this many records (0: never). */
  readonly checkpointEvery?: number;
}

const WORKLOADS: readonly Workload[] = [
  { name: 'scenario', records: () => scenarioRecords() },
  { name: 'scenario-dup-gap', records: () => scenarioRecords({ dupAndGap: true }) },
  { name: 'scenario-40-windows', records: () => scenarioRecords({ windows: 40 }) },
  { name: 'scenario-checkpoint-7', records: () => scenarioRecords({ dupAndGap: true }), checkpointEvery: 7 },
  { name: 'scenario-window-5s', records: () => scenarioRecords(), config: { windowMs: 5000 } },
  ...Array.from({ length: 15 }, (_, i): Workload => ({
    name: `fleet-seed-${i + 1}`,
    records: () => fleetRecords(i + 1, 20 + (i % 4) * 5),
    ...(i % 5 === 4 ? { checkpointEvery: 11 + i } : {}),
  })),
];

function run(w: Workload): { outputs: string; state: string; count: number } {
  const ctx = { config: createProcessorConfig(w.config ?? {}), inputTopic: 'pageloop.events.v1' };
  let engine = new PartitionEngine(ctx, 0);
  const hash = createHash('sha256');
  let count = 0;
  const out: OutRecord[] = [];
  w.records().forEach((r, i) => {
    if (w.checkpointEvery && i > 0 && i % w.checkpointEvery === 0) engine = PartitionEngine.restore(ctx, 0, engine.checkpoint());
    out.length = 0;
    engine.process({ offset: i, key: Buffer.from(r.key), value: Buffer.from(r.value), timestamp: String(1_700_000_000_000 + i) }, out);
    for (const o of out) {
      hash.update(`${o.role}\0${o.key}\0${o.timestampMs}\0`);
      hash.update(o.value === null ? '\u0001null' : Buffer.from(o.value));
      count++;
    }
  });
  return { outputs: hash.digest('hex'), state: createHash('sha256').update(canonical(deserialize(engine.checkpoint()))).digest('hex'), count };
}

/**
 * A checkpoint's state as canonical text: v8.serialize writes the same number
 * as an int32 or a double depending on how V8 happened to hold it, and a Map
 * in insertion order, neither of which is the state's meaning. Maps and Sets
 * are sorted by their keys' text, object keys by name.
 */
function canonical(v: unknown): string {
  if (v === null || v === undefined || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v) ?? 'undefined';
  if (typeof v === 'number' || typeof v === 'bigint') return `${typeof v === 'bigint' ? 'n' : ''}${String(v)}`;
  if (v instanceof Map) return `M{${[...v].map(([k, x]) => `${canonical(k)}:${canonical(x)}`).sort().join(',')}}`;
  if (v instanceof Set) return `S{${[...v].map(canonical).sort().join(',')}}`;
  if (ArrayBuffer.isView(v)) return `B${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${k}:${canonical(o[k])}`).join(',')}}`;
}

it('20 workloads: output and state digests equal processors/testdata/workload-digests.json', () => {
  assert.equal(WORKLOADS.length, 20);
  const got = Object.fromEntries(WORKLOADS.map((w) => [w.name, run(w)]));
  for (const [name, d] of Object.entries(got)) assert.ok(d.count > 0, `${name}: no outputs at all, the workload tests nothing`);
  if (process.env.PAGELOOP_WRITE_DIGESTS === '1') {
    mkdirSync(dirname(GOLDEN), { recursive: true });
    writeFileSync(GOLDEN, `${JSON.stringify(got, null, 2)}\n`);
    return;
  }
  assert.ok(existsSync(GOLDEN), `${GOLDEN} is missing: write it with PAGELOOP_WRITE_DIGESTS=1 (see this file's header)`);
  const want = JSON.parse(readFileSync(GOLDEN, 'utf8')) as typeof got;
  assert.deepEqual(got, want);
});

it('the digests see a change: one more fault in one record changes the output digest', () => {
  const base = WORKLOADS[0]!;
  const changed: Workload = {
    name: 'changed',
    records: () => {
      const r = base.records();
      const s = new CollectorStream('host-a', 'boot-a', 'collector-x');
      r.splice(3, 0, { key: 'host-a', value: s.batch([faultSummary(T0 + 2 * SEC, 100, 5 * SEC, 0x7f0000000000, 999)]), atNs: T0 + 2 * SEC });
      return r;
    },
  };
  assert.notEqual(run(changed).outputs, run(base).outputs);
});

