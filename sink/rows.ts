/**
 * Kafka records to table rows: per topic, how a record's value decodes and
 * which rows of which tables (schemas/clickhouse-tables.ts) it becomes. Rows
 * go straight into NativeBlock columns; nothing per row is an object.
 *
 * Every value is a pure function of the record (its bytes, key, timestamp,
 * partition and offset), so a replayed record makes the same rows: the
 * condition for insert deduplication to recognise a replayed block.
 */
import { FAMILY_OF, type FamilyName } from '../bpf/events.js';
import type { Region } from '../schemas/identity.js';
import { decodeHint, decodeHintAction, decodePhaseChange, decodeRegionScore, decodeTunerChange } from '../schemas/derived.js';
import { decodeDeadLetter } from '../schemas/dead-letter.js';
import type { HeaderColumns, WireEventType } from '../schemas/event-batch.js';
import { decodeEventBatchFast, type SinkEventBatch } from './fast-decode.js';
import { NativeBlock, type NativeColumnSpec, type NativeColumnType } from '../clickhouse/native-block.js';
import { TABLE, type TableName } from '../schemas/clickhouse-tables.js';

/** One Kafka record, as the sink sees it. Offsets are below 2^53. */
export interface SinkRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The record's timestamp (CreateTime), ms since the epoch. */
  readonly timestampMs: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

export const TUNER_TOPIC = 'pageloop.tuner.v1';

// ---------------------------------------------------------------------------
// Column lists: the insert side of schema.ts, same names and types

const c = (name: string, type: NativeColumnType): NativeColumnSpec => ({ name, type });
const u64 = (...names: string[]): NativeColumnSpec[] => names.map((n) => c(n, 'UInt64'));
const u32 = (...names: string[]): NativeColumnSpec[] => names.map((n) => c(n, 'UInt32'));
const u8 = (...names: string[]): NativeColumnSpec[] => names.map((n) => c(n, 'UInt8'));
const f64 = (...names: string[]): NativeColumnSpec[] => names.map((n) => c(n, 'Float64'));
const str = (...names: string[]): NativeColumnSpec[] => names.map((n) => c(n, 'String'));
const lc = (...names: string[]): NativeColumnSpec[] => names.map((n) => c(n, 'LowCardinality(String)'));
const TIME = c('time', 'DateTime64(3)');
const PROVENANCE = [c('kafka_partition', 'UInt32'), c('kafka_offset', 'UInt64')];
const PROCESS = [...lc('host', 'boot_id'), c('pid', 'UInt32'), c('start_ns', 'UInt64')];
const REGION = [...lc('mapping_kind'), c('mapping_path', 'String'), c('mapping_ordinal', 'UInt32'), ...u64('region_offset', 'region_start', 'region_length')];
const COLLECTOR = [TIME, ...lc('host', 'boot_id'), c('collector_id', 'String'), c('sequence', 'UInt64')];

