/**
 * ClickHouse failures as PageloopErrors that say whether a retry helps: the
 * engine's "Code: N. DB::Exception: ... (NAME)" text parsed and written,
 * ClickHouseQueryError with the code and name, and toPageloopError for any
 * failure of either path (embedded engine or a server over HTTP).
 */
import { ClickHouseError } from '@clickhouse/client';
import { PageloopError, errorMessage } from '../lib/errors.js';

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
  // A full disk passes when space is freed (an operator, TTL, merges); the
  // chaos run's disk-full fault found the sink exiting on it instead.
  'NOT_ENOUGH_SPACE',
]);

/**
 * A full disk as the engine reports it when the write itself fails rather
 * than its reservation: a std::exception with the errno text, e.g.
 * "ClickHouse error 1001 (STD_EXCEPTION): ENOSPC: no space left on device, write".
 */
export function isDiskFullMessage(message: string): boolean {
  return /\bENOSPC\b|no space left on device/i.test(message);
}

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

/** Refusals of who the client says it is: the same credentials are refused again. */
const CREDENTIAL_ERRORS: ReadonlySet<string> = new Set(['AUTHENTICATION_FAILED', 'WRONG_PASSWORD', 'UNKNOWN_USER', 'REQUIRED_PASSWORD']);

/**
 * Node's TLS failures (certificate checks, handshake alerts): a wrong CA,
 * a server name the certificate does not cover, a client certificate the
 * server refuses. None passes by itself.
 */
export function isTlsFailureCode(code: string): boolean {
  return (
    /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_(GET|VERIFY|DECRYPT|DECODE)_)/.test(code) ||
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'HOSTNAME_MISMATCH', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE'].includes(code)
  );
}

/** What to tell a person about a failure no retry fixes, by ClickHouse error name; undefined for the others. */
export function credentialAdvice(name: string | undefined): string | undefined {
  if (name === undefined || !CREDENTIAL_ERRORS.has(name)) return undefined;
  return 'the server refused these credentials, a retry will not help: check clickhouse.username/clickhouse.password (or PAGELOOP_CLICKHOUSE_USER/PAGELOOP_CLICKHOUSE_PASSWORD)';
}

export function isRetriableClickHouseError(name: string | undefined): boolean {
  return name !== undefined && RETRIABLE_CLICKHOUSE_ERRORS.has(name);
}

/** A statement the engine or server refused; `clickhouseName` is e.g. UNKNOWN_TABLE. */
export class ClickHouseQueryError extends PageloopError {
  readonly clickhouseCode: number | undefined;
  readonly clickhouseName: string | undefined;

  constructor(message: string, info: { code?: number; name?: string; cause?: unknown } = {}) {
    super('clickhouse', message, { retriable: isRetriableClickHouseError(info.name) || isDiskFullMessage(message), cause: info.cause });
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

/** A ClickHouseQueryError in the engine's own words, for refusals pageloop makes itself (bad names, bad INSERT shapes). */
export function engineError(code: number, name: string, message: string): ClickHouseQueryError {
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
    const advice = credentialAdvice(err.type);
    return new ClickHouseQueryError(`${what}: ClickHouse error ${err.code} (${err.type ?? 'unknown'}): ${err.message.trim()}${advice ? `; ${advice}` : ''}`, {
      ...(Number.isFinite(code) ? { code } : {}),
      ...(err.type !== undefined ? { name: err.type } : {}),
      cause: err,
    });
  }
  const sysCode = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const message = errorMessage(err);
  if (isTlsFailureCode(sysCode)) {
    return new PageloopError('clickhouse-tls', `${what}: TLS with the ClickHouse server failed (${sysCode}): ${message.trim()}; a retry will not help: check clickhouse.url and clickhouse.tls (ca, cert, key)`, {
      cause: err,
    });
  }
  if (RETRIABLE_NETWORK_CODES.has(sysCode) || /socket hang up|Timeout error/i.test(message)) {
    return new PageloopError('clickhouse-unreachable', `${what}: ClickHouse not reachable: ${message}`, {
      retriable: true,
      cause: err,
    });
  }
  return new PageloopError('clickhouse', `${what}: ${message}`, { cause: err });
}
