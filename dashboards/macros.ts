/**
 * The SQL a panel sends to ClickHouse, expanded exactly as Grafana and the
 * official ClickHouse data source (grafana-clickhouse-datasource) expand it,
 * so that tests can run every panel's query on the real engine.
 *
 * Behaviour reimplemented (read from the public sources, not copied):
 *
 *  1. Frontend, plugin 4.x `Datasource.applyTemplateVariables` (as of
 *     4.13.0; ad hoc filters aside, which pageloop's dashboards do not use):
 *     a. `$__conditionalAll(condition, $var)`: from the last occurrence
 *        backwards, arguments split on commas at bracket depth 1 (no quote
 *        awareness); if the dashboard variable named by the second argument
 *        (`$var` or `${var}`, nothing else) has the value '' or '$__all', the
 *        call becomes `1=1`, else the condition. More or fewer than two
 *        arguments stop the pass, leaving the rest as written.
 *     b. Grafana's variable interpolation (scenes `sceneInterpolator`, the
 *        dashboards of Grafana 11/12) with the plugin's format function:
 *        `$var`, `${var}`, `[[var]]` and `${var:format}` / `[[var:format]]`;
 *        a multi-value without an explicit format becomes 'a','b' (joined,
 *        NOT escaped), a single value is inserted as it is. Formats:
 *        singlequote, doublequote, sqlstring, csv, pipe, raw, regex, json,
 *        glob, text, join, date (ms/seconds/iso), percentencode, lucene.
 *        "All" is the option values (or the custom all value, verbatim and
 *        interpolated again). Built-ins: $__from and $__to (epoch ms),
 *        $__interval ("1m", Grafana's secondsToHms) and $__interval_ms.
 *        Unknown names stay as written (so $__timeFilter etc. reach step 2).
 *  2. Backend, the plugin's pkg/macros with sqlds v4/v5, whose default
 *     interpolator is grafana-plugin-sdk-go `data/sqlutil.Interpolate`
 *     (the version with `parseArgs`, as in SDK v0.29x):
 *     macro names match `\$__name\b`, longest name first; arguments only
 *     when `(` follows the name at once, split on commas at depth 1 and
 *     trimmed (no quote awareness); each match's text is replaced
 *     everywhere (strings.ReplaceAll). Plugin macros: fromTime, toTime,
 *     fromTime_ms, toTime_ms, timeFilter, timeFilter_ms, dateFilter,
 *     dateTimeFilter (and its alias dt), timeInterval, timeInterval_ms,
 *     interval_s; SDK defaults: interval, interval_ms, timeFrom, timeTo,
 *     timeGroup, table, column. Dates (toDate) are rendered in UTC, as the
 *     plugin does when its process runs in UTC (Grafana's containers).
 *
 * Not reimplemented: the statement macros ($__columns, $__lttb, ...) that
 * exist only on the plugin's unreleased main branch, ad hoc filters, and
 * moment-style date formats.
 */
import { PageloopError } from '../lib/errors.js';

/** Which behaviour this file follows; printed in reports and tests. */
export const MACRO_BEHAVIOUR = {
  plugin: 'grafana-clickhouse-datasource 4.x as of 4.13.0 (pkg/macros unchanged since 4.2.0)',
  backend: 'sqlds v5 DefaultInterpolator -> grafana-plugin-sdk-go v0.29x data/sqlutil.Interpolate (parseArgs)',
  frontend: 'CHDatasource.applyTemplateVariables (4.x) + @grafana/scenes sceneInterpolator',
} as const;

export const ALL_VALUE = '$__all';
const ALL_TEXT = 'All';

export type VariableValue = string | readonly string[];

/** A dashboard variable as it stands when the panel runs its query. */
export interface TemplateVariable {
  readonly name: string;
  /** The current value; '$__all' (or ['$__all']) when "All" is selected. */
  readonly value: VariableValue;
  /** The current text (defaults to the value). */
  readonly text?: VariableValue;
  /** The option values "All" stands for. */
  readonly options?: readonly string[];
  /** A custom all value: inserted verbatim in place of the option list. */
  readonly allValue?: string;
}

