/**
 * One way for all pageloop code to get a ClickHouse client.
 *
 * Where ClickHouse is, first match wins:
 *   1. env PAGELOOP_CLICKHOUSE_URL, so a deployment can repoint every command;
 *   2. settings.url (from a config file or a flag);
 *   3. the embedded engine: ClickHouse in this process through chDB, its data
 *      in settings.dataDir, else $PAGELOOP_CLICKHOUSE_DIR, else
 *      $XDG_STATE_HOME/pageloop/clickhouse (~/.local/state/pageloop/clickhouse).
 *
 * Both paths hand out the same `@clickhouse/client` ClickHouseClient: for a
 * server it speaks HTTP; embedded, it gets a Connection (the client's
 * `createClient({ connection })` hook) that runs each call on the in-process
 * engine. So `client.command`, `client.insert`, `client.query(...).json()`,
 * query_params and clickhouse_settings mean the same thing on both, and
 * `PageloopClickHouse` wraps the few calls pageloop needs with its errors.
 *
 * Why not chdb's own `chdb/connection`: it applies clickhouse_settings as
 * `SET` on a session that outlives the call (an insert_deduplication_token
 * would stick to the next insert and silently drop it), ignores the client's
 * database, and inlines insert bodies into one SQL string. Here every call
 * runs on its own short-lived chDB session (about 0.4 ms), so settings, the
 * database and query parameters are scoped to the call exactly as over HTTP,
 * and calls run in parallel; insert bodies are spooled to a file and read
 * with `INSERT ... FROM INFILE`, which takes every input format (binary ones
 * too) and parses in parallel.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ClickHouseError,
  createClient,
  parseError,
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  type ClickHouseSettings,
} from '@clickhouse/client';
// The exact formatter the HTTP connection uses for `param_<name>` values, so
// embedded and server bind parameters identically. Not re-exported from the
// package root; the package has no exports map, so this deep path is stable
// for the pinned 1.x.
import { formatQueryParams } from '@clickhouse/client/dist/common/index.js';
import { Session, drainPending } from 'chdb';
import { PageloopError, UsageError, errorMessage } from '../lib/errors.js';

type Env = Readonly<Record<string, string | undefined>>;

// ---------------------------------------------------------------------------
// Errors

/**
 * Error codes (by name, as the engine prints them) for conditions that pass:
 * overload, timeouts, network trouble, a replica or Keeper hiccup. Anything
 * else (syntax, unknown table, bad data) fails again the same way.
 */
const RETRIABLE_CLICKHOUSE_ERRORS: ReadonlySet<string> = new Set([
  'TIMEOUT_EXCEEDED',
  'TOO_MANY_SIMULTANEOUS_QUERIES',
  'NO_FREE_CONNECTION',
  'SOCKET_TIMEOUT',
  'NETWORK_ERROR',
  'MEMORY_LIMIT_EXCEEDED',
  'CANNOT_ALLOCATE_MEMORY',
  'TABLE_IS_READ_ONLY',
  'TOO_MANY_PARTS',
  'ALL_CONNECTION_TRIES_FAILED',
  'TOO_FEW_LIVE_REPLICAS',
  // Safe to retry for pageloop: every insert carries a deduplication token.
  'UNKNOWN_STATUS_OF_INSERT',
  'CANNOT_SCHEDULE_TASK',
  'SERVER_OVERLOADED',
  'KEEPER_EXCEPTION',
  'DEADLOCK_AVOIDED',
  'SESSION_IS_LOCKED',
]);

/** Node socket errors that mean "the server was not reachable right now". */
const RETRIABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

export function isRetriableClickHouseError(name: string | undefined): boolean {
  return name !== undefined && RETRIABLE_CLICKHOUSE_ERRORS.has(name);
}

/** A statement the engine or server refused; `clickhouseName` is e.g. UNKNOWN_TABLE. */
export class ClickHouseQueryError extends PageloopError {
  readonly clickhouseCode: number | undefined;
  readonly clickhouseName: string | undefined;

  constructor(message: string, info: { code?: number; name?: string; cause?: unknown } = {}) {
    super('clickhouse', message, { retriable: isRetriableClickHouseError(info.name), cause: info.cause });
    this.name = 'ClickHouseQueryError';
    this.clickhouseCode = info.code;
    this.clickhouseName = info.name;
  }
}