export const COLUMNS: Readonly<Record<Exclude<TableName, 'region_minute' | 'compaction_runs' | 'score_sizes' | 'sink_blocks'>, readonly NativeColumnSpec[]>> = {
  events: [
    TIME,
    c('ts_ns', 'UInt64'),
    ...lc('host', 'boot_id', 'type'),
    c('pid', 'UInt32'),
    c('start_ns', 'UInt64'),
    c('tid', 'UInt32'),
    c('cpu', 'UInt16'),
    c('hint', 'UInt32'),
    ...u64('address', 'region_bytes', 'weight', 'write_faults', 'instr_faults', 'prot_faults', 'ip'),
    c('error_code', 'UInt32'),
    ...u64('first_ns', 'fault_ns'),
    c('page_order', 'Int32'),
    c('gfp', 'UInt32'),
    c('failed', 'UInt8'),
    c('migratetype', 'Int32'),
    c('status', 'Int32'),
    ...u32('isolated', 'caller_pid'),
    ...lc('comm'),
    ...u64('duration_ns', 'zone_start_pfn', 'zone_end_pfn', 'migrate_scanned', 'free_scanned'),
    ...u8('sync', 'direct', 'proactive', 'kthread'),
    ...u32('node', 'considered', 'defer_shift'),
    c('order_failed', 'Int32'),
    c('defer', 'UInt8'),
    ...u32('zone_type', 'pages'),
    c('anon', 'UInt8'),
    c('reclaimer_pid', 'UInt32'),
    c('backing', 'UInt8'),
    c('swap_entries', 'Int64'),
    c('nr_reclaimed', 'UInt64'),
    ...PROVENANCE,
  ],
  collector_batches: [
    ...COLLECTOR,
    ...u64('first_event_ns', 'last_event_ns'),
    ...u32('events', 'fault_events', 'promotion_events', 'collapse_events', 'compaction_events', 'swap_events', 'vmstat_samples', 'psi_samples', 'damon_regions', 'record_bytes'),
    ...PROVENANCE,
  ],
  collector_loss: [...COLLECTOR, ...lc('family'), c('cpu', 'UInt16'), c('lost', 'UInt64'), ...PROVENANCE],
  collector_drops: [...COLLECTOR, ...lc('family'), c('dropped', 'UInt64'), ...PROVENANCE],
  vmstat: [TIME, c('ts_ns', 'UInt64'), ...lc('host', 'boot_id'), c('interval_ns', 'UInt64'), ...lc('name'), c('delta', 'Int64'), ...PROVENANCE],
  psi: [
    TIME,
    c('ts_ns', 'UInt64'),
    ...lc('host', 'boot_id'),
    c('cgroup', 'String'),
    ...f64('some_avg10', 'some_avg60', 'some_avg300'),
    c('some_total_us', 'UInt64'),
    ...f64('full_avg10', 'full_avg60', 'full_avg300'),
    c('full_total_us', 'UInt64'),
    ...PROVENANCE,
  ],
  damon_regions: [TIME, c('ts_ns', 'UInt64'), ...PROCESS, ...u64('region_start', 'region_end'), ...u32('nr_accesses', 'age'), ...PROVENANCE],
  scores: [
    TIME,
    ...PROCESS,
    c('executable', 'String'),
    ...lc('comm'),
    ...REGION,
    ...u64('window_start_ns', 'window_end_ns'),
    c('preferred_size_kb', 'UInt32'),
    c('size_kb', 'Array(UInt32)'),
    c('benefit', 'Array(Float64)'),
    c('cost', 'Array(Float64)'),
    c('net', 'Array(Float64)'),
    ...u64('faults', 'write_faults', 'instr_faults', 'prot_faults', 'major_faults', 'promotions', 'promotion_failures', 'collapses', 'swap_outs'),
    c('damon_accesses', 'Float64'),
    c('touched_bytes', 'UInt64'),
    ...PROVENANCE,
  ],
  phase_changes: [
    TIME,
    ...PROCESS,
    c('at_ns', 'UInt64'),
    c('phase', 'UInt32'),
    c('distance', 'Float64'),
    c('reason', 'String'),
    ...['before', 'after'].flatMap((p) => [
      c(`${p}_hot_set_hash`, 'UInt64'),
      c(`${p}_hot_regions`, 'UInt32'),
      c(`${p}_hot_bytes`, 'UInt64'),
      ...f64(`${p}_fault_rate`, `${p}_major_fault_rate`, `${p}_promotion_rate`, `${p}_swap_out_rate`),
    ]),
    ...PROVENANCE,
  ],
  hints: [
    TIME,
    ...PROCESS,
    c('hint_id', 'String'),
    ...lc('action'),
    c('page_size_kb', 'UInt32'),
    c('score', 'Float64'),
    c('reason', 'String'),
    ...u64('issued_ns', 'expires_ns'),
    c('cgroup', 'String'),
    c('bytes', 'UInt64'),
    ...REGION,
    c('withdrawn', 'UInt8'),
    ...PROVENANCE,
  ],
  hint_actions: [
    TIME,
    ...PROCESS,
    c('hint_id', 'String'),
    ...lc('action'),
    c('page_size_kb', 'UInt32'),
    ...lc('outcome'),
    c('reason', 'String'),
    c('errno', 'Int32'),
    ...u64('bytes_affected', 'duration_ns', 'at_ns'),
    c('cgroup', 'String'),
    ...REGION,
    ...PROVENANCE,
  ],
  tuner_changes: [TIME, ...lc('host', 'threshold'), ...f64('old_value', 'new_value'), ...lc('objective'), ...f64('measured', 'target'), c('at_ns', 'UInt64'), ...str('scope', 'reason'), ...PROVENANCE],
  dead_letters: [
    TIME,
    ...lc('host', 'topic'),
    c('partition', 'Int32'),
    c('offset', 'Int64'),
    ...lc('consumer'),
    ...str('reason', 'key', 'raw'),
    c('source_time', 'DateTime64(3)'),
    ...PROVENANCE,
  ],
};

export type InsertTable = keyof typeof COLUMNS;

/**
 * The blocks being filled for one insert round, created on first use, by
 * name: a table's name, or `table/part` for a second block of the same
 * table. The name is what the block's deduplication token ends with.
 */
