/**
 * pageloop.events.v1: an EventBatch's rows. Its events go to the events
 * table (faults and fault summaries, nearly all the rows, in one block;
 * every other type in a second block, see OTHER_EVENTS_PART), written a
 * column at a time from the fast decoder's columns; the batch's own
 * bookkeeping to collector_batches, collector_loss and collector_drops; its
 * samplers to vmstat, psi and damon_regions; its overhead intervals to
 * overhead and program_costs.
 */
import { FAMILY_OF, type FamilyName } from '../bpf/events.js';
import type { NativeBlock } from '../clickhouse/native-block.js';
import { TABLE } from '../schemas/clickhouse-tables.js';
import type { HeaderColumns, WireEventType } from '../schemas/event-batch.js';
import { COLUMNS } from './columns.js';
import { decodeEventBatchFast, type SinkEventBatch } from './fast-decode.js';
import { OTHER_EVENTS_PART, TableBlocks, appendRow, provenance, recordValue, type SinkRecord, type TopicRoute } from './table-blocks.js';

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
  if (type !== 'fault' && type !== 'fault_summary') {
    b.u64Fill(k.weight!, base, n, 1);
    b.u32Fill(k.sample_period!, base, n, 1);
  }
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
  appendOverheadRows(t, rec, batch);
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
    // A raw fault reported 1 in N stands for N faults: its sample period is its weight.
    b.u32From(k.sample_period!, base, w, n);
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
    // 0 came from a collector before the column: exact, like 1.
    const period = scratch(1, n);
    const periods = asF64(s.samplePeriod);
    for (let i = 0; i < n; i++) period[i] = periods[i]! || 1;
    b.u32From(k.sample_period!, base, period, n);
    // A collector from before the column sends none: alive, 0.
    const exited = s.exited;
    const gone = scratch(2, n);
    for (let i = 0; i < n; i++) gone[i] = exited[i] ? 1 : 0;
    b.flagFrom(k.exited!, base, gone, n);
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

/**
 * The overhead meter's rows: one overhead row per interval, one
 * program_costs row per program, which repeats its interval's length and
 * CPUs (matched by ts_ns; 0 if the batch lacks the interval's row, which
 * the collector never sends) so a panel needs no join.
 */
function appendOverheadRows(t: TableBlocks, rec: SinkRecord, batch: SinkEventBatch): void {
  const wall = (ts: number): number => eventWallMs(rec.timestampMs, batch.lastEventNs, ts);
  const o = batch.overhead;
  const interval = new Map<number, { intervalNs: number; cpus: number }>();
  const ident = { host: batch.host, boot_id: batch.bootId, collector_id: batch.collectorId };
  for (let i = 0; i < o.rows; i++) {
    interval.set(o.tsNs[i]!, { intervalNs: o.intervalNs[i]!, cpus: o.cpus[i]! });
    appendRow(t.get(TABLE.overhead), {
      time: wall(o.tsNs[i]!),
      ts_ns: o.tsNs[i]!,
      ...ident,
      interval_ns: o.intervalNs[i]!,
      cpus: o.cpus[i]!,
      stats_enabled: o.statsEnabled[i]!,
      agent_cpu_ns: o.agentCpuNs[i]!,
      host_faults: o.hostFaults[i]!,
      host_busy_ns: o.hostBusyNs[i]!,
      ...provenance(rec),
    });
  }
  const p = batch.programCosts;
  for (let i = 0; i < p.rows; i++) {
    const of = interval.get(p.tsNs[i]!);
    appendRow(t.get(TABLE.programCosts), {
      time: wall(p.tsNs[i]!),
      ts_ns: p.tsNs[i]!,
      ...ident,
      program: p.program[i]!,
      fault_path: p.faultPath[i]!,
      run_count: p.runCount[i]!,
      run_time_ns: p.runTimeNs[i]!,
      interval_ns: of?.intervalNs ?? 0,
      cpus: of?.cpus ?? 0,
      ...provenance(rec),
    });
  }
}

export const EVENTS_ROUTE: TopicRoute = {
  tables: ['events', 'collector_batches', 'collector_loss', 'collector_drops', 'vmstat', 'psi', 'damon_regions', 'overhead', 'program_costs'],
  decode: (rec) => {
    const batch = decodeEventBatchFast(recordValue(rec));
    return Object.assign((t: TableBlocks) => appendEventBatch(t, rec, batch), { eventRows: batch.faults.rows + batch.faultSummaries.rows });
  },
};
