/**
 * What the collector does with a drained batch it cannot send: a ring-buffer
 * batch that does not frame (a record shorter than its kind, a batch cut
 * mid-record) or records the encoder refuses (a fault summary with pid -1,
 * a vmstat row with a NaN delta).
 * Before, the encode threw inside the send loop: the refused chunk stayed
 * taken (never produced, acked or dropped, its bytes held for good), its
 * sequence number was spent, and the rejection escaped unhandled. Now it is
 * dropped once, counted per family with its reason, and the good records
 * around it go out under gapless sequence numbers.
 *
 * Unit test: the probes are a stand-in delivering hand-made frames (the
 * collector uses only start, stop and loss); the encoder and the wire
 * decoder are the real ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAMILIES, type FaultSummary, type ProbeEvent } from '../bpf/events.js';
import { Kind, FAULT_EVENT_SIZE } from '../bpf/layout.generated.js';
import { decodeEventBatch } from '../schemas/event-batch-codec.js';
import { eventCount } from '../schemas/event-batch-rows.js';
import type { EventBatch } from '../schemas/event-batch.js';
import { createCollector, type CollectorBatch, type CollectorDeps, type CollectorStats, type EventsProducer } from './collector.js';
import { encodeCollectorBatch } from './encode.js';
import type { FamilyCounts } from './queue.js';

/** `count` fault records framed as the addon hands them over; `length` overrides each frame's length word. */
function faultFrames(count: number, t0: number, length = FAULT_EVENT_SIZE): Buffer {
  const stride = 8 + ((length + 7) & ~7);
  const buf = Buffer.alloc(count * stride);
  for (let i = 0; i < count; i++) {
    const at = i * stride;
    buf.writeUInt32LE(length, at);
    buf.writeUInt32LE(t0 + i, at + 8); // tsNs
    buf.writeUInt32LE(100, at + 8 + 16); // pid
    buf.writeUInt16LE(Kind.PL_KIND_FAULT, at + 8 + 24);
    if (length >= 40) buf.writeUInt32LE(0x1000 * (i + 1), at + 8 + 32); // address
  }
  return buf;
}

function summary(pid: number): FaultSummary {
  return { pid, startNs: 5, regionStart: 0x10000, regionBytes: 4096, faults: 3, writeFaults: 1, instrFaults: 0, protFaults: 0, firstNs: 10, lastNs: 20, hint: 0, samplePeriod: 1, exited: 0 };
}

// The probes' types through the collector's own: importing the probes module marks a test as a kernel test (scripts/test-kinds.mjs).
type StandInProbes = CollectorDeps['probes'];
type ProbesHandlers = Parameters<StandInProbes['start']>[0];

interface Run {
  readonly stats: CollectorStats;
  readonly sent: EventBatch[];
  readonly encoded: CollectorBatch[];
  readonly rejections: { reason: string; counts: Readonly<FamilyCounts> }[];
}

type SamplerHandlers = Parameters<NonNullable<CollectorDeps['samplers']>['start']>[0];

/** A collector on stand-in probes (and samplers): `feed` delivers batches, then the collector is stopped (it flushes everything). */
async function run(feed: (h: ProbesHandlers, s: SamplerHandlers) => void): Promise<Run> {
  let samplerHandlers: SamplerHandlers | undefined;
  const samplers: NonNullable<CollectorDeps['samplers']> = { start: (h) => (samplerHandlers = h), flush: () => undefined, stop: () => undefined };
  let handlers: ProbesHandlers = {};
  const loss = Object.fromEntries(FAMILIES.map((f) => [f, [0]])) as ReturnType<StandInProbes['loss']>['perFamily'];
  const probes: StandInProbes = {
    start: (h) => (handlers = h),
    stop: () => undefined,
    loss: () => ({ perFamily: loss, total: 0 }),
  };
  const sent: EventBatch[] = [];
  const encoded: CollectorBatch[] = [];
  const rejections: Run['rejections'] = [];
  const producer: EventsProducer = {
    async send(_topic, _key, value) {
      sent.push(decodeEventBatch(value));
    },
    async close() {},
  };
  const collector = createCollector(
    {
      host: 'h',
      bootId: 'b',
      instance: 'i1',
      topic: 't',
      // Small batches: several chunks per batch, several batches per run.
      batch: { maxEvents: 8, maxBytes: 1 << 20, maxDelayMs: 5 },
      queue: { maxBytes: 1 << 20 },
      retry: { initialMs: 1, maxMs: 5 },
      flushTimeoutMs: 5_000,
    },
    {
      probes,
      samplers,
      producer,
      encode: (b) => {
        encoded.push(b);
        return encodeCollectorBatch(b);
      },
      onRejected: (reason, counts) => rejections.push({ reason, counts }),
    },
  );
  collector.start();
  feed(handlers, samplerHandlers!);
  await new Promise((r) => setTimeout(r, 50));
  const stats = await collector.stop();
  return { stats, sent, encoded, rejections };
}

