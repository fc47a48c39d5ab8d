/**
 * Known records for the sink's tests and benchmark: every topic, every
 * event type, and the totals each record must produce in ClickHouse.
 * Deterministic (seeded), so a record built twice is the same bytes.
 */
import type { ProbeEvent } from '../bpf/events.js';
import { Kind } from '../bpf/layout.generated.js';
import { prng } from '../lib/prng.js';
import type { ProcessId, Region } from '../schemas/identity.js';
import { encodeHint, encodeHintAction, encodePhaseChange, encodeRegionScore, encodeTunerChange } from '../schemas/derived.js';
import { encodeDeadLetter } from '../schemas/dead-letter.js';
import { encodeEventBatch } from '../schemas/event-batch-codec.js';
import { eventBatchFromProbeEvents } from '../schemas/event-batch-rows.js';

/** What one events record must turn into. */
export interface EventTotals {
  events: number;
  faults: number;
  writeFaults: number;
  promotions: number;
  promotions2m: number;
  fallbacks: number;
  swapOuts: number;
  swapIns: number;
  majorFaults: number;
  compactions: number;
  vmstatRows: number;
  psiRows: number;
  damonRows: number;
  overheadRows: number;
  programCostRows: number;
  lossRows: number;
  dropRows: number;
}

export const ZERO_TOTALS: EventTotals = {
  events: 0,
  faults: 0,
  writeFaults: 0,
  promotions: 0,
  promotions2m: 0,
  fallbacks: 0,
  swapOuts: 0,
  swapIns: 0,
  majorFaults: 0,
  compactions: 0,
  vmstatRows: 0,
  psiRows: 0,
  damonRows: 0,
  overheadRows: 0,
  programCostRows: 0,
  lossRows: 0,
  dropRows: 0,
};

export function addTotals(a: EventTotals, b: EventTotals): EventTotals {
  const out = { ...a };
  for (const k of Object.keys(b) as (keyof EventTotals)[]) out[k] += b[k];
  return out;
}

export const HOSTS = ['node-a', 'node-b', 'node-c'];
export const BOOT_ID = '5e1f4c0e-8a2b-4f6b-9d55-0c1d2e3f4a5b';
const BASE_NS = 3_600_000_000_000; // an hour after boot

export interface EventRecordOptions {
  /** Raw faults in the batch. */
  readonly faults: number;
  /** Add one of every other event type and sampler. */
  readonly mixed: boolean;
}

/**
 * One EventBatch from `host`, sequence `seq`: `faults` raw faults over a few
 * regions and processes and, if mixed, some of every other type, samplers,
 * loss and drops. Returns the encoded value and what it must produce.
 */