export class TableBlocks {
  readonly blocks = new Map<string, NativeBlock>();

  get(table: InsertTable, part = ''): NativeBlock {
    const name = part === '' ? table : `${table}/${part}`;
    let b = this.blocks.get(name);
    if (!b) {
      b = new NativeBlock(table, COLUMNS[table]);
      this.blocks.set(name, b);
    }
    return b;
  }
}

/**
 * Events other than faults go to a second block of the events table: the
 * table is wide, and one compaction among a million faults would otherwise
 * make its twenty columns real (zero-filled) for every fault row.
 */
export const OTHER_EVENTS_PART = 'other';

// ---------------------------------------------------------------------------
// Generic row append (the low-volume tables)

type Value = number | string | readonly number[] | Uint8Array | undefined;

/** Appends one row; names missing from `values` stay default. */
export function appendRow(block: NativeBlock, values: Readonly<Record<string, Value>>): void {
  const row = block.addRows(1);
  for (const [name, v] of Object.entries(values)) {
    if (v === undefined) continue;
    const col = block.col(name);
    const type = block.columns[col]!.type;
    switch (type) {
      case 'LowCardinality(String)':
        if (typeof v !== 'string') throw new Error(`${block.table}.${name}: a LowCardinality(String) column given ${typeof v}`);
        block.str(col, row, v);
        break;
      case 'String':
        if (typeof v === 'string') block.str(col, row, v);
        else if (v instanceof Uint8Array) block.bytes(col, row, v);
        else throw new Error(`${block.table}.${name}: a String column given ${typeof v}`);
        break;
      case 'Array(UInt32)':
      case 'Array(Float64)':
        if (!Array.isArray(v)) throw new Error(`${block.table}.${name}: an Array column given ${typeof v}`);
        block.array(col, row, v as readonly number[]);
        break;
      default: {
        if (typeof v !== 'number') throw new Error(`${block.table}.${name}: a ${type} column given ${typeof v}`);
        if (type === 'UInt8') block.u8(col, row, v);
        else if (type === 'UInt16') block.u16(col, row, v);
        else if (type === 'UInt32') block.u32(col, row, v);
        else if (type === 'Int32') block.i32(col, row, v);
        else if (type === 'Float64') block.f64(col, row, v);
        else block.u64(col, row, v);
      }
    }
  }
}

function provenance(rec: SinkRecord): { kafka_partition: number; kafka_offset: number } {
  return { kafka_partition: rec.partition, kafka_offset: rec.offset };
}

function regionValues(r: Region | undefined): Record<string, Value> {
  if (!r) return {};
  return {
    mapping_kind: r.mapping.kind,
    mapping_path: r.mapping.path,
    mapping_ordinal: r.mapping.ordinal,
    region_offset: r.offset,
    region_start: r.start,
    region_length: r.length,
  };
}

// ---------------------------------------------------------------------------
// Events

/**
 * Wall time (ms) of an event at boottime `tsNs` in a batch sent at
 * `recordMs` whose newest event is `lastEventNs` (see schema.ts).
 */
export function eventWallMs(recordMs: number, lastEventNs: number, tsNs: number): number {
  if (lastEventNs === 0) return recordMs;
  return recordMs - Math.round((lastEventNs - tsNs) / 1e6);
}

const FAULT_PROT = 1;
const FAULT_WRITE = 2;
const FAULT_INSTR = 16;

/** Column indexes of the events table, resolved once per block. */
function eventColumns(b: NativeBlock): EventCols {
  const out: Record<string, number> = {};
  for (const col of COLUMNS.events) out[col.name] = b.col(col.name);
  return out;
}

const eventColumnCache = new WeakMap<NativeBlock, EventCols>();

/** The events table's column indexes by name. */
type EventCols = Readonly<Record<string, number>>;

function colsOf(b: NativeBlock): EventCols {
  let k = eventColumnCache.get(b);
  if (!k) {
    k = eventColumns(b);
    eventColumnCache.set(b, k);
  }
  return k;
}

/** A column as a Float64Array (the Native writers' one element kind); the fast decoder's columns already are. */
function asF64(col: ArrayLike<number>): Float64Array {
  return col instanceof Float64Array ? col : Float64Array.from(col);
}

/** Reusable scratch columns for derived values (time, weights), so a batch allocates nothing per row. */
const scratchPool: Float64Array[] = [];
function scratch(slot: number, n: number): Float64Array {
  let a = scratchPool[slot];
  if (!a || a.length < n) {
    a = new Float64Array(Math.max(n, 1024));
    scratchPool[slot] = a;
  }
  return a;
}

