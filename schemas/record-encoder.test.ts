/**
 * The collector's records path: ring-buffer bytes straight to columns
 * (eventBatchFromRecords) and straight to protobuf (record-encoder.ts's
 * encodeEventBatchFromRecords) give what the object path gives, byte for
 * byte, for every kind, zero columns, mixed batches and values past 2^53.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prng } from '../lib/prng.js';
import { decodeBatch, type ProbeEvent } from '../bpf/events.js';
import { Kind, layouts } from '../bpf/layout.generated.js';
import { WireEncodeError } from './wire-errors.js';
import type { BatchMeta } from './event-batch.js';
import { encodeEventBatch } from './event-batch-codec.js';
import { eventBatchFromRecords, eventBatchFromProbeEvents } from './event-batch-rows.js';
import { encodeEventBatchFromRecords } from './record-encoder.js';

const META: BatchMeta = { host: 'node-7.example', bootId: '5e1f4c0e-8a2b-4f6b-9d55-0c1d2e3f4a5b', collectorId: 'c-01', sequence: 41 };

test('eventBatchFromRecords (ring-buffer bytes straight to columns) equals decoding the records first', () => {
  const kinds: Record<string, number> = { fault: 1, promotion: 2, collapse: 3, compaction: 4, compaction_defer: 5, kcompactd_wake: 6, swap_out: 7, swap_in: 8, swap_entries: 9, reclaim: 10 };
  const frames: Buffer[] = [];
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let round = 0; round < 3; round++) {
    const parts: Buffer[] = [];
    for (const [type, kind] of Object.entries(kinds)) {
      const layout = layouts[`pl_${type}_event`]!;
      for (let n = 0; n < 1 + (rnd() % 4); n++) {
        const rec = Buffer.alloc(layout.size);
        for (const f of layout.fields) {
          if (f.type.startsWith('struct') || /^pad\d*$/.test(f.name)) continue;
          if (f.count > 0) rec.write('comm-' + (rnd() % 100), f.offset, f.size - 1, 'latin1');
          else if (f.size === 8) rec.writeUInt32LE(rnd(), f.offset), rec.writeUInt32LE(rnd() % 1000, f.offset + 4);
          else if (f.size === 4) rec.writeUInt32LE(rnd(), f.offset);
          else if (f.size === 2) rec.writeUInt16LE(rnd() % 65536, f.offset);
        }
        // Header: time, start, pid, tid, kind, cpu, hint.
        rec.writeUInt32LE(rnd(), 0);
        rec.writeUInt32LE(rnd(), 8);
        rec.writeUInt32LE(rnd(), 16);
        rec.writeUInt32LE(rnd(), 20);
        rec.writeUInt16LE(kind, 24);
        rec.writeUInt16LE(rnd() % 2, 26);
        rec.writeUInt32LE(rnd() % 5, 28);
        const frame = Buffer.alloc(8 + ((rec.length + 7) & ~7));
        frame.writeUInt32LE(rec.length, 0);
        rec.copy(frame, 8);
        parts.push(frame);
      }
    }
    frames.push(Buffer.concat(parts));
  }
  const meta = { host: 'h', bootId: 'b', collectorId: 'c', sequence: 3 };
  const summary = { type: 'fault_summary' as const, pid: 1, startNs: 2, regionStart: 4096, regionBytes: 2097152, faults: 5, writeFaults: 1, instrFaults: 0, protFaults: 0, firstNs: 7, lastNs: 8, hint: 0, samplePeriod: 16, exited: 1 };
  const fast = eventBatchFromRecords(meta, frames, [summary]);
  const slow = eventBatchFromProbeEvents(meta, [...frames.flatMap((f) => decodeBatch(f)), summary]);
  assert.deepEqual(fast, slow);
  assert.deepEqual(encodeEventBatch(fast), encodeEventBatch(slow));
});

/**
 * Framed ring-buffer records of every kind with random field values: 32-bit
 * fields over their whole range (so signed ones go negative), 64-bit ones
 * within +-2^52 (unsigned ones over their whole range if `wide`), strings
 * sometimes empty, and sometimes a whole column left at zero.
 */
