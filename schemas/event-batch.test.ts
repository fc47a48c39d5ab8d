/**
 * EventBatch round-trips exactly: every event type at its extremes, sampler
 * records; big batches work; bad bytes fail with the typed error the
 * dead-letter queue needs. (The derived messages: derived.test.ts; the
 * records path: record-encoder.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { prng } from '../lib/prng.js';
import { FAMILY_OF, type FaultSummary, type ProbeEvent, type ProbeEventType } from '../bpf/events.js';
import { Kind, layouts, type Header } from '../bpf/layout.generated.js';
import { WireDecodeError, WireEncodeError } from './wire-errors.js';
import { wireRoot } from './proto-reflect.js';
import type { BatchMeta, EventBatchInput, WireEventType } from './event-batch.js';
import { wireColumns } from './event-blocks.js';
import { decodeEventBatch, encodeEventBatch } from './event-batch-codec.js';
import { eventBatchFromProbeEvents, eventCount, probeEventsFromEventBatch, samplesFromEventBatch } from './event-batch-rows.js';

// protobufjs's Long class (its `long` dependency), for values past 2^53.
const Long = protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): object };

const U32 = 2 ** 32 - 1;
const U64 = Number.MAX_SAFE_INTEGER; // 2^53-1: the largest u64 a ProbeEvent can hold exactly
const S32_MIN = -(2 ** 31);
const S32_MAX = 2 ** 31 - 1;
const S64_MIN = -Number.MAX_SAFE_INTEGER;

const META: BatchMeta = { host: 'node-7.example', bootId: '5e1f4c0e-8a2b-4f6b-9d55-0c1d2e3f4a5b', collectorId: 'c-01', sequence: 41 };

function header(kind: number, v: 'min' | 'max' | 'mid'): Header {
  if (v === 'min') return { tsNs: 0, startNs: 0, pid: 0, tid: 0, kind, cpu: 0, hint: 0 };
  if (v === 'max') return { tsNs: U64, startNs: U64, pid: U32, tid: U32, kind, cpu: 65535, hint: U32 };
  return { tsNs: 259_200_123_456_789, startNs: 1_234_567_890, pid: 4242, tid: 4243, kind, cpu: 17, hint: 1 };
}

/** Every wire event type at its minimum, maximum and a middling value. */
function extremeEvents(): ProbeEvent[] {
  const out: ProbeEvent[] = [];
  for (const v of ['min', 'max', 'mid'] as const) {
    const u32 = v === 'min' ? 0 : v === 'max' ? U32 : 12345;
    const u64 = v === 'min' ? 0 : v === 'max' ? U64 : 0x7f12_3456_7000;
    const s32 = v === 'min' ? S32_MIN : v === 'max' ? S32_MAX : -3;
    const s64 = v === 'min' ? S64_MIN : v === 'max' ? U64 : -1;
    const comm = v === 'min' ? '' : v === 'max' ? 'kworker/u16:3-ev' : 'java\u00ff\u00e9\u0080';
    out.push(
      { type: 'fault', h: header(Kind.PL_KIND_FAULT, v), address: u64, ip: u64, errorCode: u32, sampleWeight: u32 },
      {
        type: 'fault_summary',
        pid: u32,
        startNs: u64,
        regionStart: u64,
        regionBytes: u64,
        faults: u64,
        writeFaults: u64,
        instrFaults: u64,
        protFaults: u64,
        firstNs: u64,
        lastNs: u64,
        hint: u32,
        samplePeriod: u32,
        exited: v === 'min' ? 0 : 1,
      },
      { type: 'promotion', h: header(Kind.PL_KIND_PROMOTION, v), address: u64, faultNs: u64, order: u32, gfp: u32, failed: u32, migratetype: s32 },
      { type: 'collapse', h: header(Kind.PL_KIND_COLLAPSE, v), status: s32, isolated: u32, callerPid: u32, pad: 0, callerComm: comm },
      {
        type: 'compaction',
        h: header(Kind.PL_KIND_COMPACTION, v),
        durationNs: u64,
        zoneStartPfn: u64,
        zoneEndPfn: u64,
        migrateScanned: u64,
        freeScanned: u64,
        status: s32,
        order: s32,
        sync: u32,
        direct: u32,
        proactive: u32,
        kthread: u32,
        comm,
      },
      {
        type: 'compaction_defer',
        h: header(Kind.PL_KIND_COMPACTION_DEFER, v),
        order: s32,
        node: u32,
        considered: u32,
        deferShift: u32,
        orderFailed: s32,
        defer: u32,
      },
      { type: 'kcompactd_wake', h: header(Kind.PL_KIND_KCOMPACTD_WAKE, v), node: u32, order: s32, zoneType: u32, pad: 0 },
      { type: 'swap_out', h: header(Kind.PL_KIND_SWAP_OUT, v), address: u64, pages: u32, anon: u32, reclaimerPid: u32, pad: 0 },
      { type: 'swap_in', h: header(Kind.PL_KIND_SWAP_IN, v), address: u64, backing: u32, pad: 0 },
      { type: 'swap_entries', h: header(Kind.PL_KIND_SWAP_ENTRIES, v), count: s64 },
      { type: 'reclaim', h: header(Kind.PL_KIND_RECLAIM, v), durationNs: u64, nrReclaimed: u64, order: s32, gfp: u32 },
    );
  }
  return out;
}