/** Code and name out of "Code: 60. DB::Exception: ... (UNKNOWN_TABLE)". */
export function parseClickHouseMessage(message: string): { code?: number; name?: string } {
  const code = /(?:^|\s)Code: (\d+)\./.exec(message);
  // The name closes the message: "... (NAME)" or "... (NAME) (version V)".
  // Not the first "(NAME)": the text may quote SQL, e.g. "failed at (SELEC)".
  const names = [...message.matchAll(/\(([A-Z][A-Z0-9_]{2,})\)/g)];
  const name = names[names.length - 1]?.[1];
  return {
    ...(code?.[1] !== undefined ? { code: Number(code[1]) } : {}),
    ...(name !== undefined ? { name } : {}),
  };
}

/** The "Code: N. DB::Exception: msg. (NAME)" text ClickHouse uses, for errors we raise ourselves. */
export function clickHouseErrorText(code: number, name: string, message: string): string {
  return `Code: ${code}. DB::Exception: ${message}. (${name})`;
}

function engineError(code: number, name: string, message: string): ClickHouseQueryError {
  return new ClickHouseQueryError(clickHouseErrorText(code, name, message), { code, name });
}

/**
 * Any failure from either path as a PageloopError that says whether trying
 * again can help. `what` names the operation, e.g. "insert into events".
 */
export function toPageloopError(err: unknown, what: string): PageloopError {
  if (err instanceof ClickHouseQueryError) {
    return new ClickHouseQueryError(`${what}: ${err.message}`, {
      ...(err.clickhouseCode !== undefined ? { code: err.clickhouseCode } : {}),
      ...(err.clickhouseName !== undefined ? { name: err.clickhouseName } : {}),
      cause: err,
    });
  }
  if (err instanceof PageloopError) return err;
  if (err instanceof ClickHouseError) {
    const code = Number(err.code);
    return new ClickHouseQueryError(`${what}: ClickHouse error ${err.code} (${err.type ?? 'unknown'}): ${err.message.trim()}`, {
      ...(Number.isFinite(code) ? { code } : {}),
      ...(err.type !== undefined ? { name: err.type } : {}),
      cause: err,
    });
  }
  const sysCode = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const message = errorMessage(err);
  if (RETRIABLE_NETWORK_CODES.has(sysCode) || /socket hang up|Timeout error/i.test(message)) {
    return new PageloopError('clickhouse-unreachable', `${what}: ClickHouse not reachable: ${message}`, {
      retriable: true,
      cause: err,
    });
  }
  return new PageloopError('clickhouse', `${what}: ${message}`, { cause: err });
}

// ---------------------------------------------------------------------------
// Small SQL helpers (pure)

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

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

// ---------------------------------------------------------------------------
// The embedded engine

export interface EngineRequest {
  readonly sql: string;
  /**
   * The payload of an `INSERT ... FORMAT X` (any format the engine reads,
   * binary included): bytes, text, or a byte stream, which is spooled to disk
   * as it arrives rather than held in memory.
   */
  readonly data?: Uint8Array | string | AsyncIterable<Uint8Array | string>;
  readonly database?: string;
  readonly settings?: Readonly<Record<string, string>>;
  readonly params?: Readonly<Record<string, string>>;
  /** Output format when the SQL has no FORMAT clause; TabSeparated as over HTTP. */
  readonly defaultFormat?: string;
  readonly readonly?: 1 | 2;
  readonly queryId?: string;
  readonly signal?: AbortSignal;
}

/** X-ClickHouse-Summary's fields (numbers as strings, as ClickHouse sends them). */
export interface ClickHouseSummaryText {
  read_rows: string;
  read_bytes: string;
  written_rows: string;
  written_bytes: string;
  total_rows_to_read: string;
  result_rows: string;
  result_bytes: string;
  elapsed_ns: string;
}

export interface EngineResult {
  /** The whole result in `format`: results are buffered, not streamed. */
  readonly body: Buffer;
  readonly format: string;
  readonly queryId: string;
  readonly summary: ClickHouseSummaryText;
}

export interface EmbeddedClickHouseEngine {
  readonly dataDir: string;
  /** The engine's version, e.g. 26.7.2.1. */
  readonly version: string;
  /** The engine's time zone (what the HTTP header X-ClickHouse-Timezone says). */
  readonly timezone: string;
  /** Runs one statement in its own context (database, settings, parameters). */
  execute(request: EngineRequest): Promise<EngineResult>;
  /** Releases this handle; the engine stops when the last handle closes. */
  close(): Promise<void>;
}

