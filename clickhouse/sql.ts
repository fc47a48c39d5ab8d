/**
 * SQL text helpers, pure: literals and quoted identifiers, a small lexer for
 * top-level keywords (a statement's FORMAT, an INSERT's SETTINGS/FORMAT
 * clause), the INSERT shapes that take data, and the USE/SET preamble that
 * gives a fresh embedded session a request's context.
 */
import { engineError } from './errors.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A name that needs no quoting: letters, digits and _, not starting with a digit. */
export function isPlainIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** A ClickHouse string literal holding exactly `s`. */
export function sqlStringLiteral(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A back-quoted identifier (database, table), safe for any name. */
export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

interface KeywordHit {
  readonly keyword: string;
  readonly index: number;
}

/**
 * Positions of the given keywords where they stand as whole words outside
 * strings, quoted identifiers, comments and parentheses. Enough of a lexer
 * to find an INSERT's SETTINGS/FORMAT clause or a query's output format
 * without being fooled by `WHERE s = 'FORMAT x'` or a subquery.
 */
export function topLevelKeywords(sql: string, keywords: readonly string[]): KeywordHit[] {
  const wanted = new Set(keywords.map((k) => k.toUpperCase()));
  const hits: KeywordHit[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$]/.test(c);
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < n && sql[i] !== c) i += sql[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '(') {
      depth++;
      i++;
    } else if (c === ')') {
      depth = Math.max(0, depth - 1);
      i++;
    } else if (isWord(c)) {
      let j = i;
      while (j < n && isWord(sql[j])) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (depth === 0 && wanted.has(word)) hits.push({ keyword: word, index: i });
      i = j;
    } else {
      i++;
    }
  }
  return hits;
}

/** The first keyword of a statement, upper-cased ('' if none). */
export function statementKeyword(sql: string): string {
  const m = /^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*([A-Za-z]+)/.exec(sql);
  return m?.[1]?.toUpperCase() ?? '';
}

/** The output format named by the statement's own FORMAT clause, if any. */
export function explicitFormat(sql: string): string | undefined {
  const hits = topLevelKeywords(sql, ['FORMAT']);
  const last = hits[hits.length - 1];
  if (!last) return undefined;
  const m = /^FORMAT\s+([A-Za-z][A-Za-z0-9_]*)/i.exec(sql.slice(last.index));
  return m?.[1];
}

/**
 * `INSERT INTO t [(cols)] [SETTINGS ...] FORMAT X` to the same statement
 * reading its data from `path`. FROM INFILE must come before SETTINGS and
 * FORMAT, so it goes in front of whichever comes first.
 */
export function insertFromInfile(sql: string, path: string): string {
  const shape = insertWithFormat(sql);
  if (typeof shape === 'string') throw engineError(36, 'BAD_ARGUMENTS', `data was sent with ${shape}`);
  return `${sql.slice(0, shape.clauseIndex)}FROM INFILE ${sqlStringLiteral(path)} ${sql.slice(shape.clauseIndex)}`;
}

/**
 * Whether `sql` is `INSERT ... FORMAT <name>` (data to follow): where its
 * first SETTINGS/FORMAT clause starts, and where the format name ends.
 * Otherwise a description of what it is instead. Only what precedes FORMAT
 * is inspected, so `FORMAT Values` and inline data after it do not confuse it.
 */
export function insertWithFormat(sql: string): { clauseIndex: number; formatEnd: number; format: string } | string {
  if (statementKeyword(sql) !== 'INSERT') return 'a statement that is not an INSERT';
  const hits = topLevelKeywords(sql, ['SETTINGS', 'FORMAT', 'INFILE', 'VALUES', 'SELECT', 'WITH']);
  const formatAt = hits.findIndex((h) => h.keyword === 'FORMAT');
  const before = formatAt < 0 ? hits : hits.slice(0, formatAt);
  const other = before.find((h) => h.keyword !== 'SETTINGS');
  if (other) return `an INSERT that has its own ${other.keyword}; use INSERT ... FORMAT <format>`;
  const format = hits[formatAt];
  const m = format ? /^FORMAT\s+([A-Za-z][A-Za-z0-9_]*)/i.exec(sql.slice(format.index)) : null;
  if (!format || !m?.[1]) return 'an INSERT that names no FORMAT';
  const first = before[0] ?? format;
  return { clauseIndex: first.index, formatEnd: format.index + m[0].length, format: m[1] };
}

/**
 * HTTP-interface parameters that are not engine settings: the transport
 * handles them (or, embedded, there is nothing to handle), so they must not
 * become `SET` statements, which would fail as unknown settings.
 */
const HTTP_ONLY_PARAMS: ReadonlySet<string> = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'session_id',
  'session_timeout',
  'session_check',
  'close_session',
  'user',
  'password',
  'quota_key',
  'role',
  'buffer_size',
  'wait_end_of_query',
  'compress',
  'decompress',
  'stacktrace',
  'client_protocol_version',
]);

