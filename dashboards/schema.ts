/**
 * Grafana's dashboard schema, for checking the built JSON offline.
 *
 * Grafana publishes the dashboard schema as CUE (kinds/dashboard), not as a
 * JSON Schema, and no package here ships one. This is that schema written
 * as JSON Schema (2020-12) from the types that @grafana/grafana-foundation-sdk
 * 0.0.21 generates from it (`dashboard.Dashboard`, schemaVersion 42, the
 * "v1" dashboard that file provisioning reads), with the CUE's bounds
 * (grid width 1..24, x 0..23, graphTooltip 0..2, ...). Objects are closed
 * (additionalProperties: false) wherever the SDK type is, so a typo or a
 * field Grafana does not know fails here rather than being dropped silently.
 * Panel `options` and `fieldConfig.defaults.custom` are plugin-defined and
 * stay open, as in the CUE. On top: the ClickHouse query model every
 * target must follow, and the checks JSON Schema cannot express (unique
 * panel ids, panels inside the grid, variables that exist).
 */
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { DATASOURCE_TYPE, DATASOURCE_UID } from './clickhouse.js';

const Ajv2020 = Ajv2020Module.default;

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const strings = { type: 'array', items: str } as const;

/** Types and fields of dashboard.Dashboard and what it contains (SDK 0.0.21 types.gen.d.ts). */
export const DASHBOARD_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://pageloop.invalid/schemas/grafana-dashboard-v1.json',
  title: 'Grafana dashboard (v1 model, schemaVersion 42)',
  type: 'object',
  additionalProperties: false,
  required: ['schemaVersion', 'templating', 'annotations'],
  properties: {
    id: { type: ['integer', 'null'] },
    uid: { type: 'string', pattern: '^[a-zA-Z0-9_-]{1,40}$' },
    title: str,
    description: str,
    revision: int,
    gnetId: str,
    tags: strings,
    timezone: str,
    editable: bool,
    graphTooltip: { enum: [0, 1, 2] },
    time: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: str, to: str } },
    timepicker: {
      type: 'object',
      additionalProperties: false,
      properties: {
        hidden: bool,
        refresh_intervals: strings,
        quick_ranges: { type: 'array', items: { $ref: '#/$defs/TimeOption' } },
        nowDelay: str,
      },
    },
    fiscalYearStartMonth: { type: 'integer', minimum: 0, maximum: 11 },
    liveNow: bool,
    weekStart: str,
    refresh: str,
    schemaVersion: { type: 'integer', minimum: 0 },
    version: int,
    panels: { type: 'array', items: { $ref: '#/$defs/PanelOrRow' } },
    templating: {
      type: 'object',
      additionalProperties: false,
      properties: { list: { type: 'array', items: { $ref: '#/$defs/VariableModel' } } },
    },
    annotations: {
      type: 'object',
      additionalProperties: false,
      properties: { list: { type: 'array', items: { $ref: '#/$defs/AnnotationQuery' } } },
    },
    links: { type: 'array', items: { $ref: '#/$defs/DashboardLink' } },
    snapshot: { type: 'object' },
    preload: bool,
  },
  $defs: {
    TimeOption: { type: 'object', additionalProperties: false, required: ['display', 'from', 'to'], properties: { display: str, from: str, to: str } },
    DataSourceRef: { type: 'object', additionalProperties: false, properties: { type: str, uid: str } },
    /** common.DataQuery: every data source's query has these, plus its own fields. */
    DataQuery: {
      type: 'object',
      required: ['refId'],
      properties: { refId: str, hide: bool, queryType: str, datasource: { $ref: '#/$defs/DataSourceRef' } },
    },
    GridPos: {
      type: 'object',
      additionalProperties: false,
      required: ['h', 'w', 'x', 'y'],
      properties: {
        h: { type: 'integer', minimum: 1 },
        w: { type: 'integer', minimum: 1, maximum: 24 },
        x: { type: 'integer', minimum: 0, maximum: 23 },
        y: { type: 'integer', minimum: 0 },
        static: bool,
      },
    },
    DashboardLink: {
      type: 'object',
      additionalProperties: false,
      required: ['title', 'type', 'icon', 'tooltip', 'tags', 'asDropdown', 'targetBlank', 'includeVars', 'keepTime'],
      properties: {
        title: str,
        type: { enum: ['link', 'dashboards'] },
        icon: str,
        tooltip: str,
        url: str,
        tags: strings,
        asDropdown: bool,
        placement: { const: 'inControlsMenu' },
        targetBlank: bool,
        includeVars: bool,
        keepTime: bool,
      },
    },
    MatcherConfig: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: str, options: {} } },
    DataTransformerConfig: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'options'],
      properties: {
        id: str,
        disabled: bool,
        filter: { $ref: '#/$defs/MatcherConfig' },
        topic: { enum: ['series', 'annotations', 'alertStates'] },
        options: {},
      },
    },
    Threshold: { type: 'object', additionalProperties: false, required: ['value', 'color'], properties: { value: { type: ['number', 'null'] }, color: str } },
    ThresholdsConfig: {
      type: 'object',
      additionalProperties: false,
      required: ['mode', 'steps'],
      properties: { mode: { enum: ['absolute', 'percentage'] }, steps: { type: 'array', items: { $ref: '#/$defs/Threshold' } } },
    },
    FieldColor: {
      type: 'object',
      additionalProperties: false,
      required: ['mode'],
      properties: {
        mode: {
          enum: [
            'thresholds',
            'palette-classic',
            'palette-classic-by-name',
            'continuous-GrYlRd',
            'continuous-RdYlGr',
            'continuous-BlYlRd',
            'continuous-YlRd',
            'continuous-BlPu',
            'continuous-YlBl',
            'continuous-blues',
            'continuous-reds',
            'continuous-greens',
            'continuous-purples',
            'fixed',
            'shades',
          ],
        },
        fixedColor: str,
        seriesBy: { enum: ['min', 'max', 'last'] },
      },
    },
    ValueMapping: {
      type: 'object',
      required: ['type', 'options'],
      properties: { type: { enum: ['value', 'range', 'regex', 'special'] }, options: { type: 'object' } },
    },
    FieldConfig: {
      type: 'object',
      additionalProperties: false,
      properties: {
        displayName: str,
        displayNameFromDS: str,
        description: str,
        path: str,
        writeable: bool,
        filterable: bool,
        unit: str,
        decimals: num,
        min: num,
        max: num,
        mappings: { type: 'array', items: { $ref: '#/$defs/ValueMapping' } },
        thresholds: { $ref: '#/$defs/ThresholdsConfig' },
        color: { $ref: '#/$defs/FieldColor' },
        links: { type: 'array', items: { $ref: '#/$defs/DashboardLink' } },
        actions: { type: 'array', items: { type: 'object' } },
        noValue: str,
        custom: { type: 'object' },
        fieldMinMax: bool,
      },
    },
    FieldConfigSource: {
      type: 'object',
      additionalProperties: false,
      required: ['defaults', 'overrides'],
      properties: {
        defaults: { $ref: '#/$defs/FieldConfig' },
        overrides: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['matcher', 'properties'],
            properties: {
              __systemRef: str,
              matcher: { $ref: '#/$defs/MatcherConfig' },
              properties: {
                type: 'array',
                items: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: str, value: {} } },
              },
            },
          },
        },
      },
    },
    Panel: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { type: 'string', minLength: 1, not: { const: 'row' } },
        id: { type: 'integer', minimum: 1 },
        pluginVersion: str,
        targets: { type: 'array', items: { $ref: '#/$defs/DataQuery' } },
        title: str,
        description: str,
        transparent: bool,
        datasource: { $ref: '#/$defs/DataSourceRef' },
        gridPos: { $ref: '#/$defs/GridPos' },
        links: { type: 'array', items: { $ref: '#/$defs/DashboardLink' } },
        repeat: str,
        repeatDirection: { enum: ['h', 'v'] },
        maxPerRow: num,
        maxDataPoints: num,
        transformations: { type: 'array', items: { $ref: '#/$defs/DataTransformerConfig' } },
        interval: str,
        timeFrom: str,
        timeShift: str,
        hideTimeOverride: bool,
        timeCompare: str,
        libraryPanel: { type: 'object', additionalProperties: false, required: ['name', 'uid'], properties: { name: str, uid: str } },
        cacheTimeout: str,
        queryCachingTTL: num,
        options: { type: 'object' },
        fieldConfig: { $ref: '#/$defs/FieldConfigSource' },
      },
    },
    RowPanel: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'collapsed', 'id', 'panels'],
      properties: {
        type: { const: 'row' },
        collapsed: bool,
        title: str,
        datasource: { $ref: '#/$defs/DataSourceRef' },
        gridPos: { $ref: '#/$defs/GridPos' },
        id: { type: 'integer', minimum: 1 },
        panels: { type: 'array', items: { $ref: '#/$defs/Panel' } },
        repeat: str,
      },
    },
    PanelOrRow: {
      if: { type: 'object', properties: { type: { const: 'row' } }, required: ['type'] },
      then: { $ref: '#/$defs/RowPanel' },
      else: { $ref: '#/$defs/Panel' },
    },
    VariableOption: {
      type: 'object',
      additionalProperties: false,
      required: ['text', 'value'],
      properties: {
        selected: bool,
        text: { anyOf: [str, strings] },
        value: { anyOf: [str, strings] },
      },
    },
    VariableModel: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'name'],
      properties: {
        type: { enum: ['query', 'adhoc', 'groupby', 'constant', 'datasource', 'interval', 'textbox', 'custom', 'system', 'snapshot', 'switch'] },
        name: { type: 'string', pattern: '^\\w+$' },
        label: str,
        hide: { enum: [0, 1, 2, 3] },
        skipUrlSync: bool,
        description: str,
        query: { anyOf: [str, { type: 'object' }] },
        datasource: { $ref: '#/$defs/DataSourceRef' },
        current: { $ref: '#/$defs/VariableOption' },
        multi: bool,
        allowCustomValue: bool,
        options: { type: 'array', items: { $ref: '#/$defs/VariableOption' } },
        refresh: { enum: [0, 1, 2] },
        sort: { enum: [0, 1, 2, 3, 4, 5, 6, 7, 8] },
        includeAll: bool,
        allValue: str,
        regex: str,
        staticOptions: { type: 'array', items: { $ref: '#/$defs/VariableOption' } },
        staticOptionsOrder: { enum: ['before', 'after', 'sorted'] },
        auto: bool,
        auto_min: str,
        auto_count: int,
        definition: str,
      },
    },
    AnnotationQuery: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'enable', 'iconColor'],
      properties: {
        name: str,
        datasource: { $ref: '#/$defs/DataSourceRef' },
        enable: bool,
        hide: bool,
        iconColor: str,
        filter: {
          type: 'object',
          additionalProperties: false,
          required: ['ids'],
          properties: { exclude: bool, ids: { type: 'array', items: int } },
        },
        target: { $ref: '#/$defs/DataQuery' },
        type: str,
        builtIn: num,
        placement: { const: 'inControlsMenu' },
        expr: str,
        textFormat: str,
        titleFormat: str,
        tagKeys: str,
        step: str,
        useValueForTime: bool,
        mappings: { type: 'object' },
      },
    },
  },
} as const;