const WIRE_TYPES = (Object.keys(FAMILY_OF) as ProbeEventType[]).filter((t): t is WireEventType => t !== 'bench');

test('every ProbeEvent type but bench has a column block', () => {
  const covered = new Set(extremeEvents().map((e) => e.type));
  assert.deepEqual([...covered].sort(), [...WIRE_TYPES].sort());
});

test('the column blocks match the structs of bpf/pageloop.h, field for field', () => {
  const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const headerFields = layouts.pl_header!.fields.map((f) => camel(f.name)).filter((f) => f !== 'kind');
  const headersType = wireRoot().lookupType('pageloop.v1.Headers');
  assert.deepEqual(headersType.fieldsArray.map((f) => f.name), headerFields);
  for (const type of WIRE_TYPES) {
    const wire = wireColumns(type);
    if (type === 'fault_summary') {
      const sample: FaultSummary = { pid: 0, startNs: 0, regionStart: 0, regionBytes: 0, faults: 0, writeFaults: 0, instrFaults: 0, protFaults: 0, firstNs: 0, lastNs: 0, hint: 0, samplePeriod: 0, exited: 0 };
      assert.equal(wire.header, false);
      assert.deepEqual(wire.columns, Object.keys(sample));
      continue;
    }
    const struct = layouts[`pl_${type}_event`];
    assert.ok(struct, `pl_${type}_event is in the generated layouts`);
    const fields = struct.fields.map((f) => f.name).filter((f) => f !== 'h' && !/^pad\d*$/.test(f));
    assert.equal(wire.header, true, `${type} has the header columns`);
    assert.deepEqual(wire.columns, fields.map(camel), `${type}: proto columns follow the C struct`);
    assert.deepEqual(wire.pads, struct.fields.map((f) => f.name).filter((f) => /^pad\d*$/.test(f)));
  }
});

test('an EventBatch of every type at its extremes round-trips exactly, order included', () => {
  const events = extremeEvents();
  // Interleave: mixed types, then a run of one type.
  const mixed = [...events.slice(0, 20), ...events.slice(20).reverse(), ...events.filter((e) => e.type === 'fault_summary')];
  const meta: BatchMeta = {
    ...META,
    sequence: U64,
    loss: { fault: [0, U64, 3], swap: [1, 0, 0] },
    dropped: { fault: U64, vmstat: 0 },
  };
  const batch = eventBatchFromProbeEvents(meta, mixed);
  const bytes = encodeEventBatch(batch);
  const decoded = decodeEventBatch(bytes);
  assert.deepStrictEqual(probeEventsFromEventBatch(decoded), mixed);
  assert.deepStrictEqual(decoded, batch);
  assert.equal(decoded.sequence, U64);
  assert.equal(decoded.firstEventNs, 0);
  assert.equal(decoded.lastEventNs, U64);
  assert.deepStrictEqual(decoded.loss, [
    { family: 'fault', perCpu: [0, U64, 3] },
    { family: 'swap', perCpu: [1, 0, 0] },
  ]);
  assert.deepStrictEqual(decoded.dropped, [
    { family: 'fault', events: U64 },
    { family: 'vmstat', events: 0 },
  ]);
  assert.equal(eventCount(decoded), mixed.length);
  // Deterministic: replaying a batch re-encodes to the same bytes.
  assert.deepStrictEqual(encodeEventBatch(decoded), bytes);
});