function randomFrames(seed: number, opts: { wide?: boolean; zeroColumns?: boolean } = {}): Buffer[] {
  const rnd = prng(seed);
  const u32 = () => Math.floor(rnd() * 2 ** 32);
  const kinds = Object.entries(Kind).filter(([name]) => name !== 'PL_KIND_BENCH' && layouts[`pl_${name.slice(8).toLowerCase()}_event`]);
  const frames: Buffer[] = [];
  for (let round = 0; round < 3; round++) {
    const parts: Buffer[] = [];
    const zeroed = new Set<string>();
    for (const [name, kind] of kinds) {
      const layout = layouts[`pl_${name.slice(8).toLowerCase()}_event`]!;
      if (opts.zeroColumns) for (const f of layout.fields) if (rnd() < 0.5) zeroed.add(`${kind}.${f.name}`);
      for (let n = 0; n < 1 + Math.floor(rnd() * 5); n++) {
        const rec = Buffer.alloc(layout.size);
        for (const f of layout.fields) {
          if (f.type.startsWith('struct') || /^pad\d*$/.test(f.name) || zeroed.has(`${kind}.${f.name}`)) continue;
          if (f.count > 0) rec.write(rnd() < 0.2 ? '' : 'comm-' + Math.floor(rnd() * 100), f.offset, f.size - 1, 'latin1');
          else if (f.size === 8) {
            rec.writeUInt32LE(u32(), f.offset);
            if (f.type === '__u64') rec.writeUInt32LE(opts.wide ? u32() : Math.floor(rnd() * 2 ** 20), f.offset + 4);
            else rec.writeInt32LE(Math.floor(rnd() * 2 ** 21) - 2 ** 20, f.offset + 4);
          } else if (f.size === 4) rec.writeUInt32LE(u32(), f.offset);
          else if (f.size === 2) rec.writeUInt16LE(u32() & 0xffff, f.offset);
        }
        rec.writeUInt32LE(u32(), 0); // ts_ns
        rec.writeUInt32LE(Math.floor(rnd() * 2 ** 20), 4);
        rec.writeUInt32LE(u32(), 8); // start_ns
        rec.writeUInt32LE(Math.floor(rnd() * 2 ** 20), 12);
        rec.writeUInt32LE(u32(), 16); // pid
        rec.writeUInt32LE(u32(), 20); // tid
        rec.writeUInt16LE(kind, 24);
        rec.writeUInt16LE(Math.floor(rnd() * 2), 26);
        rec.writeUInt32LE(Math.floor(rnd() * 5), 28);
        const frame = Buffer.alloc(8 + ((rec.length + 7) & ~7));
        frame.writeUInt32LE(rec.length, 0);
        rec.copy(frame, 8);
        parts.push(frame);
      }
    }
    frames.push(Buffer.concat(parts));
  }
  return frames;
}

test('encodeEventBatchFromRecords writes the bytes of the object path, for every kind, zero columns and mixed batches', () => {
  const summary = (i: number) => ({ type: 'fault_summary' as const, pid: 1 + i, startNs: 2, regionStart: 4096 * i, regionBytes: 2097152, faults: 5, writeFaults: 1, instrFaults: 0, protFaults: 0, firstNs: 7, lastNs: 8 + i, hint: 0, samplePeriod: i % 2 ? 16 : 1, exited: i % 3 === 0 ? 1 : 0 });
  const meta: BatchMeta = {
    ...META,
    loss: { fault: [1, 2], swap: [0, 3] },
    dropped: { fault: 9 },
    vmstat: [{ tsNs: 5, intervalNs: 1e9, deltas: { thp_fault_alloc: 3, pgmajfault: 0 } }],
    psi: [],
    damon: [],
  };
  const cases: [string, Buffer[], ProbeEvent[], BatchMeta][] = [
    ['records, summaries and samplers', randomFrames(1), [summary(1), summary(2)], meta],
    ['records only', randomFrames(2), [], META],
    ['zero columns', randomFrames(3, { zeroColumns: true }), [summary(3)], META],
    ['summaries only', [], [summary(4)], meta],
    ['nothing', [], [], META],
    ['a type both as records and as events (the object path)', randomFrames(4), [{ ...decodeBatch(randomFrames(5)[0]!)[0]! }], META],
  ];
  for (const [name, frames, events, m] of cases) {
    const want = Buffer.from(encodeEventBatch(eventBatchFromRecords(m, frames, events)));
    for (let again = 0; again < 2; again++) {
      // Twice: the writers are reused and must start clean.
      const got = Buffer.from(encodeEventBatchFromRecords(m, frames, events));
      assert.ok(got.equals(want), `${name}: bytes differ`);
    }
  }
});

test('encodeEventBatchFromRecords: u64 values past 2^53 and out-of-range s64 values as the object path has them', () => {
  const frames = randomFrames(6, { wide: true });
  assert.ok(Buffer.from(encodeEventBatchFromRecords(META, frames, [])).equals(Buffer.from(encodeEventBatch(eventBatchFromRecords(META, frames, [])))));
  // An s64 past 2^53 cannot travel: the same refusal, naming the value, either way.
  const layout = layouts.pl_swap_entries_event!;
  const count = layout.fields.find((f) => f.type === '__s64')!;
  const rec = Buffer.alloc(8 + ((layout.size + 7) & ~7));
  rec.writeUInt32LE(layout.size, 0);
  rec.writeUInt16LE(Kind.PL_KIND_SWAP_ENTRIES, 8 + 24);
  rec.writeInt32LE(-(2 ** 30), 8 + count.offset + 4);
  const refusal = (fn: () => unknown) => assert.throws(fn, (err: unknown) => err instanceof WireEncodeError && /count\[0\]/.test(err.message));
  refusal(() => encodeEventBatch(eventBatchFromRecords(META, [rec], [])));
  refusal(() => encodeEventBatchFromRecords(META, [rec], []));
});