/** Wall times of a column of boottime stamps (see eventWallMs). */
function wallTimes(ts: ArrayLike<number>, n: number, recordMs: number, lastNs: number): Float64Array {
  const out = scratch(0, n);
  for (let i = 0; i < n; i++) out[i] = eventWallMs(recordMs, lastNs, ts[i]!);
  return out;
}

/** Header columns as number[] (decodeEventBatch) or typed arrays (the fast path). */
type HeaderLike = { readonly [K in keyof HeaderColumns]: ArrayLike<number> };

function headerColumns(b: NativeBlock, k: EventCols, base: number, n: number, h: HeaderLike, recordMs: number, lastNs: number): void {
  b.u64From(k.time!, base, wallTimes(h.tsNs, n, recordMs, lastNs), n);
  b.u64From(k.ts_ns!, base, asF64(h.tsNs), n);
  b.u32From(k.pid!, base, asF64(h.pid), n);
  b.u64From(k.start_ns!, base, asF64(h.startNs), n);
  b.u32From(k.tid!, base, asF64(h.tid), n);
  b.u16From(k.cpu!, base, asF64(h.cpu), n);
  b.u32From(k.hint!, base, asF64(h.hint), n);
}

/**
 * Reserves the rows of one event block and fills what every row has
 * (identity, type, provenance and, with a header, the header columns).
 * Every row but a fault's stands for one event: weight 1.
 */
function eventRows(b: NativeBlock, k: EventCols, rec: SinkRecord, batch: SinkEventBatch, type: WireEventType, n: number, h: HeaderLike | undefined): number {
  const base = b.addRows(n);
  b.strRun(k.host!, base, n, batch.host);
  b.strRun(k.boot_id!, base, n, batch.bootId);
  b.strRun(k.type!, base, n, type);
  b.u32Fill(k.kafka_partition!, base, n, rec.partition);
  b.u64Fill(k.kafka_offset!, base, n, rec.offset);
  if (h) headerColumns(b, k, base, n, h, rec.timestampMs, batch.lastEventNs);
  if (type !== 'fault' && type !== 'fault_summary') b.u64Fill(k.weight!, base, n, 1);
  return base;
}

/** An EventBatch's rows: events, collector batch/loss/drops, samplers. */
export function appendEventBatch(t: TableBlocks, rec: SinkRecord, batch: SinkEventBatch): void {
  const faultBlock = t.get(TABLE.events);
  const fk = colsOf(faultBlock);
  appendFaultRows(faultBlock, fk, rec, batch);
  const hasOther =
    batch.promotions.rows + batch.collapses.rows + batch.compactions.rows + batch.compactionDefers.rows + batch.kcompactdWakes.rows + batch.swapOuts.rows + batch.swapIns.rows + batch.swapEntries.rows + batch.reclaims.rows >
    0;
  if (hasOther) {
    const other = t.get(TABLE.events, OTHER_EVENTS_PART);
    appendOtherEventRows(other, colsOf(other), rec, batch);
  }
  appendCollectorRows(t, rec, batch);
  appendSamplerRows(t, rec, batch);
}

/** Raw faults and fault summaries: nearly all the rows. */
function appendFaultRows(b: NativeBlock, k: EventCols, rec: SinkRecord, batch: SinkEventBatch): void {

  const f = batch.faults;
  if (f.rows > 0) {
    const n = f.rows;
    const base = eventRows(b, k, rec, batch, 'fault', n, f.h);
    b.u64From(k.address!, base, asF64(f.address), n);
    b.u64From(k.ip!, base, asF64(f.ip), n);
    b.u32From(k.error_code!, base, asF64(f.errorCode), n);
    const w = scratch(1, n);
    const wr = scratch(2, n);
    const ins = scratch(3, n);
    const prot = scratch(4, n);
    const sampleWeight = asF64(f.sampleWeight);
    const errorCode = asF64(f.errorCode);
    for (let i = 0; i < n; i++) {
      const weight = sampleWeight[i]! || 1;
      const e = errorCode[i]!;
      w[i] = weight;
      wr[i] = e & FAULT_WRITE ? weight : 0;
      ins[i] = e & FAULT_INSTR ? weight : 0;
      prot[i] = e & FAULT_PROT ? weight : 0;
    }
    b.u64From(k.weight!, base, w, n);
    b.u64From(k.write_faults!, base, wr, n);
    b.u64From(k.instr_faults!, base, ins, n);
    b.u64From(k.prot_faults!, base, prot, n);
  }

  const s = batch.faultSummaries;
  if (s.rows > 0) {
    const n = s.rows;
    const base = eventRows(b, k, rec, batch, 'fault_summary', n, undefined);
    // A summary's time is its last fault.
    b.u64From(k.time!, base, wallTimes(s.lastNs, n, rec.timestampMs, batch.lastEventNs), n);
    b.u64From(k.ts_ns!, base, asF64(s.lastNs), n);
    b.u32From(k.pid!, base, asF64(s.pid), n);
    b.u64From(k.start_ns!, base, asF64(s.startNs), n);
    b.u32From(k.hint!, base, asF64(s.hint), n);
    b.u64From(k.address!, base, asF64(s.regionStart), n);
    b.u64From(k.region_bytes!, base, asF64(s.regionBytes), n);
    b.u64From(k.weight!, base, asF64(s.faults), n);
    b.u64From(k.write_faults!, base, asF64(s.writeFaults), n);
    b.u64From(k.instr_faults!, base, asF64(s.instrFaults), n);
    b.u64From(k.prot_faults!, base, asF64(s.protFaults), n);
    b.u64From(k.first_ns!, base, asF64(s.firstNs), n);
  }

}