const sum = (counts: Readonly<FamilyCounts>): number => FAMILIES.reduce((n, f) => n + counts[f], 0);

/** What every run must hold: nothing held back, drained = produced + dropped, gapless sequences, the wire's last drop count the collector's. */
function checkLedger(r: Run): void {
  assert.equal(r.stats.queuedEvents, 0);
  assert.equal(r.stats.queuedBytes, 0, 'a refused chunk still holds queue memory');
  for (const f of FAMILIES) assert.equal(r.stats.produced[f] + r.stats.dropped[f], r.stats.drained[f], f);
  assert.deepEqual(
    r.sent.map((b) => b.sequence),
    r.sent.map((_, i) => i),
    'sequence numbers with a gap: a refused batch spent one',
  );
  assert.equal(r.sent.reduce((n, b) => n + eventCount(b), 0), sum(r.stats.produced));
  assert.equal(r.sent.at(-1)!.dropped.find((d) => d.family === 'fault')?.events ?? 0, r.stats.dropped.fault, 'the wire does not carry the drop');
}

describe('the collector and a batch it cannot send', () => {
  it('a vmstat row the encoder refuses (a NaN delta): the rows go, counted with the reason; the records of the same batch are sent', async () => {
    const r = await run((h, s) => {
      h.onBatch!(faultFrames(3, 100));
      s.onVmstat({ tsNs: 1000, intervalNs: 1000, deltas: { pgfault: Number.NaN } });
    });
    assert.equal(r.stats.produced.fault, 3);
    assert.equal(r.stats.dropped.fault, 0);
    assert.equal(r.stats.rejectedChunks, 1);
    assert.match(r.stats.lastRejectReason ?? '', /^sampler rows: .*NaN/);
    assert.equal(r.sent[0]!.faults.rows, 3);
    checkLedger(r);
  });

  it('a record shorter than its kind (32 of 56 bytes): refused at the door, counted once, never encoded; the good batches go out', async () => {
    const bad = faultFrames(1, 500, 32);
    const r = await run((h) => {
      h.onBatch!(faultFrames(5, 100));
      h.onBatch!(bad);
      h.onBatch!(faultFrames(6, 200));
    });
    assert.equal(r.stats.drained.fault, 12);
    assert.equal(r.stats.produced.fault, 11);
    assert.equal(r.stats.dropped.fault, 1);
    assert.equal(r.stats.rejectedChunks, 1);
    assert.match(r.stats.lastRejectReason ?? '', /kind 1 is 56 bytes, the frame says 32/);
    assert.equal(r.rejections.length, 1);
    assert.ok(!r.encoded.some((b) => b.frames.includes(bad)), 'the refused batch reached the encoder');
    checkLedger(r);
  });

  it('a batch cut mid-record: refused, the records before the cut counted as dropped', async () => {
    const cut = faultFrames(3, 300).subarray(0, 2 * 64 + 40);
    const r = await run((h) => {
      h.onBatch!(faultFrames(4, 100));
      h.onBatch!(cut);
    });
    assert.equal(r.stats.dropped.fault, 2);
    assert.equal(r.stats.produced.fault, 4);
    assert.equal(r.stats.rejectedChunks, 1);
    assert.match(r.stats.lastRejectReason ?? '', /run past the end/);
    checkLedger(r);
  });

  it('a fault summary the encoder refuses (pid -1): dropped once with the encoder\'s reason, the good records of the same batch sent under the same sequence', async () => {
    const bad: ProbeEvent[] = [{ type: 'fault_summary', ...summary(-1) }];
    const good: ProbeEvent[] = [{ type: 'fault_summary', ...summary(7) }];
    const r = await run((h) => {
      // Below maxEvents (8): all three chunks are taken into one batch.
      h.onBatch!(faultFrames(3, 100));
      h.onSummaries!([summary(-1)]);
      h.onSummaries!([summary(7)]);
    });
    assert.equal(r.stats.drained.fault, 5);
    assert.equal(r.stats.produced.fault, 4);
    assert.equal(r.stats.dropped.fault, 1);
    assert.equal(r.stats.rejectedChunks, 1);
    assert.match(r.stats.lastRejectReason ?? '', /faultSummaries\.pid\[0\]: expected an integer from 0 to 2\^32-1, got -1/);
    assert.deepEqual(r.rejections.map((x) => x.counts.fault), [1]);
    // Encoded at most twice (its batch, then alone to find it), then never again.
    const withBad = r.encoded.filter((b) => b.events.some((e) => e.type === 'fault_summary' && e.pid === -1));
    assert.ok(withBad.length >= 1 && withBad.length <= 2, `the refused summary was encoded ${withBad.length} times`);
    assert.equal(r.sent[0]!.faultSummaries.rows, good.length + bad.length - 1);
    assert.equal(r.sent[0]!.faults.rows, 3);
    checkLedger(r);
  });
});