/** The grafana-clickhouse-datasource 4.x SQL query model every target of ours follows. */
export const CLICKHOUSE_TARGET_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['refId', 'datasource', 'editorType', 'rawSql', 'format', 'queryType', 'pluginVersion'],
  properties: {
    refId: { type: 'string', minLength: 1 },
    datasource: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'uid'],
      properties: { type: { const: DATASOURCE_TYPE }, uid: { const: DATASOURCE_UID } },
    },
    editorType: { const: 'sql' },
    rawSql: { type: 'string', minLength: 1 },
    format: { enum: [0, 1] },
    queryType: { enum: ['table', 'timeseries'] },
    pluginVersion: str,
  },
  // A time-series tab pivots rows (format 0); a table tab keeps them (format 1).
  if: { properties: { queryType: { const: 'timeseries' } } },
  then: { properties: { format: { const: 0 } } },
  else: { properties: { format: { const: 1 } } },
} as const;

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, strictRequired: false });
const validateDashboardSchema = ajv.compile(DASHBOARD_JSON_SCHEMA);
const validateTargetSchema = ajv.compile(CLICKHOUSE_TARGET_SCHEMA);

function describe(where: string, errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${where}${e.instancePath || '/'}: ${e.message ?? 'invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

type Json = unknown;

function asRecord(v: Json): Record<string, Json> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, Json>) : undefined;
}

