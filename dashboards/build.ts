/**
 * The dashboards as Grafana JSON, built with @grafana/grafana-foundation-sdk
 * from the specs in fleet.ts, host.ts, regions.ts and control.ts, plus the
 * registry of every query they run (for the tests and for review).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as tablePanel from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { ClickHouseQueryBuilder, DATASOURCE, type QueryFormat } from './clickhouse.js';
import { CONTROL_DASHBOARD } from './control.js';
import { FLEET_DASHBOARD } from './fleet.js';
import { HOST_DASHBOARD } from './host.js';
import { REGIONS_DASHBOARD } from './regions.js';
import type { AnnotationSpec, DashboardSpec, PanelSpec, VariableSpec } from './spec.js';

export const DASHBOARDS: readonly DashboardSpec[] = [FLEET_DASHBOARD, HOST_DASHBOARD, REGIONS_DASHBOARD, CONTROL_DASHBOARD];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface BuiltDashboard {
  readonly uid: string;
  readonly title: string;
  /** The dashboard model (schemaVersion as the SDK writes it), ready for a file provider. */
  readonly json: JsonObject;
}

/** One query a dashboard runs: a panel's, an annotation's or a variable's. */
export interface QueryEntry {
  readonly dashboard: string;
  readonly kind: 'panel' | 'annotation' | 'variable';
  readonly title: string;
  readonly sql: string;
  readonly format: QueryFormat;
  readonly columns: readonly string[];
}

/** Every query of every dashboard; panel titles are unique across dashboards. */
export function queryRegistry(specs: readonly DashboardSpec[] = DASHBOARDS): QueryEntry[] {
  const out: QueryEntry[] = [];
  for (const d of specs) {
    for (const v of d.variables) out.push({ dashboard: d.uid, kind: 'variable', title: `$${v.name}`, sql: v.sql, format: 'table', columns: v.columns });
    for (const a of d.annotations) out.push({ dashboard: d.uid, kind: 'annotation', title: a.name, sql: a.sql, format: 'table', columns: a.columns });
    for (const p of d.panels) out.push({ dashboard: d.uid, kind: 'panel', title: p.title, sql: p.sql, format: p.format, columns: p.columns });
  }
  return out;
}

/** Panel title -> SQL and the columns it must return. */
export function panelRegistry(specs: readonly DashboardSpec[] = DASHBOARDS): ReadonlyMap<string, { readonly sql: string; readonly columns: readonly string[] }> {
  const map = new Map<string, { sql: string; columns: readonly string[] }>();
  for (const d of specs) {
    for (const p of d.panels) {
      if (map.has(p.title)) throw new Error(`panel title '${p.title}' is used twice`);
      map.set(p.title, { sql: p.sql, columns: p.columns });
    }
  }
  return map;
}

function legend(): cog.Builder<common.VizLegendOptions> {
  return new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(common.LegendDisplayMode.List)
    .placement(common.LegendPlacement.Bottom)
    .calcs([]);
}

function tooltip(): cog.Builder<common.VizTooltipOptions> {
  return new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending);
}

/** The SDK builder of one panel, common parts set. */
function panelBuilder(p: PanelSpec, id: number): cog.Builder<dashboard.Panel> {
  const target = new ClickHouseQueryBuilder(p.sql, p.format);
  const w = p.width ?? 12;
  const h = p.height ?? 8;
  switch (p.kind) {
    case 'timeseries': {
      const b = new timeseries.PanelBuilder().id(id).title(p.title).description(p.description).datasource(DATASOURCE).withTarget(target).span(w).height(h);
      b.legend(legend()).tooltip(tooltip()).lineWidth(1).fillOpacity(10).showPoints(common.VisibilityMode.Never).spanNulls(false);
      if (p.unit) b.unit(p.unit);
      return b;
    }
    case 'heatmap': {
      const b = new heatmap.PanelBuilder().id(id).title(p.title).description(p.description).datasource(DATASOURCE).withTarget(target).span(w).height(h);
      // Rows are already buckets (one field per region after the plugin pivots them): no re-bucketing.
      b.calculate(false).cellGap(1).showLegend();
      if (p.unit) b.cellValues(new heatmap.CellValuesBuilder().unit(p.unit)).unit(p.unit);
      return b;
    }
    case 'stat': {
      const b = new stat.PanelBuilder().id(id).title(p.title).description(p.description).datasource(DATASOURCE).withTarget(target).span(w).height(h);
      b.reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false)).graphMode(common.BigValueGraphMode.None);
      if (p.unit) b.unit(p.unit);
      return b;
    }
    case 'table': {
      const b = new tablePanel.PanelBuilder().id(id).title(p.title).description(p.description).datasource(DATASOURCE).withTarget(target).span(w).height(h);
      if (p.unit) b.unit(p.unit);
      return b;
    }
    case 'barchart':
      throw new Error(`panel '${p.title}': barchart panels are not used`);
  }
}

function variableBuilder(v: VariableSpec): cog.Builder<dashboard.VariableModel> {
  const b = new dashboard.QueryVariableBuilder(v.name)
    .label(v.label)
    .description(v.description)
    // A plain SQL string: what 4.x's metricFindQuery takes, and what newer
    // versions read as a legacy "custom SQL" variable query.
    .query(v.sql)
    .definition(v.sql)
    .datasource(DATASOURCE)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.Disabled)
    .multi(v.multi)
    .includeAll(v.includeAll);
  if (v.includeAll) b.current({ selected: true, text: ['All'], value: ['$__all'] });
  return b;
}

function annotationBuilder(a: AnnotationSpec): cog.Builder<dashboard.AnnotationQuery> {
  return new dashboard.AnnotationQueryBuilder()
    .name(a.name)
    .datasource(DATASOURCE)
    .enable(true)
    .hide(false)
    .iconColor(a.iconColor)
    .target(new ClickHouseQueryBuilder(a.sql, 'table', 'Anno'));
}

/** JSON round trip: drops the SDK's functions and undefineds, and gives a plain JSON type. */
function toJson(value: unknown): JsonObject {
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

export function buildDashboard(spec: DashboardSpec): BuiltDashboard {
  const b = new dashboard.DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([...spec.tags])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .time({ from: 'now-6h', to: 'now' })
    .refresh('1m')
    .timezone('browser');
  for (const v of spec.variables) b.withVariable(variableBuilder(v));
  for (const a of spec.annotations) b.annotation(annotationBuilder(a));
  spec.panels.forEach((p, i) => b.withPanel(panelBuilder(p, i + 1)));
  return { uid: spec.uid, title: spec.title, json: toJson(b.build()) };
}

export function buildDashboards(specs: readonly DashboardSpec[] = DASHBOARDS): BuiltDashboard[] {
  return specs.map(buildDashboard);
}

/** The file name of a dashboard in the output directory. */
export function dashboardFileName(uid: string): string {
  return `${uid}.json`;
}

/** Writes one JSON file per dashboard into `outDir` (created if needed); returns the paths. */
export async function writeDashboards(outDir: string, built: readonly BuiltDashboard[] = buildDashboards()): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const paths: string[] = [];
  for (const d of built) {
    const path = join(outDir, dashboardFileName(d.uid));
    await writeFile(path, `${JSON.stringify(d.json, null, 2)}\n`);
    paths.push(path);
  }
  return paths;
}
