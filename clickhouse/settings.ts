/**
 * The one place where a command's ClickHouse settings are merged: flags over
 * the config file's `clickhouse` section, the environment over both for the
 * URL and credentials (client.ts), defaults last. The TLS files are read
 * here, so a missing or unreadable one is refused with its key before
 * anything connects.
 */
import { readFileSync } from 'node:fs';
import { UsageError, errorMessage } from '../lib/errors.js';
import type { ClickHouseConfig } from '../schemas/validate.js';
import type { ClickHouseClientSettings, ClickHouseTls } from './client.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface ClickHouseFlags {
  /** --clickhouse-url: replaces the file's url. */
  readonly url?: string;
  /** --clickhouse-dir: the embedded engine's data directory. */
  readonly dataDir?: string;
  /** --database */
  readonly database?: string;
}

/** A PEM file's bytes; the error names the config key and the path. */
export function readPemFile(key: string, path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new UsageError(`${key}: cannot read ${path}: ${errorMessage(err)}`);
  }
  if (!bytes.includes('-----BEGIN ')) throw new UsageError(`${key}: ${path} is not a PEM file (no -----BEGIN line)`);
  return bytes;
}

/** The TLS files of a `clickhouse.tls` section, read. */
export function readClickHouseTls(tls: NonNullable<ClickHouseConfig['tls']>): ClickHouseTls {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new UsageError(`clickhouse.tls.${tls.cert === undefined ? 'cert' : 'key'}: required with clickhouse.tls.${tls.cert === undefined ? 'key' : 'cert'} (mutual TLS needs both)`);
  }
  return {
    ca: readPemFile('clickhouse.tls.ca', tls.ca),
    ...(tls.cert !== undefined ? { cert: readPemFile('clickhouse.tls.cert', tls.cert) } : {}),
    ...(tls.key !== undefined ? { key: readPemFile('clickhouse.tls.key', tls.key) } : {}),
  };
}

/**
 * Client settings for a command: the server at the flag's or file's url
 * (PAGELOOP_CLICKHOUSE_URL still wins, see client.ts) with the file's user,
 * password and TLS, else the embedded engine. A server's database is created
 * if missing when `createDatabase` (the sink's start, which owns the schema).
 */
export function clickHouseSettingsFor(
  file: ClickHouseConfig | undefined,
  flags: ClickHouseFlags,
  defaults: { readonly database: string; readonly createDatabase?: boolean; readonly application?: string },
  env: Env = process.env,
): ClickHouseClientSettings {
  const url = flags.url ?? file?.url;
  const server = url !== undefined || Boolean(env.PAGELOOP_CLICKHOUSE_URL?.trim());
  if (!server && file?.tls) throw new UsageError('clickhouse.tls: set for the embedded engine, which has no TLS: give clickhouse.url (https://) too');
  return {
    database: flags.database ?? file?.database ?? defaults.database,
    ...(url !== undefined ? { url } : {}),
    ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}),
    // The environment's user and password win over the file's (as its URL does), so a unit can keep them out of the file.
    ...(server && env.PAGELOOP_CLICKHOUSE_USER === undefined && file?.username !== undefined ? { username: file.username } : {}),
    ...(server && env.PAGELOOP_CLICKHOUSE_PASSWORD === undefined && file?.password !== undefined ? { password: file.password } : {}),
    ...(server && file?.tls ? { tls: readClickHouseTls(file.tls) } : {}),
    ...(server && defaults.createDatabase !== undefined ? { createDatabase: defaults.createDatabase } : {}),
    ...(defaults.application !== undefined ? { application: defaults.application } : {}),
  };
}