/** Every other event type. */
function appendOtherEventRows(b: NativeBlock, k: EventCols, rec: SinkRecord, batch: SinkEventBatch): void {
  const p = batch.promotions;
  if (p.rows > 0) {
    const n = p.rows;
    const base = eventRows(b, k, rec, batch, 'promotion', n, p.h);
    b.u64From(k.address!, base, asF64(p.address), n);
    b.u64From(k.fault_ns!, base, asF64(p.faultNs), n);
    b.u32From(k.page_order!, base, asF64(p.order), n, true);
    b.u32From(k.gfp!, base, asF64(p.gfp), n);
    b.flagFrom(k.failed!, base, asF64(p.failed), n);
    b.u32From(k.migratetype!, base, asF64(p.migratetype), n, true);
  }

  const co = batch.collapses;
  if (co.rows > 0) {
    const n = co.rows;
    const base = eventRows(b, k, rec, batch, 'collapse', n, co.h);
    b.u32From(k.status!, base, asF64(co.status), n, true);
    b.u32From(k.isolated!, base, asF64(co.isolated), n);
    b.u32From(k.caller_pid!, base, asF64(co.callerPid), n);
    for (let i = 0; i < n; i++) b.str(k.comm!, base + i, co.callerComm[i]!);
  }

  const cm = batch.compactions;
  if (cm.rows > 0) {
    const n = cm.rows;
    const base = eventRows(b, k, rec, batch, 'compaction', n, cm.h);
    b.u64From(k.duration_ns!, base, asF64(cm.durationNs), n);
    b.u64From(k.zone_start_pfn!, base, asF64(cm.zoneStartPfn), n);
    b.u64From(k.zone_end_pfn!, base, asF64(cm.zoneEndPfn), n);
    b.u64From(k.migrate_scanned!, base, asF64(cm.migrateScanned), n);
    b.u64From(k.free_scanned!, base, asF64(cm.freeScanned), n);
    b.u32From(k.status!, base, asF64(cm.status), n, true);
    b.u32From(k.page_order!, base, asF64(cm.order), n, true);
    b.flagFrom(k.sync!, base, asF64(cm.sync), n);
    b.flagFrom(k.direct!, base, asF64(cm.direct), n);
    b.flagFrom(k.proactive!, base, asF64(cm.proactive), n);
    b.flagFrom(k.kthread!, base, asF64(cm.kthread), n);
    for (let i = 0; i < n; i++) b.str(k.comm!, base + i, cm.comm[i]!);
  }

  const d = batch.compactionDefers;
  if (d.rows > 0) {
    const n = d.rows;
    const base = eventRows(b, k, rec, batch, 'compaction_defer', n, d.h);
    b.u32From(k.page_order!, base, asF64(d.order), n, true);
    b.u32From(k.node!, base, asF64(d.node), n);
    b.u32From(k.considered!, base, asF64(d.considered), n);
    b.u32From(k.defer_shift!, base, asF64(d.deferShift), n);
    b.u32From(k.order_failed!, base, asF64(d.orderFailed), n, true);
    b.flagFrom(k.defer!, base, asF64(d.defer), n);
  }

  const kw = batch.kcompactdWakes;
  if (kw.rows > 0) {
    const n = kw.rows;
    const base = eventRows(b, k, rec, batch, 'kcompactd_wake', n, kw.h);
    b.u32From(k.node!, base, asF64(kw.node), n);
    b.u32From(k.page_order!, base, asF64(kw.order), n, true);
    b.u32From(k.zone_type!, base, asF64(kw.zoneType), n);
  }

  const so = batch.swapOuts;
  if (so.rows > 0) {
    const n = so.rows;
    const base = eventRows(b, k, rec, batch, 'swap_out', n, so.h);
    b.u64From(k.address!, base, asF64(so.address), n);
    b.u32From(k.pages!, base, asF64(so.pages), n);
    b.flagFrom(k.anon!, base, asF64(so.anon), n);
    b.u32From(k.reclaimer_pid!, base, asF64(so.reclaimerPid), n);
  }

  const si = batch.swapIns;
  if (si.rows > 0) {
    const n = si.rows;
    const base = eventRows(b, k, rec, batch, 'swap_in', n, si.h);
    b.u64From(k.address!, base, asF64(si.address), n);
    // backing is an enum (0 unknown, 1 anon, 2 file), not a flag.
    for (let i = 0; i < n; i++) b.u8(k.backing!, base + i, si.backing[i]!);
  }

  const se = batch.swapEntries;
  if (se.rows > 0) {
    const n = se.rows;
    const base = eventRows(b, k, rec, batch, 'swap_entries', n, se.h);
    b.u64From(k.swap_entries!, base, asF64(se.count), n);
  }

  const r = batch.reclaims;
  if (r.rows > 0) {
    const n = r.rows;
    const base = eventRows(b, k, rec, batch, 'reclaim', n, r.h);
    b.u64From(k.duration_ns!, base, asF64(r.durationNs), n);
    b.u64From(k.nr_reclaimed!, base, asF64(r.nrReclaimed), n);
    b.u32From(k.page_order!, base, asF64(r.order), n, true);
    b.u32From(k.gfp!, base, asF64(r.gfp), n);
  }
}

