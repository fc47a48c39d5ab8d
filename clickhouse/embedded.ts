/**
 * The embedded engine: ClickHouse in this process through chDB.
 *
 * chDB binds one data directory per process, so there is one engine, shared
 * by handles (openEmbeddedEngine), kept alive by an anchor session. Every
 * statement runs on its own short-lived chDB session (about 0.4 ms), so its
 * database, settings and query parameters (the USE/SET preamble, sql.ts) are
 * scoped to the call exactly as over HTTP, and calls run in parallel up to a
 * limit. Insert bodies are spooled to a file and read with
 * `INSERT ... FROM INFILE`, which takes every input format (binary ones too)
 * and parses in parallel. Results are buffered whole.
 *
 * embedded-connection.ts puts this engine behind @clickhouse/client.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Session, drainPending } from 'chdb';
import { PageloopError, errorMessage } from '../lib/errors.js';
import { createLimiter, type Limiter } from '../lib/limiter.js';
import { ClickHouseQueryError, clickHouseErrorText, engineError, parseClickHouseMessage } from './errors.js';
import { buildPreamble, explicitFormat, insertFromInfile, statementKeyword } from './sql.js';

type Env = Readonly<Record<string, string | undefined>>;

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
      limiter: createLimiter(options.maxConcurrentQueries ?? defaultConcurrency(process.env)),
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