export interface MacroContext {
  /** The dashboard time range, epoch milliseconds or Date. */
  readonly from: number | Date;
  readonly to: number | Date;
  /** The query interval Grafana computed for the panel (ms). */
  readonly intervalMs: number;
  readonly variables?: readonly TemplateVariable[];
  /** sqlutil.Query's table/column (the ClickHouse plugin leaves them empty). */
  readonly table?: string;
  readonly column?: string;
}

export class MacroError extends PageloopError {
  constructor(message: string) {
    super('dashboard-macro', message);
    this.name = 'MacroError';
  }
}

function epochMs(t: number | Date): number {
  return typeof t === 'number' ? t : t.getTime();
}

/** The whole pipeline: frontend (conditionalAll, variables), then backend macros. */
export function expandMacros(sql: string, ctx: MacroContext): string {
  const variables = ctx.variables ?? [];
  const afterAll = applyConditionalAll(sql, variables);
  const afterVars = interpolateVariables(afterAll, {
    variables,
    from: epochMs(ctx.from),
    to: epochMs(ctx.to),
    intervalMs: ctx.intervalMs,
  });
  return interpolateBackendMacros(afterVars, ctx);
}

// ---------------------------------------------------------------------------
// Frontend 1: $__conditionalAll

/** The plugin's getMacroArgs: arguments of the call whose '(' is at `open`, [] when unbalanced. */
export function conditionalAllArgs(query: string, open: number): string[] {
  const args: string[] = [];
  const s = query.slice(open);
  const re = /\(|\)|,/g;
  let depth = 0;
  let last = 1;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (m[0] === '(') depth++;
    else if (m[0] === ')') depth--;
    if (m[0] === ',' && depth === 1) {
      args.push(s.slice(last, re.lastIndex - 1));
      last = re.lastIndex;
    }
    if (depth === 0) {
      args.push(s.slice(last, re.lastIndex - 1));
      return args;
    }
  }
  return [];
}

function currentValueString(v: TemplateVariable): string {
  // JS Array#toString, as the plugin's `current.value.toString()`.
  return typeof v.value === 'string' ? v.value : v.value.join(',');
}

