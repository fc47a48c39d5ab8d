/**
 * pageloop.events.v1's message, EventBatch, as TypeScript types: one Kafka
 * record holds one collector's batch: its identity, one block of packed
 * columns per event type (ring-buffer header columns nested in `h`), the
 * sampler blocks (vmstat, PSI, DAMON, overhead), the run-length `order` of the
 * events, and cumulative loss and drops. Types only; the code is in
 *   schemas/event-blocks.ts       the block table, from the .proto
 *   schemas/event-batch-codec.ts  encodeEventBatch, decodeEventBatch
 *   schemas/event-batch-rows.ts   batches from and to events and sampler rows
 *   schemas/record-encoder.ts     ring-buffer records straight to bytes
 *   schemas/typed-decode.ts       the processors' decode into typed arrays
 */
import type { ProbeEventType } from '../bpf/events.js';
import type {
  HeaderColumns,
  FaultColumns,
  PromotionColumns,
  CollapseColumns,
  CompactionColumns,
  CompactionDeferColumns,
  KcompactdWakeColumns,
  SwapOutColumns,
  SwapInColumns,
  SwapEntriesColumns,
  ReclaimColumns,
} from './event-fields.generated.js';

// The column blocks of the structs of bpf/pageloop.h, generated from it (scripts/gen-event-fields.mjs).
export type {
  HeaderColumns,
  FaultColumns,
  PromotionColumns,
  CollapseColumns,
  CompactionColumns,
  CompactionDeferColumns,
  KcompactdWakeColumns,
  SwapOutColumns,
  SwapInColumns,
  SwapEntriesColumns,
  ReclaimColumns,
};

/** The event types that travel; 'bench' never leaves the host. */
export type WireEventType = Exclude<ProbeEventType, 'bench'>;

/** FaultSummary (bpf/events.ts) as columns: built in user space, not from a struct of pageloop.h. */
export interface FaultSummaryColumns {
  rows: number;
  pid: number[];
  startNs: number[];
  regionStart: number[];
  regionBytes: number[];
  faults: number[];
  writeFaults: number[];
  instrFaults: number[];
  protFaults: number[];
  firstNs: number[];
  lastNs: number[];
  hint: number[];
  /** 1: exact; N: sampled 1 in N, counts already scaled; 0: exact (sent before the column existed). */
  samplePeriod: number[];
  /** 1: the process had exited by the sweep (its last rows; faults 0 only marks it); 0: alive, or sent before the column existed. */
  exited: number[];
}

/** Sparse: sample i owns entries[i] consecutive (nameIndex, delta) pairs; nameIndex points into names. */
export interface VmstatColumns {
  rows: number;
  tsNs: number[];
  intervalNs: number[];
  entries: number[];
  names: string[];
  nameIndex: number[];
  delta: number[];
}

export interface PsiColumns {
  rows: number;
  tsNs: number[];
  cgroup: string[];
  someAvg10: number[];
  someAvg60: number[];
  someAvg300: number[];
  someTotalUs: number[];
  fullAvg10: number[];
  fullAvg60: number[];
  fullAvg300: number[];
  fullTotalUs: number[];
}

export interface DamonColumns {
  rows: number;
  tsNs: number[];
  pid: number[];
  startNs: number[];
  regionStart: number[];
  regionEnd: number[];
  nrAccesses: number[];
  age: number[];
}

/** OverheadSamples: one row per host per overhead interval (collectors/overhead.ts OverheadSample). */
export interface OverheadColumns {
  rows: number;
  tsNs: number[];
  intervalNs: number[];
  cpus: number[];
  statsEnabled: number[];
  agentCpuNs: number[];
  hostFaults: number[];
  hostBusyNs: number[];
}

/** ProgramCosts: one row per BPF program per overhead interval (collectors/overhead.ts ProgramCostSample). */
export interface ProgramCostColumns {
  rows: number;
  tsNs: number[];
  program: string[];
  faultPath: number[];
  runCount: number[];
  runTimeNs: number[];
}

/** Run-length order of the events: run[i] events of type[i]. Empty: blocks in EventType order. */
export interface EventOrder {
  type: WireEventType[];
  run: number[];
}

export interface FamilyLoss {
  family: string;
  /** Cumulative, per CPU. */
  perCpu: number[];
}

export interface FamilyDrops {
  family: string;
  /** Cumulative. */
  events: number;
}

export interface EventBlocks {
  faults: FaultColumns;
  faultSummaries: FaultSummaryColumns;
  promotions: PromotionColumns;
  collapses: CollapseColumns;
  compactions: CompactionColumns;
  compactionDefers: CompactionDeferColumns;
  kcompactdWakes: KcompactdWakeColumns;
  swapOuts: SwapOutColumns;
  swapIns: SwapInColumns;
  swapEntries: SwapEntriesColumns;
  reclaims: ReclaimColumns;
}

export interface SamplerBlocks {
  vmstat: VmstatColumns;
  psi: PsiColumns;
  damon: DamonColumns;
  overhead: OverheadColumns;
  programCosts: ProgramCostColumns;
}

export interface BatchIdentity {
  host: string;
  bootId: string;
  collectorId: string;
  sequence: number;
}

/** A decoded batch: every block present (rows 0 when empty), every column `rows` long. */
export interface EventBatch extends BatchIdentity, EventBlocks, SamplerBlocks {
  firstEventNs: number;
  lastEventNs: number;
  order: EventOrder;
  loss: FamilyLoss[];
  dropped: FamilyDrops[];
}

/**
 * What encodeEventBatch takes: blocks may be left out, and a column may be
 * [] for "all zero" (as on the wire).
 */
export type EventBatchInput = BatchIdentity & {
  firstEventNs: number;
  lastEventNs: number;
} & Partial<EventBlocks & SamplerBlocks & { order: EventOrder; loss: FamilyLoss[]; dropped: FamilyDrops[] }>;

export interface VmstatSample {
  tsNs: number;
  intervalNs: number;
  /** Counter name -> change over the interval (negative for falling gauges). */
  deltas: Record<string, number>;
}

export interface PsiSample {
  tsNs: number;
  /** cgroup v2 path; '' for the whole host. */
  cgroup: string;
  someAvg10: number;
  someAvg60: number;
  someAvg300: number;
  someTotalUs: number;
  fullAvg10: number;
  fullAvg60: number;
  fullAvg300: number;
  fullTotalUs: number;
}

export interface DamonRegion {
  tsNs: number;
  pid: number;
  startNs: number;
  regionStart: number;
  regionEnd: number;
  nrAccesses: number;
  age: number;
}

export interface BatchMeta extends BatchIdentity {
  /** Ring-buffer loss per family, per CPU, cumulative (Probes.loss().perFamily). */
  loss?: Readonly<Record<string, readonly number[]>>;
  /** Collector queue drops per family or sampler, cumulative. */
  dropped?: Readonly<Record<string, number>>;
  vmstat?: readonly VmstatSample[];
  psi?: readonly PsiSample[];
  damon?: readonly DamonRegion[];
  overhead?: readonly OverheadRow[];
  programCosts?: readonly ProgramCostRow[];
}

/** One OverheadSamples row (the same shape as collectors/overhead.ts OverheadSample). */
export interface OverheadRow {
  tsNs: number;
  intervalNs: number;
  cpus: number;
  statsEnabled: number;
  agentCpuNs: number;
  hostFaults: number;
  hostBusyNs: number;
}

/** One ProgramCosts row (the same shape as collectors/overhead.ts ProgramCostSample). */
export interface ProgramCostRow {
  tsNs: number;
  program: string;
  faultPath: number;
  runCount: number;
  runTimeNs: number;
}

