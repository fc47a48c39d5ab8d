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
import { prng } from '../lib/prng.js';
import type { ProbeEvent } from '../bpf/events.js';
import { createProcessorConfig, type ProcessorConfigInput } from './config.js';
import { PartitionEngine, type OutRecord } from './engine.js';
import {
  CollectorStream,
  MB,
  SEC,
  T0,
  compaction,
  faultSummary,
  kcompactdWake,
  promotion,
  rawFault,
  scenarioRecords,
  swapIn,
  swapOut,
  type StreamRecord,
} from './synthetic.js';

const GOLDEN = resolve(dirname(fileURLToPath(import.meta.url)), '../../processors/testdata/workload-digests.json');

interface Workload {
  readonly name: string;
  readonly records: () => StreamRecord[];
  readonly config?: ProcessorConfigInput;
  /** Restore from a checkpoint every this many records (0: never). */
  readonly checkpointEvery?: number;
}

/**
 * A random fleet: hosts with processes whose regions fault, promote,
 * compact, swap out and refault, in event-time order, phases switching at a
 * random window. Everything comes from the seed.
 */
function randomFleet(seed: number, windows: number): StreamRecord[] {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const hostCount = 1 + int(6);
  const hosts = Array.from({ length: hostCount }, (_, h) => {
    const procs = Array.from({ length: 1 + int(4) }, (_, p) => ({
      pid: 1000 + h * 100 + p,
      startNs: (1 + int(50)) * SEC,
      base: 0x7f0000000000 + h * 0x10000000000 + p * 0x100000000,
      regions: 2 + int(12),
      switchAt: int(windows),
    }));
    return { stream: new CollectorStream(`fleet-${seed}-${h}`, `boot-${seed}-${h}`, `collector-${seed}-${h}`), procs };
  });
  const out: StreamRecord[] = [];
  const batchesPerWindow = 1 + int(4);
  const windowNs = 10 * SEC;
  for (let k = 0; k < windows; k++) {
    for (let b = 0; b < batchesPerWindow; b++) {
      const t = T0 + k * windowNs + Math.floor(((b + 0.5) * windowNs) / batchesPerWindow);
      for (const { stream, procs } of hosts) {
        const ev: ProbeEvent[] = [];
        for (const p of procs) {
          const hotFrom = k < p.switchAt ? 0 : Math.floor(p.regions / 2);
          for (let r = hotFrom; r < p.regions; r++) {
            if (rnd() < 0.6) ev.push(faultSummary(t + r, p.pid, p.startNs, p.base + r * 2 * MB, 1 + int(400)));
          }
          if (rnd() < 0.3) ev.push(promotion(t + 50, p.pid, p.startNs, p.base + int(p.regions) * 2 * MB, rnd() < 0.5 ? 9 : 4, rnd() < 0.2));
          if (rnd() < 0.1) ev.push(swapOut(t + 60, p.pid, p.startNs, p.base + int(p.regions) * 2 * MB, 1 + int(512)));
          if (rnd() < 0.15) ev.push(swapIn(t + 70, p.pid, p.startNs, p.base + int(p.regions) * 2 * MB + int(512) * 4096));
          if (rnd() < 0.1) ev.push(rawFault(t + 80, p.pid, p.startNs, p.base + int(p.regions) * 2 * MB + int(512) * 4096, rnd() < 0.5 ? 6 : 4));
        }
        if (rnd() < 0.1) ev.push(compaction(t + 90, 1_000_000 + int(80_000_000), 9, rnd() < 0.5));
        if (rnd() < 0.05) ev.push(kcompactdWake(t + 95));
        if (rnd() < 0.02) stream.lose(1);
        const value = stream.batch(ev);
        out.push({ key: stream.host, value, atNs: t });
        if (rnd() < 0.02) out.push({ key: stream.host, value, atNs: t });
      }
    }
  }
  const tail = T0 + (windows + 1) * windowNs;
  for (const { stream } of hosts) out.push({ key: stream.host, value: stream.batch([kcompactdWake(tail)]), atNs: tail });
  return out;
}

const WORKLOADS: readonly Workload[] = [
  { name: 'scenario', records: () => scenarioRecords() },
  { name: 'scenario-dup-gap', records: () => scenarioRecords({ dupAndGap: true }) },
  { name: 'scenario-40-windows', records: () => scenarioRecords({ windows: 40 }) },
  { name: 'scenario-checkpoint-7', records: () => scenarioRecords({ dupAndGap: true }), checkpointEvery: 7 },
  { name: 'scenario-window-5s', records: () => scenarioRecords(), config: { windowMs: 5000 } },
  ...Array.from({ length: 15 }, (_, i): Workload => ({
    name: `fleet-seed-${i + 1}`,
    records: () => randomFleet(i + 1, 20 + (i % 4) * 5),
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