export function applyConditionalAll(sql: string, variables: readonly TemplateVariable[]): string {
  if (!sql) return sql;
  const macro = '$__conditionalAll(';
  let query = sql;
  let at = query.lastIndexOf(macro);
  while (at !== -1) {
    const params = conditionalAllArgs(query, at + macro.length - 1);
    if (params.length !== 2) return query;
    const [condition, varParam] = params as [string, string];
    const named = /(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+/.exec(varParam.trim());
    let phrase = condition;
    if (named) {
      const variable = variables.find((x) => x.name === named[0]);
      const value = variable ? currentValueString(variable) : undefined;
      if (value === '' || value === ALL_VALUE) phrase = '1=1';
    }
    // String#replace with a string pattern, as the plugin: first occurrence,
    // and `$&`-style patterns in the phrase keep their JS meaning.
    query = query.replace(`${macro}${condition},${varParam})`, phrase);
    at = query.lastIndexOf(macro);
  }
  return query;
}

// ---------------------------------------------------------------------------
// Frontend 2: Grafana variable interpolation with the plugin's format function

/** Grafana's secondsToHms, which names $__interval. */
export function secondsToHms(seconds: number): string {
  const years = Math.floor(seconds / 31536000);
  if (years) return `${years}y`;
  const days = Math.floor((seconds % 31536000) / 86400);
  if (days) return `${days}d`;
  const hours = Math.floor(((seconds % 31536000) % 86400) / 3600);
  if (hours) return `${hours}h`;
  const minutes = Math.floor((((seconds % 31536000) % 86400) % 3600) / 60);
  if (minutes) return `${minutes}m`;
  const secs = Math.floor((((seconds % 31536000) % 86400) % 3600) % 60);
  if (secs) return `${secs}s`;
  const ms = Math.floor(seconds * 1000.0);
  if (ms) return `${ms}ms`;
  return 'less than a millisecond';
}

/** A resolved value: plain, or a custom "All" that skips formatting. */
type Resolved =
  | { readonly kind: 'value'; readonly value: string | number | readonly string[]; readonly text: string }
  | { readonly kind: 'customAll'; readonly raw: string };

interface InterpolationScope {
  readonly variables: readonly TemplateVariable[];
  readonly from: number;
  readonly to: number;
  readonly intervalMs: number;
}

const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

function isAll(value: VariableValue): boolean {
  return value === ALL_VALUE || (Array.isArray(value) && value[0] === ALL_VALUE);
}

function textOf(v: TemplateVariable): string {
  if (isAll(v.value)) return ALL_TEXT;
  const text = v.text ?? v.value;
  return typeof text === 'string' ? text : text.join(' + ');
}

/** Scoped vars first (the query's __interval/_ms), then dashboard variables, then macros. */
function resolve(name: string, scope: InterpolationScope): Resolved | undefined {
  if (name === '__interval') {
    const interval = secondsToHms(scope.intervalMs / 1000);
    return { kind: 'value', value: interval, text: interval };
  }
  if (name === '__interval_ms') return { kind: 'value', value: scope.intervalMs, text: String(scope.intervalMs) };
  const v = scope.variables.find((x) => x.name === name);
  if (v) {
    if (isAll(v.value)) {
      if (v.allValue) return { kind: 'customAll', raw: v.allValue };
      return { kind: 'value', value: v.options ?? [], text: ALL_TEXT };
    }
    return { kind: 'value', value: v.value, text: textOf(v) };
  }
  if (name === '__from') return { kind: 'value', value: scope.from, text: '' };
  if (name === '__to') return { kind: 'value', value: scope.to, text: '' };
  return undefined;
}

/** The plugin's format function, used when the reference names no format. */
function pluginFormat(value: string | number | readonly string[]): string {
  if (Array.isArray(value)) return `'${value.join("','")}'`;
  return String(value);
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

function luceneEscape(s: string): string {
  if (!Number.isNaN(Number(s))) return s;
  return s.replace(/([!*+\-=<>\s&|()[\]{}^~?:\\/"])/g, '\\$1');
}

function encodeStrict(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sqlStringQuote(s: string): string {
  return `'${s.replace(/'|"/g, (m) => (m === "'" ? "''" : '\\"'))}'`;
}

/** Grafana's format registry (the formats a SQL panel can use). */
export function formatVariableValue(value: string | number | readonly string[], format: string, text: string, name: string): string {
  const [id = '', ...args] = format.split(':');
  const list = Array.isArray(value) ? (value as readonly string[]) : undefined;
  const one = String(value);
  switch (id) {
    case 'singlequote':
      return list ? list.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(',') : `'${one.replace(/'/g, "\\'")}'`;
    case 'doublequote':
      return list ? list.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(',') : `"${one.replace(/"/g, '\\"')}"`;
    case 'sqlstring':
      return list ? list.map(sqlStringQuote).join(',') : sqlStringQuote(one);
    case 'csv':
      return list ? list.join(',') : one;
    case 'pipe':
      return list ? list.join('|') : one;
    case 'join':
      return list ? list.join(args[0] ?? ',') : one;
    case 'raw':
      return one;
    case 'json':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'regex':
      if (!list) return escapeRegex(one);
      return list.length === 1 ? escapeRegex(list[0]!) : `(${list.map(escapeRegex).join('|')})`;
    case 'lucene':
      if (!list) return luceneEscape(one);
      return list.length === 0 ? '__empty__' : `(${list.map((v) => `"${luceneEscape(v)}"`).join(' OR ')})`;
    case 'percentencode':
      return encodeStrict(list ? `{${list.join(',')}}` : one);
    case 'text':
      return text;
    case 'date': {
      const ms = typeof value === 'number' ? value : parseInt(one, 10);
      if (Number.isNaN(ms)) return 'NaN';
      const arg = args[0] ?? 'iso';
      if (arg === 'ms') return one;
      if (arg === 'seconds') return String(Math.round(ms / 1000));
      if (arg === 'iso') return new Date(ms).toISOString();
      throw new MacroError(`\${${name}:${format}}: moment-style date formats are not reimplemented`);
    }
    case 'glob':
    default:
      // An unknown format falls back to glob, as in Grafana.
      return list && list.length > 1 ? `{${list.join(',')}}` : one;
  }
}

export function interpolateVariables(sql: string, scope: InterpolationScope, depth = 0): string {
  return sql.replace(VARIABLE_REGEX, (match: string, var1?: string, var2?: string, fmt2?: string, var3?: string, _path?: string, fmt3?: string) => {
    const name = var1 ?? var2 ?? var3 ?? '';
    const resolved = resolve(name, scope);
    if (!resolved) return match;
    const format = fmt2 ?? fmt3;
    if (resolved.kind === 'customAll') {
      if (format === 'text') return ALL_TEXT;
      if (format === 'percentencode') return encodeStrict(resolved.raw);
      // Verbatim, then interpolated once more (without a format), as scenes does.
      return depth > 8 ? resolved.raw : interpolateVariables(resolved.raw, scope, depth + 1);
    }
    if (format === undefined) return depth > 0 ? formatVariableValue(resolved.value, 'glob', resolved.text, name) : pluginFormat(resolved.value);
    return formatVariableValue(resolved.value, format, resolved.text, name);
  });
}

// ---------------------------------------------------------------------------
// Backend: sqlutil.Interpolate with the plugin's macros

interface BackendQuery {
  readonly fromMs: number;
  readonly toMs: number;
  readonly intervalMs: number;
  readonly table: string;
  readonly column: string;
}

/** null: the name had no argument list (Go's nil slice); [''] for `()`. */
type BackendMacro = (q: BackendQuery, args: readonly string[] | null) => string;

function argCount(name: string, args: readonly string[] | null, want: number): readonly string[] {
  const n = args?.length ?? 0;
  if (n !== want) {
    throw new MacroError(`$__${name}: unexpected number of arguments: expected ${want} argument${want === 1 ? '' : 's'}, received ${n}`);
  }
  return args ?? [];
}

const toDateTime = (ms: number): string => `toDateTime(${Math.floor(ms / 1000)})`;
const toDateTime64 = (ms: number): string => `fromUnixTimestamp64Milli(${Math.floor(ms)})`;
const toDate = (ms: number): string => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;
const rfc3339 = (ms: number): string => `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;
/** Go's int(math.Max(interval.Seconds(), 1)): truncates, at least 1. */
const intervalSeconds = (q: BackendQuery): number => Math.trunc(Math.max(q.intervalMs / 1000, 1));
const intervalMillis = (q: BackendQuery): number => Math.max(Math.trunc(q.intervalMs), 1);

/** gtime.FormatInterval: the largest whole unit. */
export function formatGoInterval(ms: number): string {
  const units: [number, string][] = [
    [365 * 86400000, 'y'],
    [86400000, 'd'],
    [3600000, 'h'],
    [60000, 'm'],
    [1000, 's'],
    [1, 'ms'],
  ];
  for (const [size, suffix] of units) if (ms >= size) return `${Math.trunc(ms / size)}${suffix}`;
  return '1ms';
}

function timeGroup(args: readonly string[]): string {
  const [col, period] = args as [string, string];
  const parts = ['minute', 'hour', 'day', 'month', 'year'];
  const start = parts.indexOf(period);
  if (start < 0) return '';
  return parts
    .slice(start)
    .map((p) => `datepart(${p}, ${col})`)
    .join(',');
}

const BACKEND_MACROS: ReadonlyMap<string, BackendMacro> = new Map<string, BackendMacro>([
  // sqlutil.DefaultMacros, overridden below where the plugin defines the same name.
  ['interval', (q) => formatGoInterval(q.intervalMs)],
  ['interval_ms', (q) => String(Math.trunc(q.intervalMs))],
  ['timeFrom', (q, a) => `${argCount('timeFrom', a, 1)[0]} >= '${rfc3339(q.fromMs)}'`],
  ['timeTo', (q, a) => `${argCount('timeTo', a, 1)[0]} <= '${rfc3339(q.toMs)}'`],
  ['timeGroup', (_q, a) => timeGroup(argCount('timeGroup', a, 2))],
  ['table', (q) => q.table],
  ['column', (q) => q.column],
  // The plugin's pkg/macros.
  ['fromTime', (q) => toDateTime(q.fromMs)],
  ['toTime', (q) => toDateTime(q.toMs)],
  ['fromTime_ms', (q) => toDateTime64(q.fromMs)],
  ['toTime_ms', (q) => toDateTime64(q.toMs)],
  [
    'timeFilter',
    (q, a) => {
      const [c] = argCount('timeFilter', a, 1);
      return `${c} >= ${toDateTime(q.fromMs)} AND ${c} <= ${toDateTime(q.toMs)}`;
    },
  ],
  [
    'timeFilter_ms',
    (q, a) => {
      const [c] = argCount('timeFilter_ms', a, 1);
      return `${c} >= ${toDateTime64(q.fromMs)} AND ${c} <= ${toDateTime64(q.toMs)}`;
    },
  ],
  [
    'dateFilter',
    (q, a) => {
      const [c] = argCount('dateFilter', a, 1);
      return `${c} >= ${toDate(q.fromMs)} AND ${c} <= ${toDate(q.toMs)}`;
    },
  ],
  ['dateTimeFilter', (q, a) => dateTimeFilter('dateTimeFilter', q, a)],
  ['dt', (q, a) => dateTimeFilter('dt', q, a)],
  ['timeInterval', (q, a) => `toStartOfInterval(toDateTime(${argCount('timeInterval', a, 1)[0]}), INTERVAL ${intervalSeconds(q)} second)`],
  [
    'timeInterval_ms',
    (q, a) => `toStartOfInterval(toDateTime64(${argCount('timeInterval_ms', a, 1)[0]}, 3), INTERVAL ${intervalMillis(q)} millisecond)`,
  ],
  ['interval_s', (q) => String(intervalSeconds(q))],
]);

function dateTimeFilter(name: string, q: BackendQuery, args: readonly string[] | null): string {
  const [d, t] = argCount(name, args, 2) as [string, string];
  return `(${d} >= ${toDate(q.fromMs)} AND ${d} <= ${toDate(q.toMs)}) AND (${t} >= ${toDateTime(q.fromMs)} AND ${t} <= ${toDateTime(q.toMs)})`;
}

/** The backend macro names, longest first (sqlutil's order; ties by name for determinism). */
export const BACKEND_MACRO_NAMES: readonly string[] = [...BACKEND_MACROS.keys()].sort((a, b) => b.length - a.length || a.localeCompare(b));

/**
 * sqlutil's parseArgs: a bracketed list right at the start of `s`. Returns
 * the trimmed arguments and the length consumed; null args when `s` does not
 * start with '('; length -1 when the bracket never closes.
 */
export function parseMacroArgs(s: string): { args: string[] | null; length: number } {
  if (!s.startsWith('(')) return { args: null, length: 0 };
  const args: string[] = [];
  let depth = 0;
  let arg = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '(') {
      depth++;
      if (depth === 1) continue;
    } else if (c === ')') {
      depth--;
      if (depth === 0) {
        args.push(arg.trim());
        return { args, length: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push(arg.trim());
      arg = '';
      continue;
    }
    arg += c;
  }
  return { args: null, length: -1 };
}

export function interpolateBackendMacros(sql: string, ctx: Pick<MacroContext, 'from' | 'to' | 'intervalMs' | 'table' | 'column'>): string {
  const q: BackendQuery = {
    fromMs: epochMs(ctx.from),
    toMs: epochMs(ctx.to),
    intervalMs: ctx.intervalMs,
    table: ctx.table ?? '',
    column: ctx.column ?? '',
  };
  let raw = sql;
  for (const name of BACKEND_MACRO_NAMES) {
    const macro = BACKEND_MACROS.get(name)!;
    const re = new RegExp(`\\$__${name}\\b`, 'g');
    const matches: { full: string; args: string[] | null }[] = [];
    for (let m = re.exec(raw); m !== null; m = re.exec(raw)) {
      const end = m.index + m[0].length;
      const parsed = parseMacroArgs(raw.slice(end));
      if (parsed.length < 0) throw new MacroError(`$__${name}: failed to parse macro arguments (missing close bracket?)`);
      matches.push({ full: raw.slice(m.index, end + parsed.length), args: parsed.args });
    }
    for (const match of matches) {
      // strings.ReplaceAll: literal, every occurrence.
      raw = raw.split(match.full).join(macro(q, match.args));
    }
  }
  return raw;
}
