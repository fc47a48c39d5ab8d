/** Host detail: faults, promotions and fallbacks, compaction, swap and refaults, pressure. */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { HOST_VARIABLE, phaseAnnotation, PROCESS_VARIABLE, TUNER_ANNOTATION } from './common.js';
import { pageSizeFromOrder, sql, table, where, type DashboardSpec, type PanelSpec } from './spec.js';

/** region_minute is per minute: a rate over a finer bucket would count a minute's worth in it. */
const MINUTE_RATE_DIVISOR = 'greatest($__interval_s, 60)';

function vmstatPanel(title: string, description: string, names: readonly string[]): PanelSpec {
  return {
    title,
    kind: 'timeseries',
    description,
    format: 'timeseries',
    unit: 'ops',
    width: 12,
    height: 8,
    sql: sql([
      `SELECT $__timeInterval(v.time) AS time, v.name AS counter, sum(v.delta) / $__interval_s AS per_second`,
      `FROM ${table(TABLE.vmstat)} AS v`,
      `WHERE ${where('v')}`,
      `  AND v.name IN (${names.map((n) => `'${n}'`).join(', ')})`,
      `GROUP BY time, counter`,
      `ORDER BY time, counter`,
    ]),
    columns: ['time', 'counter', 'per_second'],
  };
}

function promotionPanel(title: string, description: string, failed: boolean): PanelSpec {
  const value = failed ? 'fallbacks_per_second' : 'promotions_per_second';
  return {
    title,
    kind: 'timeseries',
    description,
    format: 'timeseries',
    unit: 'ops',
    width: 12,
    height: 8,
    sql: sql([
      `SELECT $__timeInterval(e.time) AS time, ${pageSizeFromOrder('e.page_order')} AS page_size, count() / $__interval_s AS ${value}`,
      `FROM ${table(TABLE.events)} AS e`,
      `WHERE ${where('e', { process: true })}`,
      `  AND e.type = 'promotion' AND e.failed ${failed ? '!=' : '='} 0`,
      `GROUP BY time, page_size`,
      `ORDER BY time, page_size`,
    ]),
    columns: ['time', 'page_size', value],
  };
}

const COMPACTION_KIND = `multiIf(c.proactive != 0, 'proactive', c.direct != 0, 'direct', c.kthread != 0, 'kcompactd', 'other')`;