test('an EventBatch is plain protobuf: a generic decoder reads it, and fields from a newer producer are skipped', () => {
  const batch = eventBatchFromProbeEvents(META, extremeEvents());
  const bytes = encodeEventBatch(batch);
  const type = wireRoot().lookupType('pageloop.v1.EventBatch');
  const generic = type.toObject(type.decode(bytes), { longs: Number }) as Record<string, Record<string, unknown>>;
  assert.equal(generic.host, META.host as unknown);
  assert.equal(generic.faults!.rows, 3);
  assert.deepStrictEqual(generic.faults!.address, batch.faults.address);
  assert.deepStrictEqual((generic.compactions!.h as Record<string, unknown>).tsNs, batch.compactions.h.tsNs);
  assert.deepStrictEqual(generic.collapses!.callerComm, batch.collapses.callerComm);
  assert.deepStrictEqual(generic.swapEntries!.count, batch.swapEntries.count);

  const future = protobuf.Writer.create();
  future.uint32((200 << 3) | 2).string('a field this reader does not know');
  future.uint32((201 << 3) | 0).uint64(7);
  const newer = Buffer.concat([future.finish(), bytes, future.finish()]);
  assert.deepStrictEqual(decodeEventBatch(newer), decodeEventBatch(bytes));
});

test('without an order, events come back grouped in EventType order', () => {
  const events = extremeEvents();
  const batch = eventBatchFromProbeEvents(META, events);
  const unordered = { ...batch, order: { type: [], run: [] } };
  const back = probeEventsFromEventBatch(decodeEventBatch(encodeEventBatch(unordered)));
  assert.equal(back.length, events.length);
  const typeOrder = back.map((e) => e.type).filter((t, i, all) => all[i - 1] !== t);
  assert.deepEqual(typeOrder, [
    'fault',
    'promotion',
    'collapse',
    'compaction',
    'compaction_defer',
    'kcompactd_wake',
    'swap_out',
    'swap_in',
    'swap_entries',
    'reclaim',
    'fault_summary',
  ]);
  // Decoded events have the layout decoders' key order, so JSON text compares too.
  const sortKey = (e: ProbeEvent): string => JSON.stringify(e);
  assert.deepStrictEqual(back.map(sortKey).sort(), events.map(sortKey).sort());
});