export interface EmbeddedEngineOptions {
  readonly dataDir: string;
  /**
   * At most this many statements run at once; the rest wait. Each runs on a
   * libuv worker, so the default leaves one of the pool's threads (4 unless
   * UV_THREADPOOL_SIZE says otherwise) to fs, dns and zlib.
   */
  readonly maxConcurrentQueries?: number;
}

/** A counting semaphore: FIFO, no timeouts. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((res) => this.waiting.push(res));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

interface EngineState {
  readonly dir: string;
  readonly spoolDir: string;
  readonly anchor: Session;
  readonly limiter: Limiter;
  refs: number;
  ready: Promise<{ version: string; timezone: string }>;
}

/**
 * Engine arguments for every connection. chDB turns on clickhouse-local's
 * implicit_select (a bare expression runs as SELECT), so `CREATE TABLE`
 * with a typo would "succeed" as a SELECT; a server refuses it.
 */
const SESSION_OPTIONS = { connectionArgs: ['--implicit_select=0'] } as const;

// chDB binds one data directory per process: one engine, shared by handles.
let engineState: EngineState | undefined;
let engineClosing: Promise<void> | undefined;

function defaultConcurrency(env: Env): number {
  const pool = Number(env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, pool - 1);
}

/** $PAGELOOP_CLICKHOUSE_DIR, else $XDG_STATE_HOME/pageloop/clickhouse, else ~/.local/state/pageloop/clickhouse. */
export function defaultClickHouseDataDir(env: Env = process.env): string {
  if (env.PAGELOOP_CLICKHOUSE_DIR) return env.PAGELOOP_CLICKHOUSE_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'pageloop', 'clickhouse');
}

/**
 * A handle on the process's embedded engine at `dataDir`, starting it if
 * needed. Several handles on the same directory share one engine; asking for
 * a different directory while one is open is refused (chDB's limit).
 */
export async function openEmbeddedEngine(options: EmbeddedEngineOptions): Promise<EmbeddedClickHouseEngine> {
  const dir = resolve(options.dataDir);
  if (engineClosing) await engineClosing;
  if (engineState && engineState.dir !== dir) {
    throw new PageloopError(
      'clickhouse-engine-busy',
      `the embedded ClickHouse engine is open on ${engineState.dir}; chDB runs one data directory per process, so ${dir} cannot open too`,
    );
  }
  if (!engineState) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new PageloopError('clickhouse-data-dir', `cannot create the ClickHouse data directory ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    const spoolDir = join(dir, 'pageloop-insert-spool');
    // Leftovers of a crashed run are never needed again.
    rmSync(spoolDir, { recursive: true, force: true });
    mkdirSync(spoolDir, { recursive: true });
    let anchor: Session;
    try {
      // Held open for the engine's lifetime: without a live connection the
      // engine would shut down between calls and reload every table.
      anchor = new Session(dir, SESSION_OPTIONS);
    } catch (err) {
      throw new PageloopError('clickhouse-engine-busy', `cannot start the embedded ClickHouse engine on ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    const state: EngineState = {
      dir,
      spoolDir,
      anchor,
      limiter: new Limiter(options.maxConcurrentQueries ?? defaultConcurrency(process.env)),
      refs: 0,
      ready: anchor
        .queryAsync('SELECT version(), timezone()', { format: 'TabSeparated' })
        .then((r) => {
          const [version = '', timezone = 'UTC'] = r.text().trim().split('\t');
          return { version, timezone };
        }),
    };
    engineState = state;
  }
  const state = engineState;
  state.refs++;
  let info: { version: string; timezone: string };
  try {
    info = await state.ready;
  } catch (err) {
    await releaseEngine(state);
    throw new PageloopError('clickhouse-engine', `the embedded ClickHouse engine on ${dir} does not answer: ${errorMessage(err)}`, { cause: err });
  }
  let closed = false;
  return {
    dataDir: dir,
    version: info.version,
    timezone: info.timezone,
    execute: (request) => {
      if (closed) return Promise.reject(new PageloopError('clickhouse-closed', 'the embedded ClickHouse engine handle is closed'));
      return executeOnEngine(state, request);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await releaseEngine(state);
    },
  };
}