/** Events per family in a batch (fault summaries count as faults). */
export function familyCounts(batch: SinkEventBatch): Record<FamilyName, number> {
  const out: Record<FamilyName, number> = { fault: 0, promotion: 0, collapse: 0, compaction: 0, swap: 0 };
  const add = (type: WireEventType, n: number): void => {
    const fam = FAMILY_OF[type];
    if (fam !== 'bench') out[fam] += n;
  };
  add('fault', batch.faults.rows);
  add('fault_summary', batch.faultSummaries.rows);
  add('promotion', batch.promotions.rows);
  add('collapse', batch.collapses.rows);
  add('compaction', batch.compactions.rows);
  add('compaction_defer', batch.compactionDefers.rows);
  add('kcompactd_wake', batch.kcompactdWakes.rows);
  add('swap_out', batch.swapOuts.rows);
  add('swap_in', batch.swapIns.rows);
  add('swap_entries', batch.swapEntries.rows);
  add('reclaim', batch.reclaims.rows);
  return out;
}

function appendCollectorRows(t: TableBlocks, rec: SinkRecord, batch: SinkEventBatch): void {
  const fam = familyCounts(batch);
  const ident = { time: rec.timestampMs, host: batch.host, boot_id: batch.bootId, collector_id: batch.collectorId, sequence: batch.sequence, ...provenance(rec) };
  appendRow(t.get(TABLE.collectorBatches), {
    ...ident,
    first_event_ns: batch.firstEventNs,
    last_event_ns: batch.lastEventNs,
    events: fam.fault + fam.promotion + fam.collapse + fam.compaction + fam.swap,
    fault_events: fam.fault,
    promotion_events: fam.promotion,
    collapse_events: fam.collapse,
    compaction_events: fam.compaction,
    swap_events: fam.swap,
    vmstat_samples: batch.vmstat.rows,
    psi_samples: batch.psi.rows,
    damon_regions: batch.damon.rows,
    record_bytes: rec.value?.length ?? 0,
  });
  for (const l of batch.loss) {
    l.perCpu.forEach((lost, cpu) => {
      if (lost > 0) appendRow(t.get(TABLE.collectorLoss), { ...ident, family: l.family, cpu, lost });
    });
  }
  for (const d of batch.dropped) {
    if (d.events > 0) appendRow(t.get(TABLE.collectorDrops), { ...ident, family: d.family, dropped: d.events });
  }
}