test('sampler records (vmstat, PSI, DAMON, overhead, program costs) round-trip', () => {
  const meta: BatchMeta = {
    ...META,
    vmstat: [
      { tsNs: 1_000, intervalNs: 1_000_000_000, deltas: { pgfault: 120_000, nr_free_pages: -4096, thp_fault_alloc: 0 } },
      { tsNs: 2_000, intervalNs: 999_999_999, deltas: {} },
      { tsNs: 3_000, intervalNs: 1_000_000_001, deltas: { nr_free_pages: S64_MIN, compact_stall: U64 } },
    ],
    psi: [
      { tsNs: 1_500, cgroup: '', someAvg10: 0.12, someAvg60: 0, someAvg300: 99.99, someTotalUs: U64, fullAvg10: 0, fullAvg60: 0.5, fullAvg300: 1e-9, fullTotalUs: 0 },
      { tsNs: 2_500, cgroup: '/sys/fs/cgroup/app.slice', someAvg10: 1, someAvg60: 2, someAvg300: 3, someTotalUs: 4, fullAvg10: 5, fullAvg60: 6, fullAvg300: 7, fullTotalUs: 8 },
    ],
    damon: [
      { tsNs: 900, pid: U32, startNs: U64, regionStart: 0x7f00_0000_0000, regionEnd: 0x7f00_0020_0000, nrAccesses: 20, age: 0 },
      { tsNs: 4_000, pid: 1, startNs: 0, regionStart: 0, regionEnd: U64, nrAccesses: 0, age: U32 },
    ],
    overhead: [
      { tsNs: 800, intervalNs: 10_000_000_000, cpus: 2, statsEnabled: 1, agentCpuNs: 123_456_789, hostFaults: 250_000, hostBusyNs: U64 },
      { tsNs: 4_100, intervalNs: 1, cpus: U32, statsEnabled: 0, agentCpuNs: 0, hostFaults: 0, hostBusyNs: 0 },
    ],
    programCosts: [
      { tsNs: 800, program: 'pl_page_fault_user', faultPath: 1, runCount: 250_000, runTimeNs: 37_500_000 },
      { tsNs: 800, program: 'pl_mm_compaction_begin', faultPath: 0, runCount: 0, runTimeNs: U64 },
    ],
  };
  const events = extremeEvents().filter((e) => e.type === 'fault' && e.h.tsNs !== 0 && e.h.tsNs !== U64);
  const batch = eventBatchFromProbeEvents(meta, events);
  assert.equal(batch.firstEventNs, 800, 'overhead rows count in the batch times');
  assert.equal(batch.lastEventNs, 259_200_123_456_789);
  const decoded = decodeEventBatch(encodeEventBatch(batch));
  assert.deepStrictEqual(samplesFromEventBatch(decoded), { vmstat: meta.vmstat, psi: meta.psi, damon: meta.damon, overhead: meta.overhead, programCosts: meta.programCosts });
  assert.deepStrictEqual(decoded.vmstat.names, ['pgfault', 'nr_free_pages', 'thp_fault_alloc', 'compact_stall']);
  assert.deepStrictEqual(probeEventsFromEventBatch(decoded), events);
});

test('a u64 past 2^53 (a user fault on a kernel address) travels as the same number', () => {
  // What decodeFaultEvent makes of address 0xffffffff81000000: an exact double, not the exact u64.
  const wild = 0xffffffff81000000;
  const fault: ProbeEvent = { type: 'fault', h: header(Kind.PL_KIND_FAULT, 'mid'), address: wild, ip: 2 ** 63, errorCode: 5, sampleWeight: 1 };
  const [back] = probeEventsFromEventBatch(decodeEventBatch(encodeEventBatch(eventBatchFromProbeEvents(META, [fault]))));
  assert.deepStrictEqual(back, fault);
});

test('bench events never go on the wire', () => {
  const bench: ProbeEvent = { type: 'bench', h: header(Kind.PL_KIND_BENCH, 'mid'), seq: 1, payload: [2, 3] };
  const fault = extremeEvents()[0]!;
  const batch = eventBatchFromProbeEvents(META, [bench, fault, bench]);
  assert.deepStrictEqual(probeEventsFromEventBatch(decodeEventBatch(encodeEventBatch(batch))), [fault]);
});

/** A realistic fault sweep: a few processes, 2 MiB regions, small counts, boot-time ns. */
function faultSweep(n: number, seed: number): ProbeEvent[] {
  const rand = prng(seed);
  const procs = Array.from({ length: 8 }, (_, i) => ({ pid: 1000 + i * 37, startNs: 3_600_000_000_000 + i * 1_000_000 }));
  const now = 259_200_000_000_000;
  const out: ProbeEvent[] = [];
  for (let i = 0; i < n; i++) {
    const p = procs[Math.floor(rand() * procs.length)]!;
    const faults = 1 + Math.floor(rand() * 512);
    const first = now + Math.floor(rand() * 1e9);
    out.push({
      type: 'fault_summary',
      pid: p.pid,
      startNs: p.startNs,
      regionStart: 0x7f00_0000_0000 + Math.floor(rand() * 65536) * 2 ** 21,
      regionBytes: 2 ** 21,
      faults,
      writeFaults: Math.floor(faults * rand()),
      instrFaults: 0,
      protFaults: rand() < 0.05 ? 1 : 0,
      firstNs: first,
      lastNs: first + Math.floor(rand() * 1e8),
      hint: 0,
      // A sampling collector's sweep: every row 1 in 16.
      samplePeriod: 16,
      exited: rand() < 0.1 ? 1 : 0,
    });
  }
  return out;
}