async function releaseEngine(state: EngineState): Promise<void> {
  state.refs--;
  if (state.refs > 0 || engineState !== state) return;
  engineState = undefined;
  engineClosing = (async () => {
    state.anchor.close();
    // close() defers the native teardown behind running operations; wait so
    // that a later open (any directory) finds the engine really gone.
    await drainPending();
    await rm(state.spoolDir, { recursive: true, force: true });
  })();
  try {
    await engineClosing;
  } finally {
    engineClosing = undefined;
  }
}

function summaryOf(kind: 'read' | 'write', rows: number, bytes: number, elapsedSeconds: number): ClickHouseSummaryText {
  const r = String(rows || 0);
  const b = String(bytes || 0);
  return {
    read_rows: r,
    read_bytes: b,
    written_rows: kind === 'write' ? r : '0',
    written_bytes: kind === 'write' ? b : '0',
    total_rows_to_read: '0',
    // chDB does not report the result's row count.
    result_rows: '0',
    result_bytes: '0',
    elapsed_ns: String(Math.max(0, Math.round(elapsedSeconds * 1e9))),
  };
}

/** A chDB failure as a ClickHouseQueryError, keeping ClickHouse's own text. */
function fromChdbError(err: unknown): PageloopError {
  if (err instanceof PageloopError) return err;
  const message = errorMessage(err);
  const kind = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (kind === 'CHDB_ABORT') return engineError(394, 'QUERY_WAS_CANCELLED', 'Query was cancelled');
  if (kind === 'CHDB_TIMEOUT') return engineError(159, 'TIMEOUT_EXCEEDED', message);
  const parsed = parseClickHouseMessage(message);
  if (parsed.code !== undefined) return new ClickHouseQueryError(message.trim(), { ...parsed, cause: err });
  return new ClickHouseQueryError(clickHouseErrorText(1001, 'STD_EXCEPTION', message), { code: 1001, name: 'STD_EXCEPTION', cause: err });
}

async function spool(data: NonNullable<EngineRequest['data']>, path: string): Promise<void> {
  if (typeof data === 'string' || data instanceof Uint8Array) {
    await writeFile(path, data);
  } else {
    await pipeline(data, createWriteStream(path));
  }
}

async function executeOnEngine(state: EngineState, request: EngineRequest): Promise<EngineResult> {
  const queryId = request.queryId || randomUUID();
  // Checked before anything runs or is read: bad names, bad INSERT shapes.
  const preamble = buildPreamble(request);
  const isInsert = request.data !== undefined || statementKeyword(request.sql) === 'INSERT';
  const format = explicitFormat(request.sql) ?? request.defaultFormat ?? 'TabSeparated';
  let sql = request.sql;
  let spoolPath: string | undefined;
  try {
    if (request.data !== undefined) {
      spoolPath = join(state.spoolDir, `${queryId.replace(/[^A-Za-z0-9_-]/g, '_')}-${randomUUID()}`);
      sql = insertFromInfile(sql, spoolPath);
      // Outside the limiter: a slow upload must not hold a slot the engine could use.
      await spool(request.data, spoolPath);
    }
    return await state.limiter.run(async () => {
      // A session of its own: USE and SET die with it, and calls do not
      // queue behind each other's session.
      const session = new Session(state.dir, SESSION_OPTIONS);
      try {
        if (preamble.length > 0) await session.queryAsync(preamble.join(';\n'), { format: 'TabSeparated' });
        const options = request.signal ? { format, signal: request.signal } : { format };
        const result = await session.queryAsync(sql, options);
        const bytes = result.bytes();
        return {
          body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          format,
          queryId,
          summary: summaryOf(isInsert ? 'write' : 'read', result.rowsRead, result.bytesRead, result.elapsed),
        };
      } finally {
        session.close();
      }
    });
  } catch (err) {
    throw fromChdbError(err);
  } finally {
    if (spoolPath !== undefined) await rm(spoolPath, { force: true });
  }
}

// ---------------------------------------------------------------------------
// The engine as a @clickhouse/client Connection

/** The client's Connection contract, reached through its public config type (it is not exported by name). */
type Connection = NonNullable<ClickHouseClientConfigOptions['connection']>;
type ConnQueryParams = Parameters<Connection['query']>[0];
type ConnInsertParams = Parameters<Connection['insert']>[0];
type ConnExecParams = Parameters<Connection['exec']>[0];
type ConnCommandParams = Parameters<Connection['command']>[0];

