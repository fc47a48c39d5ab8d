/** Template variables and annotations that several dashboards share. */
import { TABLE } from '../schemas/clickhouse-tables.js';
import { processKey, sql, table, where, type AnnotationSpec, type VariableSpec } from './spec.js';

/** Hosts that sent collector batches in the time range. */
export const HOST_VARIABLE: VariableSpec = {
  name: 'host',
  label: 'Host',
  description: 'Hosts whose collector reported in the time range',
  sql: sql([
    `SELECT DISTINCT b.host AS host`,
    `FROM ${table(TABLE.collectorBatches)} AS b`,
    `WHERE $__timeFilter(b.time)`,
    `ORDER BY host`,
  ]),
  columns: ['host'],
  multi: true,
  includeAll: true,
};

/**
 * Processes of the selected hosts that faulted, promoted or swapped in the
 * time range. The value is the full identity (host|boot_id|pid|start_ns), so
 * a reused pid is another option; the text is what a person reads.
 */
export const PROCESS_VARIABLE: VariableSpec = {
  name: 'process',
  label: 'Process',
  description: 'Processes (host, boot, pid, start time) with memory activity in the time range',
  sql: sql([
    `SELECT ${processKey('r')} AS value,`,
    `  concat(r.host, ' pid ', toString(r.pid), ' (started ', toString(r.start_ns), ')') AS text`,
    `FROM ${table(TABLE.regionMinute)} AS r`,
    `WHERE ${where('r', { time: 'minute' })}`,
    `GROUP BY r.host, r.boot_id, r.pid, r.start_ns`,
    `ORDER BY r.host, r.pid, r.start_ns`,
  ]),
  columns: ['value', 'text'],
  multi: true,
  includeAll: true,
};

/** Phase changes as annotations; narrowed to the `process` variable where the dashboard has one. */
export function phaseAnnotation(opts: { process: boolean }): AnnotationSpec {
  return {
    name: 'Phase changes',
    iconColor: 'purple',
    sql: sql([
      `SELECT p.time AS time,`,
      `  concat(p.host, ' pid ', toString(p.pid), ': phase ', toString(p.phase), ' (distance ', toString(round(p.distance, 3)), ') ', p.reason) AS text,`,
      `  concat('phase,', p.host) AS tags`,
      `FROM ${table(TABLE.phaseChanges)} AS p`,
      `WHERE ${where('p', { process: opts.process })}`,
      `ORDER BY time`,
    ]),
    columns: ['time', 'text', 'tags'],
  };
}

/** Tuner moves; fleet-wide ones (host '') show on every host selection. */
export const TUNER_ANNOTATION: AnnotationSpec = {
  name: 'Tuner changes',
  iconColor: 'orange',
  sql: sql([
    `SELECT t.time AS time,`,
    `  concat(t.threshold, ': ', toString(t.old_value), ' -> ', toString(t.new_value), ' (', t.objective, ' ', toString(t.measured), ' vs target ', toString(t.target), ') ', t.reason) AS text,`,
    `  concat('tuner,', if(t.host = '', 'fleet', t.host)) AS tags`,
    `FROM ${table(TABLE.tunerChanges)} AS t`,
    `WHERE $__timeFilter(t.time)`,
    `  AND $__conditionalAll(t.host IN ('', \${host:singlequote}), $host)`,
    `ORDER BY time`,
  ]),
  columns: ['time', 'text', 'tags'],
};
