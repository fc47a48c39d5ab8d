/**
 * Overhead accounting panels (tables overhead and program_costs, from the
 * collectors' overhead meter): what the probes and the agent cost each
 * host, by the model of collectors/overhead.ts. Every figure is a ratio of
 * sums of the per-interval deltas, so it is right over any bucket and any
 * set of hosts; intervals without BPF stats (stats_enabled 0) are left out of
 * the program figures, never counted as free.
 */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { sql, table, where, type PanelSpec } from './spec.js';

/** Each interval's fault-path run time, one row per (collector, interval): program_costs has a row per program. */
const FAULT_PATH_PER_INTERVAL = [
  `  SELECT c.host AS host, c.collector_id AS collector_id, c.ts_ns AS ts_ns, sumIf(c.run_time_ns, c.fault_path = 1) AS fault_path_ns, sum(c.run_time_ns) AS bpf_ns`,
  `  FROM ${table(TABLE.programCosts)} AS c`,
  `  WHERE ${where('c')}`,
  `  GROUP BY host, collector_id, ts_ns`,
];

const FROM_OVERHEAD = [
  `FROM ${table(TABLE.overhead)} AS o`,
  `LEFT JOIN (`,
  ...FAULT_PATH_PER_INTERVAL,
  `) AS p ON p.host = o.host AND p.collector_id = o.collector_id AND p.ts_ns = o.ts_ns`,
  `WHERE ${where('o')}`,
];

/** Capacity (interval × CPUs) of the intervals with stats on: the denominator of the program shares. */
const MEASURED_CAPACITY = `nullIf(sumIf(o.interval_ns * o.cpus, o.stats_enabled = 1), 0)`;
const FAULT_PATH_NS = `sumIf(p.fault_path_ns, o.stats_enabled = 1)`;

export const OVERHEAD_PANELS: readonly PanelSpec[] = [
  {
    title: 'Probe and agent overhead by host',
    kind: 'timeseries',
    description:
      "Agent CPU: the collector's own CPU time as a share of the host's (interval × CPUs). Fault-path CPU: the run time of the BPF programs on the page-fault path " +
      'as a share of the host CPU (ns per fault × faults/s ÷ CPUs). Estimated slowdown: that run time over the busy CPU time without it, what the work that ran paid. ' +
      'Program run time excludes the hook dispatch: both are lower bounds. Gaps: BPF stats were off.',
    format: 'timeseries',
    unit: 'percent',
    width: 12,
    height: 8,
    sql: sql([
      `SELECT $__timeInterval(o.time) AS time, o.host AS host,`,
      `  100 * sum(o.agent_cpu_ns) / nullIf(sum(o.interval_ns * o.cpus), 0) AS agent_cpu_percent,`,
      `  100 * ${FAULT_PATH_NS} / ${MEASURED_CAPACITY} AS fault_path_cpu_percent,`,
      `  100 * ${FAULT_PATH_NS} / nullIf(sumIf(o.host_busy_ns, o.stats_enabled = 1) - ${FAULT_PATH_NS}, 0) AS est_slowdown_percent`,
      ...FROM_OVERHEAD,
      `GROUP BY time, host`,
      `ORDER BY time, host`,
    ]),
    columns: ['time', 'host', 'agent_cpu_percent', 'fault_path_cpu_percent', 'est_slowdown_percent'],
  },
  {
    title: 'BPF program cost (ns per run)',
    kind: 'timeseries',
    description: 'Run time per run of each BPF program of the probes (bpf_prog_info run_time_ns / run_cnt), over the selected hosts.',
    format: 'timeseries',
    unit: 'ns',
    width: 12,
    height: 8,
    sql: sql([
      `SELECT $__timeInterval(c.time) AS time, c.program AS program, sum(c.run_time_ns) / nullIf(sum(c.run_count), 0) AS ns_per_run`,
      `FROM ${table(TABLE.programCosts)} AS c`,
      `WHERE ${where('c')}`,
      `GROUP BY time, program`,
      `ORDER BY time, program`,
    ]),
    columns: ['time', 'program', 'ns_per_run'],
  },
  {
    title: 'Probe cost per host',
    kind: 'table',
    description:
      'Over the time range, per host: the fault-path programs per page fault of the host, the faults per second, the shares of the model, and how much of the time BPF stats were on (the rest is not measured).',
    format: 'table',
    width: 24,
    height: 8,
    sql: sql([
      `SELECT o.host AS host,`,
      `  ${FAULT_PATH_NS} / nullIf(sumIf(o.host_faults, o.stats_enabled = 1), 0) AS ns_per_fault,`,
      `  sum(o.host_faults) * 1e9 / nullIf(sum(o.interval_ns), 0) AS faults_per_second,`,
      `  100 * ${FAULT_PATH_NS} / ${MEASURED_CAPACITY} AS fault_path_cpu_percent,`,
      `  100 * sumIf(p.bpf_ns, o.stats_enabled = 1) / ${MEASURED_CAPACITY} AS bpf_cpu_percent,`,
      `  100 * ${FAULT_PATH_NS} / nullIf(sumIf(o.host_busy_ns, o.stats_enabled = 1) - ${FAULT_PATH_NS}, 0) AS est_slowdown_percent,`,
      `  100 * sum(o.agent_cpu_ns) / nullIf(sum(o.interval_ns * o.cpus), 0) AS agent_cpu_percent,`,
      `  100 * sumIf(o.interval_ns, o.stats_enabled = 1) / nullIf(sum(o.interval_ns), 0) AS stats_on_percent`,
      ...FROM_OVERHEAD,
      `GROUP BY host`,
      `ORDER BY host`,
    ]),
    columns: ['host', 'ns_per_fault', 'faults_per_second', 'fault_path_cpu_percent', 'bpf_cpu_percent', 'est_slowdown_percent', 'agent_cpu_percent', 'stats_on_percent'],
  },
];