/** A setting's text form, as clickhouse-js puts it in a URL (booleans as 1/0). */
export function settingText(value: unknown): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

/** clickhouse_settings split into engine settings and the output format. */
export function splitClientSettings(settings: ClickHouseSettings | undefined): {
  settings: Record<string, string>;
  defaultFormat?: string;
} {
  const out: Record<string, string> = {};
  let defaultFormat: string | undefined;
  for (const [name, value] of Object.entries(settings ?? {})) {
    if (value === undefined) continue;
    if (name === 'default_format') defaultFormat = settingText(value);
    else if (!isHttpOnlyParam(name)) out[name] = settingText(value);
  }
  return defaultFormat === undefined ? { settings: out } : { settings: out, defaultFormat };
}

/** query_params in the text form the HTTP connection sends as param_<name>. */
export function paramsText(params: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(params ?? {})) out[name] = formatQueryParams({ value });
  return out;
}

function responseHeaders(result: EngineResult, timezone: string): Record<string, string> {
  return {
    'x-clickhouse-query-id': result.queryId,
    'x-clickhouse-format': result.format,
    'x-clickhouse-timezone': timezone,
    'x-clickhouse-summary': JSON.stringify(result.summary),
  };
}

function readableOf(body: Buffer): Readable {
  const stream = new Readable({
    read() {
      this.push(body);
      this.push(null);
    },
  });
  // ResultSet.close() destroys an unread stream with an error; nothing else
  // can fail here, so swallow that instead of crashing the process.
  stream.on('error', () => {});
  return stream;
}

/** Engine failures as clickhouse-js raises them over HTTP (ClickHouseError with code and type). */
function asClientError(err: unknown): Error {
  if (err instanceof ClickHouseQueryError && err.clickhouseCode !== undefined) {
    const mapped = parseError(err.message);
    if (mapped !== err) (mapped as Error & { cause?: unknown }).cause = err;
    return mapped;
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * A `@clickhouse/client` Connection over the embedded engine, for
 * `createClient({ connection, database })`. The client does not pass its
 * database to an injected connection, so it is given here too.
 */
export function createEmbeddedConnection(engine: EmbeddedClickHouseEngine, database: string, options: { closeEngine?: boolean } = {}): Connection {
  const request = (params: ConnQueryParams, extra: Partial<EngineRequest> = {}): EngineRequest => {
    if (params.session_id) {
      throw engineError(48, 'NOT_IMPLEMENTED', 'sessions (session_id) are not supported by the embedded engine; each call has its own context');
    }
    const { settings, defaultFormat } = splitClientSettings(params.clickhouse_settings);
    return {
      sql: params.query,
      database,
      settings,
      params: paramsText(params.query_params),
      ...(defaultFormat !== undefined ? { defaultFormat } : {}),
      ...(params.query_id !== undefined ? { queryId: params.query_id } : {}),
      ...(params.abort_signal !== undefined ? { signal: params.abort_signal } : {}),
      ...extra,
    };
  };
  const run = async (req: () => EngineRequest): Promise<EngineResult> => {
    try {
      return await engine.execute(req());
    } catch (err) {
      throw asClientError(err);
    }
  };
  return {
    async ping() {
      try {
        await engine.execute({ sql: 'SELECT 1' });
        return { success: true };
      } catch (err) {
        return { success: false, error: asClientError(err) };
      }
    },
    async query(params: ConnQueryParams) {
      const r = await run(() => request(params));
      return { stream: readableOf(r.body), query_id: r.queryId, response_headers: responseHeaders(r, engine.timezone), http_status_code: 200 };
    },
    async command(params: ConnCommandParams) {
      const r = await run(() => request(params));
      return { query_id: r.queryId, summary: r.summary, response_headers: responseHeaders(r, engine.timezone), http_status_code: 200 };
    },
    async exec(params: ConnExecParams) {
      const r = await run(() => request(params, params.values !== undefined ? { data: params.values } : {}));
      return {
        stream: readableOf(r.body),
        query_id: r.queryId,
        summary: r.summary,
        response_headers: responseHeaders(r, engine.timezone),
        http_status_code: 200,
      };
    },
    async insert(params: ConnInsertParams) {
      const r = await run(() => request(params, { data: params.values }));
      return { query_id: r.queryId, summary: r.summary, response_headers: responseHeaders(r, engine.timezone), http_status_code: 200 };
    },
    async close() {
      if (options.closeEngine) await engine.close();
    },
  };
}

// ---------------------------------------------------------------------------
// createClickHouseClient

export interface ClickHouseClientSettings {
  /** http(s)://host:8123 of a server; absent: the embedded engine. */
  readonly url?: string;
  readonly database: string;
  readonly username?: string;
  readonly password?: string;
  /** Embedded engine data directory (default: see defaultClickHouseDataDir). */
  readonly dataDir?: string;
  /**
   * Run CREATE DATABASE IF NOT EXISTS first. Default: true embedded (the
   * engine is ours), false for a server (its user may lack the grant).
   */
  readonly createDatabase?: boolean;
  /** Settings sent with every statement (on top of output_format_json_quote_64bit_integers=1). */
  readonly clickhouseSettings?: ClickHouseSettings;
  /** Server only: per-request timeout (clickhouse-js default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Server only: gzip request and response bodies. Default true. */
  readonly compression?: boolean;
  /** Sent in the User-Agent (server) so queries can be told apart in system.query_log. */
  readonly application?: string;
}

export type ClickHouseTarget =
  | { readonly kind: 'server'; readonly url: string; readonly source: 'env' | 'settings' }
  | { readonly kind: 'embedded'; readonly dataDir: string };

/** Where ClickHouse is (see the module comment for the order). */
export function resolveClickHouseTarget(settings: Pick<ClickHouseClientSettings, 'url' | 'dataDir'>, env: Env = process.env): ClickHouseTarget {
  const fromEnv = env.PAGELOOP_CLICKHOUSE_URL?.trim();
  const url = fromEnv ? fromEnv : settings.url?.trim();
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`${fromEnv ? 'PAGELOOP_CLICKHOUSE_URL' : 'clickhouse url'}: '${url}' is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`${fromEnv ? 'PAGELOOP_CLICKHOUSE_URL' : 'clickhouse url'}: '${url}' must be http:// or https:// (ClickHouse's HTTP interface)`);
    }
    return { kind: 'server', url, source: fromEnv ? 'env' : 'settings' };
  }
  return { kind: 'embedded', dataDir: settings.dataDir ?? defaultClickHouseDataDir(env) };
}

