/**
 * Synthetic event streams with known ground truth, for the tests and the
 * benchmark: EventBatches built with the wire contract's own builders
 * (eventBatchFromProbeEvents + encodeEventBatch), as a collector would send
 * them (one batch per record, key = host, sequence per collector).
 *
 * The ground-truth scenario (default windows of 10 s, events from t0):
 *   host-a  pid 100: region A hot (100 faults per window) for windows 0-11,
 *           then the hot set moves to region B (phase switch at window 12);
 *           region C touched once in window 0 (512 faults), then cold.
 *   host-b  pid 200: region D hot all along, 20 order-9 promotions per
 *           window; a compaction storm in windows 6-8 (20 direct order-9
 *           compactions of 50 ms and 20 more promotions, half failing).
 *   host-c  pid 300: region E touched in window 0, cold, paged out in
 *           window 7 (512 pages), refaulted 20 pages per window from 9 on.
 *   host-d  pid 400: region F touched in window 0, cold, paged out in
 *           window 7, never refaulted.
 * Every host sends a batch every 2.5 s of event time; a last batch per host
 * carries a kcompactd wake past the end, to close the last window.
 */
import type { ProbeEvent } from '../bpf/events.js';
import type { Header } from '../bpf/layout.generated.js';
import { prng } from '../lib/prng.js';
import type { ProcessorConfigInput } from './config.js';
import type { DamonRegion, PsiSample } from '../schemas/event-batch.js';
import { encodeEventBatch } from '../schemas/event-batch-codec.js';
import { eventBatchFromProbeEvents } from '../schemas/event-batch-rows.js';

export const MB = 1024 * 1024;
export const SEC = 1_000_000_000;

function header(tsNs: number, pid: number, startNs: number, kind: number): Header {
  return { tsNs, startNs, pid, tid: pid, kind, cpu: 0, hint: 0 };
}

export function faultSummary(tNs: number, pid: number, startNs: number, regionStart: number, faults: number, regionBytes = 2 * MB): ProbeEvent {
  return {
    type: 'fault_summary',
    pid,
    startNs,
    regionStart,
    regionBytes,
    faults,
    writeFaults: Math.floor(faults / 2),
    instrFaults: 0,
    protFaults: 0,
    firstNs: tNs - 1000,
    lastNs: tNs,
    hint: 0,
    samplePeriod: 1,
    exited: 0,
  };
}

export function rawFault(tNs: number, pid: number, startNs: number, address: number, errorCode = 6): ProbeEvent {
  return { type: 'fault', h: header(tNs, pid, startNs, 1), address, ip: 0x401000, errorCode, sampleWeight: 1 };
}

export function promotion(tNs: number, pid: number, startNs: number, address: number, order: number, failed: boolean): ProbeEvent {
  return { type: 'promotion', h: header(tNs, pid, startNs, 2), address, faultNs: tNs - 500, order, gfp: 0, failed: failed ? 1 : 0, migratetype: 1 };
}

export function compaction(tNs: number, durationNs: number, order: number, direct: boolean): ProbeEvent {
  return {
    type: 'compaction',
    h: header(tNs, 999, 1, 4),
    durationNs,
    zoneStartPfn: 0x1000,
    zoneEndPfn: 0x80000,
    migrateScanned: 4096,
    freeScanned: 8192,
    status: 2,
    order,
    sync: 0,
    direct: direct ? 1 : 0,
    proactive: 0,
    kthread: 0,
    comm: 'app',
  };
}

export function swapOut(tNs: number, pid: number, startNs: number, address: number, pages = 1): ProbeEvent {
  return { type: 'swap_out', h: header(tNs, pid, startNs, 7), address, pages, anon: 1, reclaimerPid: 77, pad: 0 };
}

export function swapIn(tNs: number, pid: number, startNs: number, address: number): ProbeEvent {
  return { type: 'swap_in', h: header(tNs, pid, startNs, 8), address, backing: 1, pad: 0 };
}