export function eventRecord(host: string, seq: number, opts: EventRecordOptions): { value: Buffer; totals: EventTotals } {
  const rnd = prng(seq * 7919 + host.length);
  const t0 = BASE_NS + seq * 1_000_000_000;
  const h = (kind: number, i: number, pid = 1000 + (i % 3)) => ({ tsNs: t0 + i * 1000, startNs: 5_000_000 + pid, pid, tid: pid, kind, cpu: i % 4, hint: 0 });
  const events: ProbeEvent[] = [];
  const totals: EventTotals = { ...ZERO_TOTALS };
  for (let i = 0; i < opts.faults; i++) {
    const errorCode = 4 | (rnd() < 0.5 ? 2 : 0) | (rnd() < 0.1 ? 1 : 0);
    const sampleWeight = rnd() < 0.2 ? 4 : 0;
    const w = sampleWeight || 1;
    events.push({
      type: 'fault',
      h: h(Kind.PL_KIND_FAULT, i),
      address: 0x7f00_0000_0000 + Math.floor(rnd() * 8) * 0x200000 + Math.floor(rnd() * 512) * 4096,
      ip: 0x400000 + i,
      errorCode,
      sampleWeight,
    });
    totals.faults += w;
    if (errorCode & 2) totals.writeFaults += w;
  }
  totals.events += opts.faults;
  let samplers = {};
  if (opts.mixed) {
    const s = opts.faults;
    events.push(
      { type: 'fault_summary', pid: 1001, startNs: 5_001_001, regionStart: 0x7f10_0000_0000, regionBytes: 0x200000, faults: 40, writeFaults: 10, instrFaults: 0, protFaults: 1, firstNs: t0, lastNs: t0 + 5000, hint: 0, samplePeriod: 16, exited: 1 },
      { type: 'promotion', h: h(Kind.PL_KIND_PROMOTION, s), address: 0x7f00_0000_0000, faultNs: t0, order: 9, gfp: 0x100cca, failed: 0, migratetype: 1 },
      { type: 'promotion', h: h(Kind.PL_KIND_PROMOTION, s + 1), address: 0x7f00_0020_0000, faultNs: t0, order: 4, gfp: 0x100cca, failed: 0, migratetype: 1 },
      { type: 'promotion', h: h(Kind.PL_KIND_PROMOTION, s + 2), address: 0x7f00_0040_0000, faultNs: t0, order: 9, gfp: 0x100cca, failed: 1, migratetype: 1 },
      { type: 'collapse', h: h(Kind.PL_KIND_COLLAPSE, s + 3), status: 1, isolated: 512, callerPid: 77, pad: 0, callerComm: 'khugepaged' },
      {
        type: 'compaction',
        h: h(Kind.PL_KIND_COMPACTION, s + 4),
        durationNs: 1_500_000 + seq,
        zoneStartPfn: 4096,
        zoneEndPfn: 1_048_576,
        migrateScanned: 300,
        freeScanned: 900,
        status: 2,
        order: 9,
        sync: 0,
        direct: 1,
        proactive: 0,
        kthread: 0,
        comm: 'java',
      },
      { type: 'compaction_defer', h: h(Kind.PL_KIND_COMPACTION_DEFER, s + 5), order: 9, node: 0, considered: 1, deferShift: 2, orderFailed: 9, defer: 1 },
      { type: 'kcompactd_wake', h: h(Kind.PL_KIND_KCOMPACTD_WAKE, s + 6), node: 0, order: 2, zoneType: 2, pad: 0 },
      { type: 'swap_out', h: h(Kind.PL_KIND_SWAP_OUT, s + 7), address: 0x7f00_0060_0000, pages: 8, anon: 1, reclaimerPid: 55, pad: 0 },
      { type: 'swap_in', h: h(Kind.PL_KIND_SWAP_IN, s + 8), address: 0x7f00_0060_0000, backing: 1, pad: 0 },
      { type: 'swap_in', h: h(Kind.PL_KIND_SWAP_IN, s + 9), address: 0x7f00_0080_0000, backing: 2, pad: 0 },
      { type: 'swap_entries', h: h(Kind.PL_KIND_SWAP_ENTRIES, s + 10), count: -3 },
      { type: 'reclaim', h: h(Kind.PL_KIND_RECLAIM, s + 11), durationNs: 800_000, nrReclaimed: 32, order: 0, gfp: 0xcc0 },
    );
    totals.events += 13;
    totals.faults += 40;
    totals.writeFaults += 10;
    totals.promotions += 2;
    totals.promotions2m += 1;
    totals.fallbacks += 1;
    totals.swapOuts += 1;
    totals.swapIns += 1;
    totals.majorFaults += 2;
    totals.compactions += 1;
    samplers = {
      loss: { fault: [0, seq + 1, 0, 2], swap: [0, 0, 0, 0] },
      dropped: { fault: seq, vmstat: 0 },
      vmstat: [{ tsNs: t0, intervalNs: 1_000_000_000, deltas: { pgfault: 1200 + seq, nr_free_pages: -4096, thp_fault_alloc: 3 } }],
      psi: [{ tsNs: t0, cgroup: '', someAvg10: 1.5, someAvg60: 0.5, someAvg300: 0.1, someTotalUs: 1000 + seq, fullAvg10: 0, fullAvg60: 0, fullAvg300: 0, fullTotalUs: 10 }],
      damon: [{ tsNs: t0, pid: 1001, startNs: 5_001_001, regionStart: 0x7f00_0000_0000, regionEnd: 0x7f00_0040_0000, nrAccesses: 7, age: 3 }],
      overhead: [{ tsNs: t0, intervalNs: 10_000_000_000, cpus: 4, statsEnabled: 1, agentCpuNs: 40_000_000 + seq, hostFaults: 250_000, hostBusyNs: 20_000_000_000 }],
      programCosts: [
        { tsNs: t0, program: 'pl_page_fault_user', faultPath: 1, runCount: 250_000, runTimeNs: 37_500_000 + seq },
        { tsNs: t0, program: 'pl_mm_compaction_begin', faultPath: 0, runCount: 2, runTimeNs: 1_000 },
      ],
    };
    totals.lossRows += 2; // fault: cpu 1 (seq + 1) and cpu 3; swap: none lost
    totals.dropRows += seq > 0 ? 1 : 0;
    totals.vmstatRows += 3;
    totals.psiRows += 1;
    totals.damonRows += 1;
    totals.overheadRows += 1;
    totals.programCostRows += 2;
  }
  const batch = eventBatchFromProbeEvents({ host, bootId: BOOT_ID, collectorId: `collector-${host}`, sequence: seq, ...samplers }, events);
  return { value: Buffer.from(encodeEventBatch(batch)), totals };
}

