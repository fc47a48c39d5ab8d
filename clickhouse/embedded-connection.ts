/**
 * The embedded engine as a `@clickhouse/client` Connection (the client's
 * `createClient({ connection })` hook), so `client.command`, `client.insert`,
 * `client.query(...).json()`, query_params and clickhouse_settings mean the
 * same thing embedded as over HTTP: settings and parameters are turned into
 * the text the HTTP interface would carry, results come back with the same
 * response headers, and failures as the client's own ClickHouseError.
 *
 * Why not chdb's own `chdb/connection`: it applies clickhouse_settings as
 * `SET` on a session that outlives the call (an insert_deduplication_token
 * would stick to the next insert and silently drop it), ignores the client's
 * database, and inlines insert bodies into one SQL string.
 */
import { Readable } from 'node:stream';
import { parseError, type ClickHouseClientConfigOptions, type ClickHouseSettings } from '@clickhouse/client';
// The exact formatter the HTTP connection uses for `param_<name>` values, so
// embedded and server bind parameters identically. Not re-exported from the
// package root; the package has no exports map, so this deep path is stable
// for the pinned 1.x.
import { formatQueryParams } from '@clickhouse/client/dist/common/index.js';
import type { EmbeddedClickHouseEngine, EngineRequest, EngineResult } from './embedded.js';
import { ClickHouseQueryError, engineError } from './errors.js';
import { isHttpOnlyParam } from './sql.js';

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