export function isHttpOnlyParam(name: string): boolean {
  return HTTP_ONLY_PARAMS.has(name) || name.startsWith('param_');
}

export interface PreambleInput {
  readonly database?: string;
  /** Settings as text, as the HTTP interface takes them. */
  readonly settings?: Readonly<Record<string, string>>;
  /** `{name:Type}` values as text (the HTTP `param_<name>` form). */
  readonly params?: Readonly<Record<string, string>>;
  /** 1 or 2 as ClickHouse's readonly setting; applied last so a request cannot lower it. */
  readonly readonly?: 1 | 2;
}

/**
 * The statements that give a fresh session the request's context:
 * `USE db`, one `SET` per setting, `SET param_x = '...'` per parameter.
 * Values stay text; the engine parses them exactly as from a URL.
 */
export function buildPreamble(input: PreambleInput): string[] {
  const out: string[] = [];
  if (input.database !== undefined && input.database !== '' && input.database !== 'default') {
    out.push(`USE ${quoteIdentifier(input.database)}`);
  }
  for (const [name, value] of Object.entries(input.settings ?? {})) {
    if (isHttpOnlyParam(name)) continue;
    if (!IDENTIFIER.test(name)) throw engineError(115, 'UNKNOWN_SETTING', `Unknown setting '${name}'`);
    if (name === 'readonly' && input.readonly !== undefined) continue;
    out.push(`SET ${name} = ${sqlStringLiteral(value)}`);
  }
  for (const [name, value] of Object.entries(input.params ?? {})) {
    if (!IDENTIFIER.test(name)) throw engineError(36, 'BAD_ARGUMENTS', `Bad query parameter name '${name}'`);
    out.push(`SET param_${name} = ${sqlStringLiteral(value)}`);
  }
  if (input.readonly !== undefined) out.push(`SET readonly = ${input.readonly}`);
  return out;
}

/**
 * Functions and table functions that reach outside the database: the host's
 * files, the network, other servers, programs. An endpoint that serves the
 * embedded engine (which runs as root, with every grant) to Grafana must not
 * let a query use them: measured on chDB, readonly=2 still lets
 * `file('/etc/shadow')` be read and `INSERT INTO FUNCTION file(...)` write.
 * Families are matched by prefix (s3Cluster, icebergS3, remoteSecure, ...);
 * the short names exactly, so cos() or URLHash() stay usable.
 */
const OUTSIDE_REACH_FAMILY = /^(s3|gcs|hdfs|azureblobstorage|iceberg|deltalake|hudi|paimon|remote|cluster|mysql|postgresql|sqlite|odbc|jdbc|mongodb|redis|executable|ytsaurus|arrowflight|filecluster|urlcluster|fuzz)/i;
const OUTSIDE_REACH_NAME = new Set(['file', 'url', 'input', 'loop']);
const reachesOutside = (name: string): boolean => OUTSIDE_REACH_NAME.has(name.toLowerCase()) || OUTSIDE_REACH_FAMILY.test(name);

/**
 * The first function or table function of `sql` that reaches outside the
 * database (see reachesOutside), or an INTO OUTFILE / FROM INFILE clause;
 * undefined when there is none. A call is a name, plain or quoted, followed
 * by `(` (comments between allowed), outside string literals.
 */
export function outsideReach(sql: string): string | undefined {
  const n = sql.length;
  const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$]/.test(c);
  const skipGap = (k: number): number => {
    for (;;) {
      while (k < n && /\s/.test(sql[k]!)) k++;
      if (sql[k] === '-' && sql[k + 1] === '-') while (k < n && sql[k] !== '\n') k++;
      else if (sql[k] === '/' && sql[k + 1] === '*') {
        const end = sql.indexOf('*/', k + 2);
        k = end < 0 ? n : end + 2;
      } else return k;
    }
  };
  let previous = '';
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    let name: string | undefined;
    let j = i + 1;
    if (c === "'") {
      while (j < n && sql[j] !== "'") j += sql[j] === '\\' ? 2 : 1;
      j++;
    } else if (c === '"' || c === '`') {
      let s = '';
      while (j < n && sql[j] !== c) {
        s += sql[j] === '\\' ? sql[j + 1] ?? '' : sql[j];
        j += sql[j] === '\\' ? 2 : 1;
      }
      j++;
      name = s;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (j < n && sql[j] !== '\n') j++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      j = end < 0 ? n : end + 2;
    } else if (isWord(c)) {
      j = i;
      while (j < n && isWord(sql[j])) j++;
      name = sql.slice(i, j);
    }
    if (name !== undefined) {
      const upper = name.toUpperCase();
      if ((previous === 'INTO' && upper === 'OUTFILE') || (previous === 'FROM' && upper === 'INFILE')) return `${previous} ${upper}`;
      if (sql[skipGap(j)] === '(' && reachesOutside(name)) return name;
      previous = upper;
    }
    i = j;
  }
  return undefined;
}