function appendSamplerRows(t: TableBlocks, rec: SinkRecord, batch: SinkEventBatch): void {
  const wall = (ts: number): number => eventWallMs(rec.timestampMs, batch.lastEventNs, ts);
  const v = batch.vmstat;
  if (v.rows > 0) {
    const b = t.get(TABLE.vmstat);
    let pair = 0;
    for (let i = 0; i < v.rows; i++) {
      const n = v.entries[i]!;
      if (n === 0) continue;
      const base = b.addRows(n);
      b.strRun(b.col('host'), base, n, batch.host);
      b.strRun(b.col('boot_id'), base, n, batch.bootId);
      for (let j = 0; j < n; j++, pair++) {
        const row = base + j;
        b.u64(b.col('time'), row, wall(v.tsNs[i]!));
        b.u64(b.col('ts_ns'), row, v.tsNs[i]!);
        b.u64(b.col('interval_ns'), row, v.intervalNs[i]!);
        b.str(b.col('name'), row, v.names[v.nameIndex[pair]!] ?? '');
        b.u64(b.col('delta'), row, v.delta[pair]!);
        b.u32(b.col('kafka_partition'), row, rec.partition);
        b.u64(b.col('kafka_offset'), row, rec.offset);
      }
    }
  }
  const p = batch.psi;
  for (let i = 0; i < p.rows; i++) {
    appendRow(t.get(TABLE.psi), {
      time: wall(p.tsNs[i]!),
      ts_ns: p.tsNs[i]!,
      host: batch.host,
      boot_id: batch.bootId,
      cgroup: p.cgroup[i]!,
      some_avg10: p.someAvg10[i]!,
      some_avg60: p.someAvg60[i]!,
      some_avg300: p.someAvg300[i]!,
      some_total_us: p.someTotalUs[i]!,
      full_avg10: p.fullAvg10[i]!,
      full_avg60: p.fullAvg60[i]!,
      full_avg300: p.fullAvg300[i]!,
      full_total_us: p.fullTotalUs[i]!,
      ...provenance(rec),
    });
  }
  const d = batch.damon;
  for (let i = 0; i < d.rows; i++) {
    appendRow(t.get(TABLE.damonRegions), {
      time: wall(d.tsNs[i]!),
      ts_ns: d.tsNs[i]!,
      host: batch.host,
      boot_id: batch.bootId,
      pid: d.pid[i]!,
      start_ns: d.startNs[i]!,
      region_start: d.regionStart[i]!,
      region_end: d.regionEnd[i]!,
      nr_accesses: d.nrAccesses[i]!,
      age: d.age[i]!,
      ...provenance(rec),
    });
  }
}

// ---------------------------------------------------------------------------
// Topics

/** Decodes a record (throwing WireDecodeError for a bad one) and returns what appends its rows. */
export type RecordDecoder = (rec: SinkRecord) => Appender;

/** Appends a decoded record's rows; eventRows says how many events rows it brings (to size the block once). */
export type Appender = ((t: TableBlocks) => void) & { readonly eventRows?: number };

function valueOf(rec: SinkRecord): Buffer {
  // A null value outside the compacted hints topic is not a message.
  return rec.value ?? Buffer.alloc(0);
}

function keyText(rec: SinkRecord): string {
  return rec.key ? rec.key.toString('utf8') : '';
}

