/**
 * The columns the sink inserts, per table: the insert side of
 * schemas/clickhouse-tables.ts, same names and types (the tables' rollups
 * and views, and the ledger, are not inserted through these lists).
 * Rows go into NativeBlock columns of these specs (table-blocks.ts).
 */
import type { NativeColumnSpec, NativeColumnType } from '../clickhouse/native-block.js';
import type { TableName } from '../schemas/clickhouse-tables.js';

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
    ...u64('address', 'region_bytes', 'weight'),
    c('sample_period', 'UInt32'),
    c('exited', 'UInt8'),
    ...u64('write_faults', 'instr_faults', 'prot_faults', 'ip'),
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
  overhead: [
    TIME,
    c('ts_ns', 'UInt64'),
    ...lc('host', 'boot_id'),
    c('collector_id', 'String'),
    c('interval_ns', 'UInt64'),
    c('cpus', 'UInt32'),
    c('stats_enabled', 'UInt8'),
    ...u64('agent_cpu_ns', 'host_faults', 'host_busy_ns'),
    ...PROVENANCE,
  ],
  program_costs: [
    TIME,
    c('ts_ns', 'UInt64'),
    ...lc('host', 'boot_id'),
    c('collector_id', 'String'),
    ...lc('program'),
    c('fault_path', 'UInt8'),
    ...u64('run_count', 'run_time_ns', 'interval_ns'),
    c('cpus', 'UInt32'),
    ...PROVENANCE,
  ],
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
