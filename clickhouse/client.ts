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
 * server it speaks HTTP; embedded, it gets a Connection
 * (embedded-connection.ts) that runs each call on the in-process engine
 * (embedded.ts). So `client.command`, `client.insert`,
 * `client.query(...).json()`, query_params and clickhouse_settings mean the
 * same thing on both, and `PageloopClickHouse` wraps the few calls pageloop
 * needs with its errors (errors.ts).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions, type ClickHouseSettings } from '@clickhouse/client';
import { UsageError, type PageloopError } from '../lib/errors.js';
import { openEmbeddedEngine, type EmbeddedClickHouseEngine } from './embedded.js';
import { createEmbeddedConnection } from './embedded-connection.js';
import { toPageloopError } from './errors.js';
import { isPlainIdentifier, quoteIdentifier } from './sql.js';
import { tlsHandshakeRefusal, type TlsProbeTarget } from './tls-probe.js';

type Env = Readonly<Record<string, string | undefined>>;

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
  /** Server only, https:// only: the CA that signed the server's certificate and, for mutual TLS, the client's certificate and key (PEM). */
  readonly tls?: ClickHouseTls;
}

export interface ClickHouseTls {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** @clickhouse/client's own tls option: the CA alone, or all three for mutual TLS. */
export function clientTlsOption(tls: ClickHouseTls): NonNullable<ClickHouseClientConfigOptions['tls']> {
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new UsageError('clickhouse tls: a client certificate and its key go together (give both or neither)');
  return tls.cert !== undefined && tls.key !== undefined ? { ca_cert: tls.ca, cert: tls.cert, key: tls.key } : { ca_cert: tls.ca };
}

export type ClickHouseTarget =
  | { readonly kind: 'server'; readonly url: string; readonly source: 'env' | 'settings' }
  | { readonly kind: 'embedded'; readonly dataDir: string };

/** $PAGELOOP_CLICKHOUSE_DIR, else $XDG_STATE_HOME/pageloop/clickhouse, else ~/.local/state/pageloop/clickhouse. */
export function defaultClickHouseDataDir(env: Env = process.env): string {
  if (env.PAGELOOP_CLICKHOUSE_DIR) return env.PAGELOOP_CLICKHOUSE_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'pageloop', 'clickhouse');
}

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

/** How a failure maps to a PageloopError; over https a reset is checked for a TLS refusal (tls-probe.ts). */
type Classify = (err: unknown, what: string) => Promise<PageloopError>;

const plainClassify: Classify = async (err, what) => toPageloopError(err, what);

const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

export function httpsClassify(probe: TlsProbeTarget, refusal: (t: TlsProbeTarget) => Promise<NodeJS.ErrnoException | undefined> = tlsHandshakeRefusal): Classify {
  return async (err, what) => {
    const mapped = toPageloopError(err, what);
    const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
    if (!mapped.retriable || !(RESET_CODES.has(code) || /socket hang up/i.test(mapped.message))) return mapped;
    const refused = await refusal(probe);
    return refused === undefined ? mapped : toPageloopError(refused, what);
  };
}

function wrap(mode: 'embedded' | 'server', database: string, client: ClickHouseClient, engine: EmbeddedClickHouseEngine | undefined, classify: Classify = plainClassify): PageloopClickHouse {
  return {
    mode,
    database,
    client,
    engine,
    async command(sql, options) {
      try {
        await client.command({ query: sql, ...statementParams(options) });
      } catch (err) {
        throw await classify(err, `clickhouse command '${sqlSummary(sql)}'`);
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
        throw await classify(err, `clickhouse insert into ${table} (${rows.length} rows)`);
      }
    },
    async queryRows<T>(sql: string, options?: StatementOptions): Promise<T[]> {
      try {
        const rs = await client.query({ query: sql, format: 'JSONEachRow', ...statementParams(options) });
        return await rs.json<T>();
      } catch (err) {
        throw await classify(err, `clickhouse query '${sqlSummary(sql)}'`);
      }
    },
    async ping() {
      const r = await client.ping({ select: true });
      if (!r.success) throw await classify(r.error, 'clickhouse ping');
    },
    async close() {
      await client.close();
    },
  };
}

function checkDatabaseName(name: string): void {
  if (!isPlainIdentifier(name)) {
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
    if (settings.tls && !target.url.toLowerCase().startsWith('https:')) {
      throw new UsageError(`clickhouse tls: given for ${target.url}, which is not https:// (TLS settings are only used over https)`);
    }
    const username = settings.username ?? env.PAGELOOP_CLICKHOUSE_USER;
    const password = settings.password ?? env.PAGELOOP_CLICKHOUSE_PASSWORD;
    const base: ClickHouseClientConfigOptions = {
      url: target.url,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      application,
      ...(settings.tls ? { tls: clientTlsOption(settings.tls) } : {}),
      ...(settings.requestTimeoutMs !== undefined ? { request_timeout: settings.requestTimeoutMs } : {}),
      compression: { request: settings.compression ?? true, response: settings.compression ?? true },
      clickhouse_settings: clickhouseSettings,
    };
    const classify = target.url.toLowerCase().startsWith('https:')
      ? httpsClassify({ url: target.url, ...(settings.tls ? { ca: settings.tls.ca } : {}), ...(settings.tls?.cert ? { cert: settings.tls.cert } : {}), ...(settings.tls?.key ? { key: settings.tls.key } : {}) })
      : plainClassify;
    if (settings.createDatabase === true) {
      const boot = createClient({ ...base, database: 'default' });
      try {
        await boot.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(settings.database)}` });
      } catch (err) {
        throw await classify(err, `create database ${settings.database}`);
      } finally {
        await boot.close();
      }
    }
    return wrap('server', settings.database, createClient({ ...base, database: settings.database }), undefined, classify);
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