/** What each topic's records become. Topics absent here are not consumed. */
export const DECODERS: Readonly<Record<string, { readonly tables: readonly InsertTable[]; readonly decode: RecordDecoder }>> = {
  'pageloop.events.v1': {
    tables: ['events', 'collector_batches', 'collector_loss', 'collector_drops', 'vmstat', 'psi', 'damon_regions'],
    decode: (rec) => {
      const batch = decodeEventBatchFast(valueOf(rec));
      return Object.assign((t: TableBlocks) => appendEventBatch(t, rec, batch), { eventRows: batch.faults.rows + batch.faultSummaries.rows });
    },
  },
  'pageloop.scores.v1': {
    tables: ['scores'],
    decode: (rec) => {
      const s = decodeRegionScore(valueOf(rec));
      return (t) =>
        appendRow(t.get(TABLE.scores), {
          time: rec.timestampMs,
          host: s.process.host,
          boot_id: s.process.bootId,
          pid: s.process.pid,
          start_ns: s.process.startNs,
          executable: s.executable,
          comm: s.comm,
          ...regionValues(s.region),
          window_start_ns: s.windowStartNs,
          window_end_ns: s.windowEndNs,
          preferred_size_kb: s.preferredSizeKb,
          size_kb: s.sizes.map((x) => x.sizeKb),
          benefit: s.sizes.map((x) => x.benefit),
          cost: s.sizes.map((x) => x.cost),
          net: s.sizes.map((x) => x.net),
          faults: s.access.faults,
          write_faults: s.access.writeFaults,
          instr_faults: s.access.instrFaults,
          prot_faults: s.access.protFaults,
          major_faults: s.access.majorFaults,
          promotions: s.access.promotions,
          promotion_failures: s.access.promotionFailures,
          collapses: s.access.collapses,
          swap_outs: s.access.swapOuts,
          damon_accesses: s.access.damonAccesses,
          touched_bytes: s.access.touchedBytes,
          ...provenance(rec),
        });
    },
  },
  'pageloop.phases.v1': {
    tables: ['phase_changes'],
    decode: (rec) => {
      const p = decodePhaseChange(valueOf(rec));
      const summary = (prefix: string, s: typeof p.before): Record<string, Value> => ({
        [`${prefix}_hot_set_hash`]: s.hotSetHash,
        [`${prefix}_hot_regions`]: s.hotRegions,
        [`${prefix}_hot_bytes`]: s.hotBytes,
        [`${prefix}_fault_rate`]: s.faultRate,
        [`${prefix}_major_fault_rate`]: s.majorFaultRate,
        [`${prefix}_promotion_rate`]: s.promotionRate,
        [`${prefix}_swap_out_rate`]: s.swapOutRate,
      });
      return (t) =>
        appendRow(t.get(TABLE.phaseChanges), {
          time: rec.timestampMs,
          host: p.process.host,
          boot_id: p.process.bootId,
          pid: p.process.pid,
          start_ns: p.process.startNs,
          at_ns: p.atNs,
          phase: p.phase,
          distance: p.distance,
          reason: p.reason,
          ...summary('before', p.before),
          ...summary('after', p.after),
          ...provenance(rec),
        });
    },
  },
  'pageloop.hints.v1': {
    tables: ['hints'],
    decode: (rec) => {
      if (rec.value === null) {
        // A tombstone: the host's plan was withdrawn (the topic is keyed by host).
        return (t) => appendRow(t.get(TABLE.hints), { time: rec.timestampMs, host: keyText(rec), withdrawn: 1, ...provenance(rec) });
      }
      const h = decodeHint(rec.value);
      return (t) =>
        appendRow(t.get(TABLE.hints), {
          time: rec.timestampMs,
          host: h.process.host,
          boot_id: h.process.bootId,
          pid: h.process.pid,
          start_ns: h.process.startNs,
          hint_id: h.hintId,
          action: h.action,
          page_size_kb: h.pageSizeKb,
          score: h.score,
          reason: h.reason,
          issued_ns: h.issuedNs,
          expires_ns: h.expiresNs,
          cgroup: h.cgroup,
          bytes: h.bytes,
          ...regionValues(h.region),
          ...provenance(rec),
        });
    },
  },
  'pageloop.actions.v1': {
    tables: ['hint_actions'],
    decode: (rec) => {
      const a = decodeHintAction(valueOf(rec));
      return (t) =>
        appendRow(t.get(TABLE.hintActions), {
          time: rec.timestampMs,
          host: a.process.host,
          boot_id: a.process.bootId,
          pid: a.process.pid,
          start_ns: a.process.startNs,
          hint_id: a.hintId,
          action: a.action,
          page_size_kb: a.pageSizeKb,
          outcome: a.outcome,
          reason: a.reason,
          errno: a.errno,
          bytes_affected: a.bytesAffected,
          duration_ns: a.durationNs,
          at_ns: a.atNs,
          cgroup: a.cgroup,
          ...regionValues(a.region),
          ...provenance(rec),
        });
    },
  },
  [TUNER_TOPIC]: {
    tables: ['tuner_changes'],
    decode: (rec) => {
      const c = decodeTunerChange(valueOf(rec));
      return (t) =>
        appendRow(t.get(TABLE.tunerChanges), {
          time: rec.timestampMs,
          host: c.scope,
          threshold: c.threshold,
          old_value: c.oldValue,
          new_value: c.newValue,
          objective: c.objective,
          measured: c.measured,
          target: c.target,
          at_ns: c.atNs,
          scope: c.scope,
          reason: c.reason,
          ...provenance(rec),
        });
    },
  },
  'pageloop.dlq.v1': {
    tables: ['dead_letters'],
    decode: (rec) => {
      const d = decodeDeadLetter(valueOf(rec));
      return (t) =>
        appendRow(t.get(TABLE.deadLetters), {
          time: rec.timestampMs,
          host: Buffer.from(d.key).toString('utf8'),
          topic: d.topic,
          partition: d.partition,
          offset: d.offset,
          consumer: d.consumer,
          reason: d.reason,
          key: d.key,
          raw: d.raw,
          source_time: d.timestampMs,
          ...provenance(rec),
        });
    },
  },
};

/** The topics the sink reads, in a fixed order. */
export const SINK_TOPICS: readonly string[] = Object.keys(DECODERS);