test('a 10k fault_summary sweep encodes smaller than the kernel structs it came from', () => {
  const events = faultSweep(10_000, 7);
  const bytes = encodeEventBatch(eventBatchFromProbeEvents(META, events));
  assert.ok(bytes.length / events.length < 64, `${bytes.length / events.length} bytes per summary`);
  assert.deepStrictEqual(probeEventsFromEventBatch(decodeEventBatch(bytes)), events);
});

test('a 100k-event batch of mixed types encodes and decodes', () => {
  const rand = prng(42);
  const kinds = extremeEvents().filter((e) => e.type !== 'fault_summary');
  const sweep = faultSweep(50_000, 3);
  const events: ProbeEvent[] = [];
  for (let i = 0; i < 100_000; i++) {
    if (i % 2 === 0) {
      events.push(sweep[i / 2]!);
      continue;
    }
    const base = kinds[Math.floor(rand() * kinds.length)]!;
    const e = structuredClone(base);
    if ('h' in e) e.h.tsNs = 259_200_000_000_000 + i;
    events.push(e);
  }
  const bytes = encodeEventBatch(eventBatchFromProbeEvents(META, events));
  const decoded = decodeEventBatch(bytes);
  assert.equal(eventCount(decoded), 100_000);
  assert.deepStrictEqual(probeEventsFromEventBatch(decoded), events);
});

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

function rawBatch(fields: Record<string, unknown>): Uint8Array {
  const base = { host: 'h', bootId: 'b', collectorId: 'c' };
  return wireRoot().lookupType('pageloop.v1.EventBatch').encode({ ...base, ...fields }).finish();
}

test('garbage bytes fail with a typed error that says what is wrong', () => {
  const text = decodeError(() => decodeEventBatch(Buffer.from('this is not a protobuf, it is a sentence')));
  assert.equal(text.messageType, 'EventBatch');
  assert.match(text.message, /^cannot decode pageloop\.v1\.EventBatch: /);
  for (let seed = 1; seed <= 300; seed++) {
    const rand = prng(seed);
    const bytes = Uint8Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256));
    decodeError(() => decodeEventBatch(bytes));
  }
  const good = encodeEventBatch(eventBatchFromProbeEvents(META, extremeEvents()));
  for (const cut of [1, 7, good.length >> 1, good.length - 1]) decodeError(() => decodeEventBatch(good.subarray(0, cut)));
  assert.match(decodeError(() => decodeEventBatch(new Uint8Array(0))).reason, /host: empty/);
  assert.match(decodeError(() => decodeEventBatch('bytes' as unknown as Uint8Array)).reason, /expected bytes/);
});

test('structurally bad batches fail with the column or field named', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ faults: { rows: 3, h: { tsNs: [1, 2] } } }, /faults\.h\.tsNs: 2 values for 3 rows/],
    [{ faults: { rows: 1_000_000 } }, /faults: 1000000 rows but no column/],
    [{ sequence: Long.fromString('18446744073709551615', true) }, /sequence: 18446744073709551615 is not exactly a JavaScript number/],
    [{ swapIns: { rows: 1, address: [Long.fromString('9007199254740993', true)] } }, /swapIns\.address\[0\]: 9007199254740993 is not exactly a JavaScript number/],
    [{ order: { type: [99], run: [1] } }, /order\.type\[0\]: unknown EventType 99/],
    [{ faults: { rows: 2, address: [1, 2] }, order: { type: [1], run: [1] } }, /order: 1 fault events in runs, 2 rows in faults/],
    [{ vmstat: { rows: 1, tsNs: [1], entries: [2], names: ['a'], nameIndex: [0, 1], delta: [1, 2] } }, /vmstat\.nameIndex\[1\]: 1 is past the 1 names/],
    [{ collectorId: '' }, /collectorId: empty/],
  ];
  for (const [fields, reason] of cases) assert.match(decodeError(() => decodeEventBatch(rawBatch(fields))).reason, reason);
});