export interface StatementOptions {
  /** Values for `{name:Type}` placeholders. */
  readonly params?: Record<string, unknown>;
  readonly settings?: ClickHouseSettings;
  readonly queryId?: string;
  readonly signal?: AbortSignal;
}

export interface InsertOptions {
  readonly settings?: ClickHouseSettings;
  /**
   * insert_deduplication_token: a replay of the same block with the same
   * token is dropped (needs replicated tables, or MergeTree with
   * non_replicated_deduplication_window > 0). A token must name exactly one
   * block's content: a different block sent under a used token is dropped too.
   */
  readonly deduplicationToken?: string;
  readonly columns?: readonly string[];
  readonly queryId?: string;
  readonly signal?: AbortSignal;
}

/** The few calls pageloop needs, identical on both paths, failing with PageloopError. */
export interface PageloopClickHouse {
  readonly mode: 'embedded' | 'server';
  readonly database: string;
  /** The @clickhouse/client client itself, for anything else (streams, exec, raw formats). */
  readonly client: ClickHouseClient;
  /** Embedded only: the engine, e.g. to serve it over HTTP (deploy/clickhouse/http-endpoint.ts). */
  readonly engine: EmbeddedClickHouseEngine | undefined;
  command(sql: string, options?: StatementOptions): Promise<void>;
  /** Rows as JSONEachRow, one block (so one deduplication unit). */
  insert<T extends object>(table: string, rows: readonly T[], options?: InsertOptions): Promise<void>;
  queryRows<T>(sql: string, options?: StatementOptions): Promise<T[]>;
  /** Throws (retriable) if ClickHouse does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

function statementParams(options: StatementOptions | undefined): {
  query_params?: Record<string, unknown>;
  clickhouse_settings?: ClickHouseSettings;
  query_id?: string;
  abort_signal?: AbortSignal;
} {
  return {
    ...(options?.params !== undefined ? { query_params: options.params } : {}),
    ...(options?.settings !== undefined ? { clickhouse_settings: options.settings } : {}),
    ...(options?.queryId !== undefined ? { query_id: options.queryId } : {}),
    ...(options?.signal !== undefined ? { abort_signal: options.signal } : {}),
  };
}

/** Short SQL for error messages. */
function sqlSummary(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
}

function wrap(mode: 'embedded' | 'server', database: string, client: ClickHouseClient, engine: EmbeddedClickHouseEngine | undefined): PageloopClickHouse {
  return {
    mode,
    database,
    client,
    engine,
    async command(sql, options) {
      try {
        await client.command({ query: sql, ...statementParams(options) });
      } catch (err) {
        throw toPageloopError(err, `clickhouse command '${sqlSummary(sql)}'`);
      }
    },
    async insert(table, rows, options) {
      if (rows.length === 0) return;
      const settings: ClickHouseSettings = {
        ...options?.settings,
        ...(options?.deduplicationToken !== undefined ? { insert_deduplication_token: options.deduplicationToken } : {}),
      };
      try {
        await client.insert({
          table,
          values: rows,
          format: 'JSONEachRow',
          clickhouse_settings: settings,
          ...(options?.columns !== undefined ? { columns: [...options.columns] as [string, ...string[]] } : {}),
          ...(options?.queryId !== undefined ? { query_id: options.queryId } : {}),
          ...(options?.signal !== undefined ? { abort_signal: options.signal } : {}),
        });
      } catch (err) {
        throw toPageloopError(err, `clickhouse insert into ${table} (${rows.length} rows)`);
      }
    },
    async queryRows<T>(sql: string, options?: StatementOptions): Promise<T[]> {
      try {
        const rs = await client.query({ query: sql, format: 'JSONEachRow', ...statementParams(options) });
        return await rs.json<T>();
      } catch (err) {
        throw toPageloopError(err, `clickhouse query '${sqlSummary(sql)}'`);
      }
    },
    async ping() {
      const r = await client.ping({ select: true });
      if (!r.success) throw toPageloopError(r.error, 'clickhouse ping');
    },
    async close() {
      await client.close();
    },
  };
}

function checkDatabaseName(name: string): void {
  if (!IDENTIFIER.test(name)) {
    throw new UsageError(`clickhouse database: '${name}' must be letters, digits and _ (not starting with a digit)`);
  }
}

/** A ClickHouse client for pageloop: embedded engine by default, a server when a URL is given. */
export async function createClickHouseClient(settings: ClickHouseClientSettings, env: Env = process.env): Promise<PageloopClickHouse> {
  checkDatabaseName(settings.database);
  const target = resolveClickHouseTarget(settings, env);
  const application = settings.application ?? 'pageloop';
  // 64-bit integers as JSON strings: exact past 2^53, and the same on every
  // server version (the default flipped to unquoted in recent ClickHouse,
  // chDB 26.x included), so rows read the same embedded and from a server.
  const clickhouseSettings: ClickHouseSettings = { output_format_json_quote_64bit_integers: 1, ...settings.clickhouseSettings };
  if (target.kind === 'server') {
    const username = settings.username ?? env.PAGELOOP_CLICKHOUSE_USER;
    const password = settings.password ?? env.PAGELOOP_CLICKHOUSE_PASSWORD;
    const base: ClickHouseClientConfigOptions = {
      url: target.url,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      application,
      ...(settings.requestTimeoutMs !== undefined ? { request_timeout: settings.requestTimeoutMs } : {}),
      compression: { request: settings.compression ?? true, response: settings.compression ?? true },
      clickhouse_settings: clickhouseSettings,
    };
    if (settings.createDatabase === true) {
      const boot = createClient({ ...base, database: 'default' });
      try {
        await boot.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(settings.database)}` });
      } catch (err) {
        throw toPageloopError(err, `create database ${settings.database}`);
      } finally {
        await boot.close();
      }
    }
    return wrap('server', settings.database, createClient({ ...base, database: settings.database }), undefined);
  }
  const engine = await openEmbeddedEngine({ dataDir: target.dataDir });
  try {
    if (settings.createDatabase ?? true) {
      await engine.execute({ sql: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(settings.database)}` });
    }
  } catch (err) {
    await engine.close();
    throw toPageloopError(err, `create database ${settings.database}`);
  }
  const client = createClient({
    connection: createEmbeddedConnection(engine, settings.database, { closeEngine: true }),
    database: settings.database,
    application,
    clickhouse_settings: clickhouseSettings,
  });
  return wrap('embedded', settings.database, client, engine);
}
