/**
 * The embedded ClickHouse engine served on a loopback HTTP endpoint that
 * speaks enough of ClickHouse's HTTP interface for Grafana's ClickHouse data
 * source (protocol http, clickhouse-go), @clickhouse/client and curl:
 *
 *   GET|POST /?query=...   the query in the URL and/or the body; for
 *                          `INSERT ... FORMAT X` the body is the data
 *                          (streamed to the engine, any format)
 *   database, default_format, query_id, param_<name>, any setting as a URL
 *   parameter; X-ClickHouse-User/Key/Database/Format headers; Basic auth;
 *   multipart/form-data with query and param_<name> parts (clickhouse-js
 *   sends long parameters that way)
 *   Content-Encoding gzip|deflate|br request bodies; gzip|deflate|br
 *   responses when enable_http_compression=1 and Accept-Encoding allow it
 *   GET /ping, GET /replicas_status  ->  "Ok.\n"
 *
 * Responses carry X-ClickHouse-Query-Id, -Format, -Timezone, -Summary and
 * -Server-Display-Name; errors are ClickHouse's "Code: N. DB::Exception: ...
 * (NAME) (version V)" text with X-ClickHouse-Exception-Code and the HTTP
 * status ClickHouse gives that code. GET runs read-only (readonly=2), as on
 * a server.
 *
 * With `tls` it is HTTPS instead (ClickHouse's https_port), and with a
 * client CA it wants a client certificate signed by it (mutual TLS, as a
 * server's <verificationMode>strict</verificationMode>): what a fleet's
 * sinks and Grafana are pointed at when it is reached over the network.
 *
 * Native output honours client_protocol_version (clickhouse/native-revision.ts), which is
 * what clickhouse-go, and so Grafana over http, decodes.
 *
 * Not supported (answered with NOT_IMPLEMENTED): session_id, ClickHouse's
 * own block compression (compress=1 / decompress=1, clickhouse-go's lz4/zstd
 * over HTTP), external tables as file parts. Results are buffered whole
 * before they are sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { EmbeddedClickHouseEngine, EngineRequest } from '../../clickhouse/embedded.js';
import { ClickHouseQueryError, clickHouseErrorText } from '../../clickhouse/errors.js';
import { insertWithFormat, isHttpOnlyParam, outsideReach } from '../../clickhouse/sql.js';
import { PageloopError, UsageError, errorMessage } from '../../lib/errors.js';
import { basicAuthCredentials, isLoopback, sameSecret } from '../../lib/net.js';
import { NativeFormatError, nativeForClientRevision } from '../../clickhouse/native-revision.js';

export const DEFAULT_HTTP_HOST = '127.0.0.1';
export const DEFAULT_HTTP_PORT = 8123;
/** Queries (and inline data) in a body are read into memory; past this, refuse. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;
const DISPLAY_NAME = 'pageloop-chdb';

export interface ClickHouseHttpEndpointOptions {
  readonly engine: EmbeddedClickHouseEngine;
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port?: number;
  /** The one user the endpoint knows; default `default`. */
  readonly username?: string;
  /** Default empty, as ClickHouse's default user; required off loopback. */
  readonly password?: string;
  /**
   * Every request read-only (readonly=2: settings may change, data and
   * schema may not). Default true: the endpoint is for Grafana, whose side
   * never writes; false only for a writer that uses the embedded engine as a
   * server (tests of the sink against a server).
   */
  readonly readonly?: boolean;
  readonly maxBodyBytes?: number;
  /** Serve HTTPS with this certificate; with `clientCa`, only to clients whose certificate it signed. */
  readonly tls?: EndpointTls;
}

/** The endpoint's settings as a command or the stack gives them (the engine and TLS come beside them). */
export interface HttpEndpointConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  username: string;
  password: string;
  /** See ClickHouseHttpEndpointOptions.readonly. */
  readonly: boolean;
}