test('encoding refuses values the proto type cannot hold, naming the column and row', () => {
  const batch = eventBatchFromProbeEvents(META, extremeEvents());
  const expectEncodeError = (input: EventBatchInput, reason: RegExp): void => {
    assert.throws(() => encodeEventBatch(input), (err: unknown) => err instanceof WireEncodeError && reason.test(err.reason));
  };
  const bad = (mutate: (b: typeof batch) => void): typeof batch => {
    const copy = structuredClone(batch);
    mutate(copy);
    return copy;
  };
  expectEncodeError(bad((b) => (b.faults.errorCode[1] = -1)), /faults\.errorCode\[1\]: expected an integer from 0 to 2\^32-1, got -1/);
  expectEncodeError(bad((b) => (b.faults.address[0] = 2 ** 64)), /faults\.address\[0\]: expected an integer from 0 to 2\^64-1/);
  expectEncodeError(bad((b) => (b.faults.address[0] = -1)), /faults\.address\[0\]/);
  expectEncodeError(bad((b) => (b.swapEntries.count[0] = 2 ** 53)), /swapEntries\.count\[0\]: expected an integer from -\(2\^53-1\)/);
  expectEncodeError(bad((b) => (b.promotions.migratetype[0] = 2 ** 31)), /promotions\.migratetype\[0\]/);
  expectEncodeError(bad((b) => (b.reclaims.gfp[0] = 1.5)), /reclaims\.gfp\[0\]/);
  expectEncodeError(bad((b) => b.faults.ip.pop()), /faults\.ip: 2 values for 3 rows/);
  expectEncodeError(bad((b) => (b.host = '')), /host: empty/);
  expectEncodeError({ ...batch, bogus: 1 } as unknown as EventBatchInput, /bogus: not a field of EventBatch/);
});

test('columns may be given empty for all-zero, and all-zero blocks still decode', () => {
  const zeros: ProbeEvent[] = [
    { type: 'swap_entries', h: header(Kind.PL_KIND_SWAP_ENTRIES, 'min'), count: 0 },
    { type: 'swap_entries', h: header(Kind.PL_KIND_SWAP_ENTRIES, 'min'), count: 0 },
  ];
  const batch = eventBatchFromProbeEvents(META, zeros);
  assert.deepStrictEqual(probeEventsFromEventBatch(decodeEventBatch(encodeEventBatch(batch))), zeros);
  const sparse: EventBatchInput = {
    host: META.host,
    bootId: META.bootId,
    collectorId: META.collectorId,
    sequence: 0,
    firstEventNs: 0,
    lastEventNs: 0,
    swapIns: { rows: 2, h: { tsNs: [5, 6], startNs: [], pid: [], tid: [], cpu: [], hint: [] }, address: [], backing: [] },
  };
  const events = probeEventsFromEventBatch(decodeEventBatch(encodeEventBatch(sparse)));
  assert.deepStrictEqual(events, [
    { type: 'swap_in', h: { tsNs: 5, startNs: 0, pid: 0, tid: 0, kind: Kind.PL_KIND_SWAP_IN, cpu: 0, hint: 0 }, address: 0, backing: 0, pad: 0 },
    { type: 'swap_in', h: { tsNs: 6, startNs: 0, pid: 0, tid: 0, kind: Kind.PL_KIND_SWAP_IN, cpu: 0, hint: 0 }, address: 0, backing: 0, pad: 0 },
  ]);
});
