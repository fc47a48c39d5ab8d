/**
 * What a pageloop dashboard is, before the SDK turns it into Grafana JSON:
 * panels, annotations and template variables, each with the SQL it runs and
 * the columns that SQL must return. The tests run every one of them on the
 * ClickHouse engine (dashboards.test.ts), so this is also the registry of
 * "panel title -> sql, expected columns".
 */
import { DATABASE, type TableName } from '../schemas/clickhouse-tables.js';
import type { QueryFormat } from './clickhouse.js';

export type PanelKind = 'timeseries' | 'heatmap' | 'table' | 'stat' | 'barchart';

export interface PanelSpec {
  readonly title: string;
  readonly kind: PanelKind;
  readonly description: string;
  /** Raw SQL with the plugin's macros and Grafana variables, as stored in the dashboard. */
  readonly sql: string;
  readonly format: QueryFormat;
  /** The result's columns, in order. */
  readonly columns: readonly string[];
  /** Grafana unit id of the values (https://grafana.com/docs/grafana/latest/panels-visualizations/configure-standard-options/#unit). */
  readonly unit?: string;
  /** Grid width (of 24) and height. */
  readonly width?: number;
  readonly height?: number;
}

export interface AnnotationSpec {
  readonly name: string;
  readonly sql: string;
  /** time, text, tags: what Grafana maps to an annotation event. */
  readonly columns: readonly string[];
  readonly iconColor: string;
}

export interface VariableSpec {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  /** One column (value = text), or two: value first, display text second (the plugin's convention). */
  readonly sql: string;
  readonly columns: readonly string[];
  readonly multi: boolean;
  readonly includeAll: boolean;
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly variables: readonly VariableSpec[];
  readonly annotations: readonly AnnotationSpec[];
  readonly panels: readonly PanelSpec[];
}

// ---------------------------------------------------------------------------
// SQL building blocks shared by the dashboards

/** A table of the sink's database, qualified (the data source's default database may differ). */
export function table(name: TableName): string {
  return `${DATABASE}.${name}`;
}

/**
 * The host filter: every selected host, or no filter at all when "All" is
 * selected ($__conditionalAll turns it into 1=1), so "All" costs nothing.
 * `col` is qualified by the caller: an unqualified name that a SELECT alias
 * shadows would filter on the alias (e.g. the bucketed `time`).
 */
export function hostFilter(col = 'host'): string {
  return `$__conditionalAll(${col} IN (\${host:singlequote}), $host)`;
}

/** A process is (host, boot id, pid, start time), never a bare pid: this is its key as the `process` variable carries it. */
export function processKey(alias: string): string {
  return `concat(${alias}.host, '|', ${alias}.boot_id, '|', toString(${alias}.pid), '|', toString(${alias}.start_ns))`;
}

export function processFilter(alias: string): string {
  return `$__conditionalAll(${processKey(alias)} IN (\${process:singlequote}), $process)`;
}

/** The time range filter and the host (and process) filters of table alias `a`. */
export function where(a: string, opts: { time?: string; process?: boolean } = {}): string {
  const parts = [`$__timeFilter(${a}.${opts.time ?? 'time'})`, hostFilter(`${a}.host`)];
  if (opts.process) parts.push(processFilter(a));
  return parts.join('\n  AND ');
}

/** A page size label from a page order (4 KiB pages): '2.00 MiB'. */
export function pageSizeFromOrder(orderExpr: string): string {
  return `formatReadableSize(bitShiftLeft(toUInt64(4096), ${orderExpr}))`;
}

/** A 2 MiB region label that stays apart across processes: host:pid:0x<start>. */
export function regionLabel(a: string, startExpr: string): string {
  return `concat(${a}.host, ':', toString(${a}.pid), ':0x', lower(hex(${startExpr})))`;
}

/** SQL from lines, so the stored query reads well in Grafana's editor. */
export function sql(lines: readonly string[]): string {
  return lines.join('\n');
}

/**
 * Per-interval increases of a cumulative counter reported per collector
 * run (collector_loss.lost, collector_drops.dropped). Rows exist only once
 * the counter is non-zero and then on every batch, so the difference to the
 * previous row of the same series is the increase, and the first row of a
 * run is its whole value. The window reads one hour before the range so
 * the first in-range row finds its predecessor.
 */
export function counterIncreases(tableName: TableName, counter: string, series: readonly string[]): string {
  const keys = ['host', 'boot_id', 'collector_id', ...series].join(', ');
  return sql([
    `SELECT c.time AS ts, c.host AS host, ${series.map((s) => `c.${s} AS ${s}`).join(', ')},`,
    `  c.${counter} - lagInFrame(c.${counter}, 1, toUInt64(0)) OVER (PARTITION BY ${keys} ORDER BY c.sequence ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS increase`,
    `FROM ${table(tableName)} AS c`,
    `WHERE c.time >= $__fromTime - INTERVAL 1 HOUR AND c.time <= $__toTime`,
    `  AND ${hostFilter('c.host')}`,
  ]);
}