export const DEFAULT_HTTP_ENDPOINT_CONFIG: Readonly<HttpEndpointConfig> = Object.freeze({
  host: DEFAULT_HTTP_HOST,
  port: DEFAULT_HTTP_PORT,
  username: 'default',
  password: '',
  readonly: true,
});

/** Throws a UsageError naming the key. */
export function validateHttpEndpointConfig(c: HttpEndpointConfig): void {
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) throw new UsageError(`port: wants an integer from 0 to 65535, got ${c.port}`);
  if (typeof c.host !== 'string' || c.host === '' || (isIP(c.host) === 0 && c.host !== 'localhost')) throw new UsageError(`host: wants an IP address or localhost, got '${String(c.host)}'`);
  if (typeof c.username !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(c.username)) throw new UsageError(`username: wants letters, digits, _ . -, got '${String(c.username)}'`);
  // An engine that runs any SQL, files included, must not be open to the network.
  if (!isLoopback(c.host) && c.password === '') throw new UsageError(`password: ${c.host} is not loopback; serving the embedded engine beyond this machine needs one`);
}

export interface EndpointTls {
  /** PEM */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** PEM of the CA client certificates must chain to; absent: no client certificate asked for. */
  readonly clientCa?: Buffer;
}

export interface ClickHouseHttpEndpoint {
  /** http(s)://host:port, what a client or Grafana data source is given. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Pure pieces

/** HTTP status ClickHouse answers a failed query with, by error name (its exceptionCodeToHTTPStatus). */
export function httpStatusForError(name: string | undefined): number {
  switch (name) {
    case 'REQUIRED_PASSWORD':
      return 401;
    case 'UNKNOWN_USER':
    case 'WRONG_PASSWORD':
    case 'AUTHENTICATION_FAILED':
    case 'SET_NON_GRANTED_ROLE':
    case 'ACCESS_DENIED':
      return 403;
    case 'BAD_ARGUMENTS':
    case 'CANNOT_COMPILE_REGEXP':
    case 'CANNOT_PARSE_TEXT':
    case 'CANNOT_PARSE_ESCAPE_SEQUENCE':
    case 'CANNOT_PARSE_QUOTED_STRING':
    case 'CANNOT_PARSE_DATE':
    case 'CANNOT_PARSE_DATETIME':
    case 'CANNOT_PARSE_NUMBER':
    case 'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING':
    case 'CANNOT_PARSE_IPV4':
    case 'CANNOT_PARSE_IPV6':
    case 'CANNOT_PARSE_INPUT_ASSERTION_FAILED':
    case 'CANNOT_PARSE_UUID':
    case 'DUPLICATE_COLUMN':
    case 'ILLEGAL_COLUMN':
    case 'UNKNOWN_ELEMENT_IN_AST':
    case 'UNKNOWN_TYPE_OF_AST_NODE':
    case 'THERE_IS_NO_COLUMN':
    case 'TOO_DEEP_AST':
    case 'TOO_BIG_AST':
    case 'UNEXPECTED_AST_STRUCTURE':
    case 'SYNTAX_ERROR':
    case 'INCORRECT_DATA':
    case 'TYPE_MISMATCH':
    case 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE':
      return 400;
    case 'UNKNOWN_TABLE':
    case 'UNKNOWN_FUNCTION':
    case 'UNKNOWN_IDENTIFIER':
    case 'UNKNOWN_TYPE':
    case 'UNKNOWN_STORAGE':
    case 'UNKNOWN_DATABASE':
    case 'UNKNOWN_SETTING':
    case 'UNKNOWN_DIRECTION_OF_SORTING':
    case 'UNKNOWN_AGGREGATE_FUNCTION':
    case 'UNKNOWN_FORMAT':
    case 'UNKNOWN_DATABASE_ENGINE':
    case 'UNKNOWN_TYPE_OF_QUERY':
    case 'UNKNOWN_ROLE':
      return 404;
    case 'QUERY_IS_TOO_LARGE':
      return 413;
    case 'NOT_IMPLEMENTED':
      return 501;
    case 'SOCKET_TIMEOUT':
    case 'CANNOT_OPEN_FILE':
    case 'CANNOT_SCHEDULE_TASK':
      return 503;
    case 'HTTP_LENGTH_REQUIRED':
      return 411;
    case 'TIMEOUT_EXCEEDED':
      return 408;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    default:
      return 500;
  }
}

/** Content-Type for a result in `format`. */
export function contentTypeFor(format: string): string {
  if (/^(TabSeparated|TSV)/.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (/^CSV/.test(format)) return `text/csv; charset=UTF-8; header=${/WithNames/.test(format) ? 'present' : 'absent'}`;
  if (/^JSON.*EachRow/.test(format) || format === 'JSONLines' || format === 'NDJSON') return 'application/x-ndjson; charset=UTF-8';
  if (/^JSON/.test(format)) return 'application/json; charset=UTF-8';
  if (format === 'XML') return 'application/xml; charset=UTF-8';
  if (/^(Native|RowBinary|Parquet|Arrow|ORC|Avro|Protobuf|MsgPack|CapnProto|BSONEachRow|Npy)/.test(format)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

type Codec = 'gzip' | 'deflate' | 'br';

/** The response codec: only when the client set enable_http_compression and accepts one we have. */
export function responseCodec(enableHttpCompression: string | undefined, acceptEncoding: string | undefined): Codec | undefined {
  if (enableHttpCompression === undefined || !['1', 'true'].includes(enableHttpCompression.toLowerCase())) return undefined;
  const accepted = (acceptEncoding ?? '')
    .toLowerCase()
    .split(',')
    .map((s) => s.split(';')[0]!.trim());
  return (['gzip', 'deflate', 'br'] as const).find((c) => accepted.includes(c));
}

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** Who the request says it is: Basic auth, X-ClickHouse-User/Key, or user/password parameters. */
export function requestCredentials(headers: IncomingMessage['headers'], search: URLSearchParams): Credentials {
  const basic = basicAuthCredentials(headers.authorization);
  if (basic) return basic;
  const headerUser = headers['x-clickhouse-user'];
  if (typeof headerUser === 'string') {
    const key = headers['x-clickhouse-key'];
    return { user: headerUser, password: typeof key === 'string' ? key : '' };
  }
  return { user: search.get('user') ?? 'default', password: search.get('password') ?? '' };
}

/** What a request asks for, apart from its body. */
export interface ParsedParams {
  readonly query: string;
  readonly database?: string;
  readonly defaultFormat?: string;
  readonly queryId?: string;
  readonly settings: Record<string, string>;
  readonly params: Record<string, string>;
  /** The TCP protocol revision the client decodes Native with (clickhouse-go sends it). */
  readonly clientProtocolVersion?: number;
  /** A parameter we cannot honour (session_id, compress, ...). */
  readonly unsupported?: string;
}

/** URL (and multipart) parameters sorted into query, context, parameters and settings. */
export function parseRequestParams(entries: Iterable<[string, string]>, headers: IncomingMessage['headers']): ParsedParams {
  let query = '';
  let database: string | undefined;
  let defaultFormat: string | undefined;
  let queryId: string | undefined;
  let clientProtocolVersion: number | undefined;
  let unsupported: string | undefined;
  const settings: Record<string, string> = {};
  const params: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (name === 'query') query = value;
    else if (name === 'database') database = value;
    else if (name === 'default_format') defaultFormat = value;
    else if (name === 'query_id') queryId = value;
    else if (name === 'client_protocol_version') {
      const v = Number(value);
      if (Number.isInteger(v) && v >= 0) clientProtocolVersion = v;
    }
    else if (name.startsWith('param_')) params[name.slice(6)] = value;
    else if ((name === 'session_id' && value !== '') || ((name === 'compress' || name === 'decompress') && value !== '0')) {
      unsupported ??= name;
    } else if (!isHttpOnlyParam(name)) settings[name] = value;
  }
  const headerDb = headers['x-clickhouse-database'];
  const headerFormat = headers['x-clickhouse-format'];
  if (database === undefined && typeof headerDb === 'string') database = headerDb;
  if (defaultFormat === undefined && typeof headerFormat === 'string') defaultFormat = headerFormat;
  return {
    query,
    ...(database !== undefined ? { database } : {}),
    ...(defaultFormat !== undefined ? { defaultFormat } : {}),
    ...(queryId !== undefined ? { queryId } : {}),
    settings,
    params,
    ...(clientProtocolVersion !== undefined ? { clientProtocolVersion } : {}),
    ...(unsupported !== undefined ? { unsupported } : {}),
  };
}

/**
 * A body holding `INSERT ... FORMAT X` followed by its data, split where
 * ClickHouse splits it: the data starts after the first newline following
 * the format name if only blanks come before it, else after the blanks.
 * Offsets are found on a latin1 view so they are byte offsets.
 */
export function splitInlineInsert(body: Buffer, maxHeadBytes = 1 << 20): { sql: string; data: Buffer } | undefined {
  const head = body.subarray(0, Math.min(body.length, maxHeadBytes)).toString('latin1');
  const shape = insertWithFormat(head);
  if (typeof shape === 'string') return undefined;
  let at = shape.formatEnd;
  while (at < head.length && (head[at] === ' ' || head[at] === '\t' || head[at] === '\r')) at++;
  if (head[at] === '\n') at++;
  return { sql: body.subarray(0, shape.formatEnd).toString('utf8'), data: body.subarray(at) };
}

// ---------------------------------------------------------------------------
// The server

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

function decompressor(encoding: string | undefined): NodeJS.ReadWriteStream | undefined {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      throw new HttpError(89, 'UNKNOWN_COMPRESSION_METHOD', `Unknown HTTP Content-Encoding: ${encoding}`);
  }
}

/** The request body, decompressed, as a stream. */
function bodyStream(req: IncomingMessage): Readable {
  const d = decompressor(req.headers['content-encoding']);
  return d ? (req.pipe(d) as unknown as Readable) : req;
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += b.length;
    if (size > limit) throw new HttpError(229, 'QUERY_IS_TOO_LARGE', `Request body is larger than ${limit} bytes; send INSERT data with the query in the URL so it is streamed`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

const compressors: Record<Codec, (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(zlib.gzip),
  deflate: promisify(zlib.deflate),
  br: promisify(zlib.brotliCompress),
};

interface Handler {
  readonly engine: EmbeddedClickHouseEngine;
  readonly username: string;
  readonly password: string;
  readonly readonly: boolean;
  readonly maxBodyBytes: number;
}

function sendText(res: ServerResponse, status: number, text: string, head = false): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': Buffer.byteLength(text), 'X-ClickHouse-Server-Display-Name': DISPLAY_NAME });
  res.end(head ? undefined : text);
}

function sendError(res: ServerResponse, h: Handler, err: unknown, queryId: string | undefined): void {
  let code: number;
  let name: string;
  let text: string;
  if (err instanceof HttpError) {
    ({ code, errorName: name } = err);
    text = clickHouseErrorText(code, name, err.message);
  } else if (err instanceof ClickHouseQueryError && err.clickhouseCode !== undefined) {
    code = err.clickhouseCode;
    name = err.clickhouseName ?? 'UNKNOWN_EXCEPTION';
    text = err.message;
  } else {
    code = 1001;
    name = 'STD_EXCEPTION';
    text = clickHouseErrorText(code, name, errorMessage(err));
  }
  const body = `${text.trimEnd()} (version ${h.engine.version})\n`;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(httpStatusForError(name), {
    'Content-Type': 'text/plain; charset=UTF-8',
    'Content-Length': Buffer.byteLength(body),
    'X-ClickHouse-Exception-Code': String(code),
    'X-ClickHouse-Server-Display-Name': DISPLAY_NAME,
    ...(queryId !== undefined ? { 'X-ClickHouse-Query-Id': queryId } : {}),
  });
  res.end(body);
}

async function handleQuery(h: Handler, req: IncomingMessage, res: ServerResponse, url: URL, signal: AbortSignal): Promise<void> {
  const method = req.method ?? 'GET';
  const entries: [string, string][] = [...url.searchParams.entries()];
  let body: Readable | undefined = method === 'POST' ? bodyStream(req) : undefined;
  const contentType = req.headers['content-type'] ?? '';
  if (body && /^multipart\/form-data/i.test(contentType)) {
    // Form fields are parameters (query, param_*); the body carries no data.
    const raw = await readAll(body, h.maxBodyBytes);
    const form = await new Request('http://local/', { method: 'POST', body: Uint8Array.from(raw), headers: { 'content-type': contentType } }).formData();
    for (const [name, value] of form.entries()) {
      if (typeof value !== 'string') throw new HttpError(48, 'NOT_IMPLEMENTED', `external tables (file part '${name}') are not supported`);
      entries.push([name, value]);
    }
    body = undefined;
  }
  const p = parseRequestParams(entries, req.headers);
  if (p.unsupported !== undefined) {
    throw new HttpError(48, 'NOT_IMPLEMENTED', `the parameter '${p.unsupported}' is not supported by the embedded engine's HTTP endpoint`);
  }
  const base: Omit<EngineRequest, 'sql'> = {
    ...(p.database !== undefined ? { database: p.database } : {}),
    settings: p.settings,
    params: p.params,
    ...(p.defaultFormat !== undefined ? { defaultFormat: p.defaultFormat } : {}),
    ...(p.queryId !== undefined ? { queryId: p.queryId } : {}),
    ...(h.readonly || method !== 'POST' ? { readonly: 2 as const } : {}),
    signal,
  };
  let request: EngineRequest;
  if (p.query !== '' && body && typeof insertWithFormat(p.query) !== 'string') {
    // INSERT ... FORMAT X in the URL: the body is the data, streamed through.
    request = { ...base, sql: p.query, data: body };
  } else {
    const raw = body ? await readAll(body, h.maxBodyBytes) : Buffer.alloc(0);
    if (p.query !== '') {
      // As ClickHouse does: the URL's query, a newline, then the body.
      request = { ...base, sql: raw.length > 0 ? `${p.query}\n${raw.toString('utf8')}` : p.query };
    } else if (raw.length > 0) {
      const inline = splitInlineInsert(raw);
      request = inline ? { ...base, sql: inline.sql, data: inline.data } : { ...base, sql: raw.toString('utf8') };
    } else {
      throw new HttpError(62, 'SYNTAX_ERROR', 'Empty query');
    }
  }
  const reach = outsideReach(request.sql);
  if (reach !== undefined) {
    // ClickHouse's own answer for a grant the user lacks; the engine runs as root, so no query may leave the database.
    throw new HttpError(497, 'ACCESS_DENIED', `${reach}: queries through this endpoint cannot reach files, URLs, other servers or programs`);
  }
  const result = await h.engine.execute(request);
  let resultBody = result.body;
  if (result.format === 'Native' && p.clientProtocolVersion) {
    try {
      resultBody = nativeForClientRevision(resultBody, p.clientProtocolVersion);
    } catch (err) {
      if (err instanceof NativeFormatError) throw new HttpError(48, 'NOT_IMPLEMENTED', err.message);
      throw err;
    }
  }
  const codec = responseCodec(p.settings.enable_http_compression, req.headers['accept-encoding']);
  const payload = codec ? await compressors[codec](resultBody) : resultBody;
  res.writeHead(200, {
    'Content-Type': contentTypeFor(result.format),
    'Content-Length': payload.length,
    'X-ClickHouse-Query-Id': result.queryId,
    'X-ClickHouse-Format': result.format,
    'X-ClickHouse-Timezone': h.engine.timezone,
    'X-ClickHouse-Server-Display-Name': DISPLAY_NAME,
    'X-ClickHouse-Summary': JSON.stringify(result.summary),
    ...(codec ? { 'Content-Encoding': codec, Vary: 'Accept-Encoding' } : {}),
  });
  res.end(method === 'HEAD' ? undefined : payload);
}

async function handle(h: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Node's parser passes targets URL() refuses ('//host:99999'): answer those, or the rejection would end the process.
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://local');
  } catch {
    req.resume();
    sendError(res, h, new HttpError(36, 'BAD_ARGUMENTS', `Cannot parse the request target ${JSON.stringify(req.url)}: send GET|POST /?query=...`), undefined);
    return;
  }
  const method = req.method ?? 'GET';
  // Dropped connections stop waiting (chDB finishes the statement regardless).
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  try {
    if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') {
      throw new HttpError(1, 'UNSUPPORTED_METHOD', `HTTP method ${method} is not supported; use GET or POST`);
    }
    if (url.pathname === '/ping' || url.pathname === '/replicas_status') {
      sendText(res, 200, 'Ok.\n', method === 'HEAD');
      return;
    }
    if (url.pathname !== '/') {
      sendText(res, 404, `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\nOr /replicas_status for more sophisticated health checks.\n\nSend queries from your program with POST method or GET /?query=...\n`);
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && !url.searchParams.has('query')) {
      // A health check, answered without credentials as ClickHouse does.
      sendText(res, 200, 'Ok.\n', method === 'HEAD');
      return;
    }
    const who = requestCredentials(req.headers, url.searchParams);
    if (who.user !== h.username || !sameSecret(who.password, h.password)) {
      throw new HttpError(516, 'AUTHENTICATION_FAILED', `${who.user}: Authentication failed: password is incorrect, or there is no user with such name`);
    }
    await handleQuery(h, req, res, url, controller.signal);
  } catch (err) {
    // Unread request bodies would otherwise stall a keep-alive connection.
    req.resume();
    sendError(res, h, err, url.searchParams.get('query_id') ?? undefined);
  }
}

/** Serves `engine` over ClickHouse's HTTP interface until close(). */
export async function startClickHouseHttpEndpoint(options: ClickHouseHttpEndpointOptions): Promise<ClickHouseHttpEndpoint> {
  const host = options.host ?? DEFAULT_HTTP_HOST;
  const port = options.port ?? DEFAULT_HTTP_PORT;
  const password = options.password ?? '';
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`clickhouse http port: ${port} is not a port`);
  if (!isLoopback(host) && password === '') {
    // An engine that runs any SQL, files included, must not be open to the network.
    throw new UsageError(`clickhouse http host: ${host} is not loopback; serving the embedded engine beyond this machine needs a password`);
  }
  const handler: Handler = {
    engine: options.engine,
    username: options.username ?? 'default',
    password,
    readonly: options.readonly ?? true,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
  };
  const serve = (req: IncomingMessage, res: ServerResponse): void => void handle(handler, req, res);
  const tls = options.tls;
  const server: Server = tls
    ? createHttpsServer(
        { cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) },
        serve,
      )
    : createServer(serve);
  // ClickHouse's keep_alive_timeout default; the client trims its idle sockets to match.
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolveListen, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        err.code === 'EADDRINUSE'
          ? new PageloopError('clickhouse-http-port', `${host}:${port} is already in use by another process; choose another port`)
          : new PageloopError('clickhouse-http', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolveListen();
    });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return {
    url: `${tls ? 'https' : 'http'}://${urlHost}:${boundPort}`,
    host,
    port: boundPort,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeIdleConnections();
      }),
  };
}