export const HOST_DASHBOARD: DashboardSpec = {
  uid: 'pageloop-host',
  title: 'pageloop / Host detail',
  description: 'One host (or a few), optionally narrowed to processes: what the kernel did to their memory.',
  tags: ['pageloop', 'host'],
  variables: [HOST_VARIABLE, PROCESS_VARIABLE],
  annotations: [phaseAnnotation({ process: true }), TUNER_ANNOTATION],
  panels: [
    {
      title: 'Faults per second',
      kind: 'timeseries',
      description: 'Page faults (sampled faults by their weight, fault summaries by their count) and the write faults among them.',
      format: 'timeseries',
      unit: 'ops',
      width: 24,
      height: 8,
      sql: sql([
        `SELECT $__timeInterval(r.minute) AS time, r.host AS host,`,
        `  sum(r.faults) / ${MINUTE_RATE_DIVISOR} AS faults_per_second,`,
        `  sum(r.write_faults) / ${MINUTE_RATE_DIVISOR} AS write_faults_per_second`,
        `FROM ${table(TABLE.regionMinute)} AS r`,
        `WHERE ${where('r', { time: 'minute', process: true })}`,
        `GROUP BY time, host`,
        `ORDER BY time, host`,
      ]),
      columns: ['time', 'host', 'faults_per_second', 'write_faults_per_second'],
    },
    promotionPanel('Promotions by page size', 'Huge-page and mTHP allocations made in a fault, by page size.', false),
    promotionPanel(
      'Promotion fallbacks by page size',
      'Huge-page and mTHP allocations that failed in a fault (the kernel fell back to smaller pages), by the size it wanted.',
      true,
    ),
    {
      title: 'Compaction latency',
      kind: 'timeseries',
      description: 'compact_zone() run time: median, 99th percentile and worst per interval.',
      format: 'timeseries',
      unit: 'ms',
      width: 12,
      height: 8,
      sql: sql([
        `SELECT $__timeInterval(c.time) AS time,`,
        `  quantile(0.5)(c.duration_ns) / 1e6 AS p50_ms,`,
        `  quantile(0.99)(c.duration_ns) / 1e6 AS p99_ms,`,
        `  max(c.duration_ns) / 1e6 AS max_ms`,
        `FROM ${table(TABLE.compactionRuns)} AS c`,
        `WHERE ${where('c')}`,
        `GROUP BY time`,
        `ORDER BY time`,
      ]),
      columns: ['time', 'p50_ms', 'p99_ms', 'max_ms'],
    },
    {
      title: 'Compaction runs by kind',
      kind: 'timeseries',
      description: 'Direct compaction (a task stalled in an allocation), kcompactd and proactive compaction.',
      format: 'timeseries',
      unit: 'short',
      width: 12,
      height: 8,
      sql: sql([
        `SELECT $__timeInterval(c.time) AS time, ${COMPACTION_KIND} AS kind, count() AS runs`,
        `FROM ${table(TABLE.compactionRuns)} AS c`,
        `WHERE ${where('c')}`,
        `GROUP BY time, kind`,
        `ORDER BY time, kind`,
      ]),
      columns: ['time', 'kind', 'runs'],
    },
    {
      title: 'Slowest compactions',
      kind: 'table',
      description: 'The longest compaction runs in the time range, and who paid for them.',
      format: 'table',
      width: 24,
      height: 8,
      sql: sql([
        `SELECT c.time AS time, c.host AS host, c.comm AS comm, c.pid AS pid, ${COMPACTION_KIND} AS kind,`,
        `  c.page_order AS page_order, c.status AS status, c.duration_ns / 1e6 AS duration_ms,`,
        `  c.migrate_scanned AS migrate_scanned, c.free_scanned AS free_scanned`,
        `FROM ${table(TABLE.compactionRuns)} AS c`,
        `WHERE ${where('c')}`,
        `ORDER BY c.duration_ns DESC, time`,
        `LIMIT 50`,
      ]),
      columns: ['time', 'host', 'comm', 'pid', 'kind', 'page_order', 'status', 'duration_ms', 'migrate_scanned', 'free_scanned'],
    },
    {
      title: 'Swap-out and swap-in',
      kind: 'timeseries',
      description: 'Pages written to swap, swap-ins (refaults of anonymous memory that was paged out) and all major faults.',
      format: 'timeseries',
      unit: 'ops',
      width: 12,
      height: 8,
      sql: sql([
        `SELECT $__timeInterval(r.minute) AS time,`,
        `  sum(r.swap_out_pages) / ${MINUTE_RATE_DIVISOR} AS swap_out_pages_per_second,`,
        `  sum(r.swap_ins) / ${MINUTE_RATE_DIVISOR} AS swap_ins_per_second,`,
        `  sum(r.major_faults) / ${MINUTE_RATE_DIVISOR} AS major_faults_per_second`,
        `FROM ${table(TABLE.regionMinute)} AS r`,
        `WHERE ${where('r', { time: 'minute', process: true })}`,
        `GROUP BY time`,
        `ORDER BY time`,
      ]),
      columns: ['time', 'swap_out_pages_per_second', 'swap_ins_per_second', 'major_faults_per_second'],
    },
    vmstatPanel('Refaults and swap traffic (vmstat)', 'The kernel\'s own counters: workingset refaults (pages evicted, then needed again) and swap pages in and out.', [
      'workingset_refault_anon',
      'workingset_refault_file',
      'pswpin',
      'pswpout',
    ]),
    vmstatPanel('THP and compaction counters (vmstat)', 'Huge pages allocated or refused at fault and by khugepaged, compaction stalls and outcomes.', [
      'thp_fault_alloc',
      'thp_fault_fallback',
      'thp_collapse_alloc',
      'thp_collapse_alloc_failed',
      'compact_stall',
      'compact_fail',
      'compact_success',
    ]),
    {
      title: 'Memory pressure (PSI)',
      kind: 'timeseries',
      description: 'Share of time some or all tasks stalled on memory (10 s averages), whole host.',
      format: 'timeseries',
      unit: 'percent',
      width: 12,
      height: 8,
      sql: sql([
        `SELECT $__timeInterval(p.time) AS time, p.host AS host, avg(p.some_avg10) AS some_avg10, avg(p.full_avg10) AS full_avg10`,
        `FROM ${table(TABLE.psi)} AS p`,
        `WHERE ${where('p')}`,
        `  AND p.cgroup = ''`,
        `GROUP BY time, host`,
        `ORDER BY time, host`,
      ]),
      columns: ['time', 'host', 'some_avg10', 'full_avg10'],
    },
  ],
};