function asArray(v: Json): Json[] {
  return Array.isArray(v) ? v : [];
}

/** Grafana's built-in variables a query may name. */
const BUILTIN_VARIABLES = new Set(['__interval', '__interval_ms', '__from', '__to', '__timezone', '__dashboard', '__user', '__org']);

/** `$name`, `${name...}`, `[[name...]]` references in a query (plugin macros excluded). */
export function variableReferences(sqlText: string): string[] {
  const names = new Set<string>();
  for (const m of sqlText.matchAll(/\$(\w+)|\[\[(\w+?)(?::\w+)?\]\]|\$\{(\w+)(?:\.[^:^}]+)?(?::[^}]+)?\}/g)) {
    const name = m[1] ?? m[2] ?? m[3] ?? '';
    if (name.startsWith('__') && !BUILTIN_VARIABLES.has(name)) continue; // a plugin macro: $__timeFilter, $__conditionalAll...
    names.add(name);
  }
  return [...names];
}

/**
 * Problems with a dashboard's JSON, [] when it is valid: the schema, our
 * ClickHouse query model on every target, and the cross-field rules.
 */
export function validateDashboardJson(json: Json): string[] {
  const problems: string[] = [];
  if (!validateDashboardSchema(json)) problems.push(...describe('dashboard', validateDashboardSchema.errors));
  const d = asRecord(json);
  if (!d) return problems;
  const variables = new Set<string>();
  for (const [i, v] of asArray(asRecord(d.templating)?.list).entries()) {
    const name = String(asRecord(v)?.name ?? '');
    if (variables.has(name)) problems.push(`templating/list/${i}: variable '${name}' defined twice`);
    variables.add(name);
  }
  const checkSql = (where: string, sqlText: Json): void => {
    if (typeof sqlText !== 'string') return;
    for (const name of variableReferences(sqlText)) {
      if (!variables.has(name) && !BUILTIN_VARIABLES.has(name)) problems.push(`${where}: refers to variable '$${name}', which the dashboard does not define`);
    }
  };
  const checkTarget = (where: string, target: Json): void => {
    if (!validateTargetSchema(target)) problems.push(...describe(where, validateTargetSchema.errors));
    checkSql(where, asRecord(target)?.rawSql);
  };
  for (const [i, v] of asArray(asRecord(d.templating)?.list).entries()) checkSql(`templating/list/${i}`, asRecord(v)?.query);
  for (const [i, a] of asArray(asRecord(d.annotations)?.list).entries()) {
    const target = asRecord(a)?.target;
    if (target !== undefined) checkTarget(`annotations/list/${i}/target`, target);
  }
  const ids = new Set<number>();
  const panels = asArray(d.panels).flatMap((p) => (asRecord(p)?.type === 'row' ? [p, ...asArray(asRecord(p)?.panels)] : [p]));
  for (const [i, p] of panels.entries()) {
    const panel = asRecord(p);
    if (!panel) continue;
    const id = panel.id;
    if (typeof id === 'number') {
      if (ids.has(id)) problems.push(`panels/${i}: panel id ${id} used twice`);
      ids.add(id);
    } else {
      problems.push(`panels/${i}: no panel id`);
    }
    const grid = asRecord(panel.gridPos);
    if (grid && typeof grid.x === 'number' && typeof grid.w === 'number' && grid.x + grid.w > 24) {
      problems.push(`panels/${i}/gridPos: x ${grid.x} + w ${grid.w} runs past the 24-column grid`);
    }
    if (panel.type !== 'row') {
      const targets = asArray(panel.targets);
      if (targets.length === 0) problems.push(`panels/${i}: no targets`);
      for (const [j, t] of targets.entries()) checkTarget(`panels/${i}/targets/${j}`, t);
    }
  }
  return problems;
}