export function processOf(host: string, pid: number): ProcessId {
  return { host, bootId: BOOT_ID, pid, startNs: 5_000_000 + pid };
}

export const REGION: Region = { mapping: { kind: 'anon', path: '', ordinal: 2 }, offset: 0x200000, start: 0x7f00_0020_0000, length: 0x200000 };

export function scoreValue(host: string, i: number): Buffer {
  return Buffer.from(
    encodeRegionScore({
      process: processOf(host, 1000 + (i % 3)),
      region: REGION,
      windowStartNs: BASE_NS + i * 1e9,
      windowEndNs: BASE_NS + (i + 1) * 1e9,
      sizes: [
        { sizeKb: 4, benefit: 0, cost: 0, net: 0 },
        { sizeKb: 64, benefit: 1.5 + i, cost: 0.5, net: 1 + i },
        { sizeKb: 2048, benefit: 3 + i, cost: 1, net: 2 + i },
      ],
      preferredSizeKb: 2048,
      access: { faults: 100 + i, writeFaults: 10, instrFaults: 0, protFaults: 0, majorFaults: 1, promotions: 2, promotionFailures: 0, collapses: 0, swapOuts: 0, damonAccesses: 2.5, touchedBytes: 409600 },
      executable: '/usr/bin/java',
      comm: 'java',
    }),
  );
}

export function phaseValue(host: string, i: number): Buffer {
  const summary = { hotSetHash: 12345 + i, hotRegions: 3, hotBytes: 6 * 1024 * 1024, faultRate: 100.5, majorFaultRate: 0, promotionRate: 1, swapOutRate: 0 };
  return Buffer.from(encodePhaseChange({ process: processOf(host, 1000), atNs: BASE_NS + i * 1e9, phase: i, before: summary, after: { ...summary, hotSetHash: 999 + i }, distance: 0.75, reason: 'hot set changed' }));
}

export function hintValue(host: string, i: number): Buffer {
  return Buffer.from(
    encodeHint({
      hintId: `${host}-hint-${i}`,
      process: processOf(host, 1000),
      region: REGION,
      action: 'promote',
      pageSizeKb: 2048,
      score: 2.5,
      reason: 'hot and dense',
      issuedNs: BASE_NS + i,
      expiresNs: BASE_NS + i + 60e9,
      cgroup: '',
      bytes: 0,
    }),
  );
}

export function actionValue(host: string, i: number): Buffer {
  return Buffer.from(
    encodeHintAction({
      hintId: `${host}-hint-${i}`,
      process: processOf(host, 1000),
      region: REGION,
      action: 'promote',
      pageSizeKb: 2048,
      outcome: i % 2 === 0 ? 'applied' : 'refused',
      reason: i % 2 === 0 ? '' : 'not on the allow-list',
      errno: 0,
      bytesAffected: 2 * 1024 * 1024,
      durationNs: 150_000,
      atNs: BASE_NS + i,
      cgroup: '',
    }),
  );
}

export function tunerValue(i: number): Buffer {
  return Buffer.from(encodeTunerChange({ threshold: 'promote_min_net', oldValue: 1 + i, newValue: 1.5 + i, objective: 'fault_rate', measured: 120, target: 100, atNs: BASE_NS + i, scope: i % 2 ? 'node-a' : '', reason: 'above target' }));
}

export function deadLetterValue(i: number): Buffer {
  return Buffer.from(
    encodeDeadLetter({
      topic: 'pageloop.events.v1',
      partition: 1,
      offset: 1000 + i,
      key: Buffer.from('node-z'),
      reason: 'unexpected end of input',
      raw: Buffer.from([0xde, 0xad, i]),
      consumer: 'pageloop-scorer',
      timestampMs: 1_700_000_000_000 + i,
    }),
  );
}