export function kcompactdWake(tNs: number): ProbeEvent {
  return { type: 'kcompactd_wake', h: header(tNs, 0, 0, 6), node: 0, order: 9, zoneType: 2, pad: 0 };
}

/** One collector of one host: batches with consecutive sequence numbers. */
export class CollectorStream {
  private seq = 0;
  constructor(
    readonly host: string,
    readonly bootId: string,
    readonly collectorId: string,
  ) {}

  batch(events: readonly ProbeEvent[], samplers: { psi?: PsiSample[]; damon?: DamonRegion[] } = {}): Uint8Array {
    const meta = { host: this.host, bootId: this.bootId, collectorId: this.collectorId, sequence: this.seq++, ...samplers };
    return encodeEventBatch(eventBatchFromProbeEvents(meta, events));
  }

  /** Skips n sequence numbers (batches lost upstream). */
  lose(n: number): void {
    this.seq += n;
  }
}

export interface StreamRecord {
  key: string;
  value: Uint8Array;
  /** Event time of the batch, to interleave hosts the way they would arrive. */
  atNs: number;
}

export const T0 = 1000 * SEC;
export const WINDOW = 10 * SEC;
export const SCENARIO_WINDOWS = 26;

export const SCENARIO = {
  hostA: { host: 'host-a', pid: 100, startNs: 5 * SEC, A: 0x7f0000000000, B: 0x7f0000800000, C: 0x7f0000400000, switchWindow: 12 },
  hostB: { host: 'host-b', pid: 200, startNs: 6 * SEC, D: 0x7f1000000000, stormFrom: 6, stormTo: 8 },
  hostC: { host: 'host-c', pid: 300, startNs: 7 * SEC, E: 0x7f2000000000, pageOutWindow: 7, refaultFrom: 9 },
  hostD: { host: 'host-d', pid: 400, startNs: 8 * SEC, F: 0x7f3000000000, pageOutWindow: 7 },
} as const;

/** Window k's start. */
export const windowStart = (k: number): number => T0 + k * WINDOW;

interface Slot {
  /** Offset in the window of this batch's events. */
  readonly at: number;
}

const SLOTS: readonly Slot[] = [{ at: 1.25 * SEC }, { at: 3.75 * SEC }, { at: 6.25 * SEC }, { at: 8.75 * SEC }];

/** Events of one host in one quarter-window slot. */
type HostPlan = (k: number, slot: number, t: number) => ProbeEvent[];

const planA: HostPlan = (k, slot, t) => {
  const { pid, startNs, A, B, C, switchWindow } = SCENARIO.hostA;
  const ev: ProbeEvent[] = [faultSummary(t, pid, startNs, k < switchWindow ? A : B, 25)];
  if (k === 0 && slot === 0) ev.push(faultSummary(t + 10, pid, startNs, C, 512));
  return ev;
};

const planB: HostPlan = (k, slot, t) => {
  const { pid, startNs, D, stormFrom, stormTo } = SCENARIO.hostB;
  const ev: ProbeEvent[] = [faultSummary(t, pid, startNs, D, 25)];
  for (let i = 0; i < 5; i++) ev.push(promotion(t + 100 + i, pid, startNs, D + i * 4096, 9, false));
  if (k >= stormFrom && k <= stormTo) {
    for (let i = 0; i < 5; i++) {
      ev.push(compaction(t + 200 + i, 50_000_000, 9, true));
      ev.push(promotion(t + 300 + i, pid, startNs, D + (64 + i) * 4096, 9, i % 2 === 0));
    }
  }
  void slot;
  return ev;
};

function coldThenPagedOut(pid: number, startNs: number, region: number, pageOutWindow: number, refaultFrom: number | null): HostPlan {
  return (k, slot, t) => {
    const ev: ProbeEvent[] = [];
    if (k === 0 && slot === 0) ev.push(faultSummary(t, pid, startNs, region, 512));
    if (k === pageOutWindow && slot === 1) ev.push(swapOut(t, pid, startNs, region, 512));
    if (refaultFrom !== null && k >= refaultFrom) {
      // 20 refaults per window: 5 per slot, distinct pages.
      for (let i = 0; i < 5; i++) ev.push(swapIn(t + i, pid, startNs, region + ((k - refaultFrom) * 20 + slot * 5 + i) * 4096));
    }
    return ev;
  };
}

/**
 * The ground-truth stream, records in arrival order (by event time, hosts
 * interleaved). `dupAndGap` adds an exact duplicate of one host-a batch and
 * a lost sequence number on host-d (neither may change the outputs).
 */
export function scenarioRecords(options: { windows?: number; dupAndGap?: boolean } = {}): StreamRecord[] {
  const windows = options.windows ?? SCENARIO_WINDOWS;
  const hosts: [CollectorStream, HostPlan][] = [
    [new CollectorStream(SCENARIO.hostA.host, 'boot-a', 'collector-a'), planA],
    [new CollectorStream(SCENARIO.hostB.host, 'boot-b', 'collector-b'), planB],
    [
      new CollectorStream(SCENARIO.hostC.host, 'boot-c', 'collector-c'),
      coldThenPagedOut(SCENARIO.hostC.pid, SCENARIO.hostC.startNs, SCENARIO.hostC.E, SCENARIO.hostC.pageOutWindow, SCENARIO.hostC.refaultFrom),
    ],
    [new CollectorStream(SCENARIO.hostD.host, 'boot-d', 'collector-d'), coldThenPagedOut(SCENARIO.hostD.pid, SCENARIO.hostD.startNs, SCENARIO.hostD.F, SCENARIO.hostD.pageOutWindow, null)],
  ];
  const out: StreamRecord[] = [];
  for (let k = 0; k < windows; k++) {
    for (let slot = 0; slot < SLOTS.length; slot++) {
      const t = windowStart(k) + SLOTS[slot]!.at;
      for (const [stream, plan] of hosts) {
        const value = stream.batch(plan(k, slot, t));
        out.push({ key: stream.host, value, atNs: t });
        if (options.dupAndGap && stream.host === SCENARIO.hostA.host && k === 3 && slot === 2) out.push({ key: stream.host, value, atNs: t });
        if (options.dupAndGap && stream.host === SCENARIO.hostD.host && k === 10 && slot === 1) stream.lose(1);
      }
    }
  }
  // Past the end (and the allowed lateness), so the last window closes.
  const tail = windowStart(windows) + 5 * SEC;
  for (const [stream] of hosts) out.push({ key: stream.host, value: stream.batch([kcompactdWake(tail)]), atNs: tail });
  return out;
}

/**
 * A random fleet: hosts with processes whose regions fault, promote,
 * compact, swap out and refault, in event-time order, phases switching at a
 * random window. Everything comes from the seed.
 */
export function fleetRecords(seed: number, windows: number): StreamRecord[] {
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

/** One of the processors' fixed workloads: the digests' (digests.test.ts) and the sampled-count check's (sampled.test.ts). */
export interface ProcessorWorkload {
  readonly name: string;
  readonly records: () => StreamRecord[];
  readonly config?: ProcessorConfigInput;
  /** Restore from a checkpoint every this many records (0: never). */
  readonly checkpointEvery?: number;
}

export const PROCESSOR_WORKLOADS: readonly ProcessorWorkload[] = [
  { name: 'scenario', records: () => scenarioRecords() },
  { name: 'scenario-dup-gap', records: () => scenarioRecords({ dupAndGap: true }) },
  { name: 'scenario-40-windows', records: () => scenarioRecords({ windows: 40 }) },
  { name: 'scenario-checkpoint-7', records: () => scenarioRecords({ dupAndGap: true }), checkpointEvery: 7 },
  { name: 'scenario-window-5s', records: () => scenarioRecords(), config: { windowMs: 5000 } },
  ...Array.from({ length: 15 }, (_, i): ProcessorWorkload => ({
    name: `fleet-seed-${i + 1}`,
    records: () => fleetRecords(i + 1, 20 + (i % 4) * 5),
    ...(i % 5 === 4 ? { checkpointEvery: 11 + i } : {}),
  })),
];
