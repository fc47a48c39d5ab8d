/**
 * pageloop's Kafka settings to a kafkajs client config. Where the brokers
 * come from, first match wins:
 *   1. env PAGELOOP_KAFKA_BROKERS (comma separated), so a deployment can
 *      repoint every command without touching its config files;
 *   2. settings.brokers, from a config file or a --brokers flag;
 *   3. the local Kafka started by `pageloop kafka start` (every running
 *      node), read from its state file (kafka/local-state.ts).
 * TLS and SASL go to kafkajs's own options (ssl: node:tls options, sasl:
 * PLAIN, SCRAM-SHA-256/512), checked first with errors naming the key. The
 * TLS files (CA, client certificate and key) are paths, read here. When
 * settings give none, the environment supplies them (for a remote cluster
 * only): PAGELOOP_KAFKA_SSL=1 and/or PAGELOOP_KAFKA_SSL_CA, _CERT, _KEY
 * (paths); PAGELOOP_KAFKA_SASL_MECHANISM (plain, scram-sha-256,
 * scram-sha-512) with PAGELOOP_KAFKA_SASL_USERNAME and
 * PAGELOOP_KAFKA_SASL_PASSWORD. A config file's sasl may leave the password
 * out, and PAGELOOP_KAFKA_SASL_PASSWORD gives it: secrets stay off command
 * lines and out of config files.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, LogEntry, SASLOptions, logCreator } from 'kafkajs';
import kafkajs from 'kafkajs';
import { defaultDataDir, readLocalKafkaState, stateFilePath } from './local-state.js';
import { PageloopError, UsageError, errorMessage } from '../lib/errors.js';
import type { KafkaSaslConfig, KafkaSslOptions } from '../schemas/validate.js';

const { logLevel } = kafkajs;

export interface KafkaSettings {
  /** Bootstrap servers, host:port. Empty or absent: the local broker. */
  readonly brokers?: readonly string[];
  readonly clientId: string;
  /** true for TLS with the system CAs, or TLS options whose ca, cert and key are file paths (PEM). */
  readonly ssl?: boolean | KafkaSslOptions;
  /** SASL/PLAIN or SCRAM-SHA-256/512 (the password may come from PAGELOOP_KAFKA_SASL_PASSWORD). */
  readonly sasl?: KafkaSaslConfig;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** Where to look for the local broker's state; default as `pageloop kafka start` uses. */
  readonly localDataDir?: string;
}

export type BrokerSource = 'env' | 'settings' | 'local';

export interface ResolvedBrokers {
  readonly brokers: string[];
  readonly source: BrokerSource;
}

type Env = Readonly<Record<string, string | undefined>>;

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

function checkBrokers(list: readonly string[], where: string): string[] {
  const out = list.map((b) => b.trim()).filter((b) => b.length > 0);
  for (const b of out) {
    const m = HOST_PORT.exec(b);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) throw new UsageError(`${where}: '${b}' is not host:port`);
  }
  return out;
}

/** Which bootstrap servers to use, and where they came from. */
export function resolveBrokers(settings: Pick<KafkaSettings, 'brokers' | 'localDataDir'>, env: Env = process.env): ResolvedBrokers {
  const fromEnv = env.PAGELOOP_KAFKA_BROKERS;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return { brokers: checkBrokers(fromEnv.split(','), 'PAGELOOP_KAFKA_BROKERS'), source: 'env' };
  }
  const configured = checkBrokers(settings.brokers ?? [], 'brokers');
  if (configured.length > 0) return { brokers: configured, source: 'settings' };
  const dataDir = settings.localDataDir ?? defaultDataDir(env);
  const state = readLocalKafkaState(dataDir);
  if (!state) {
    // Not retriable: nothing will start the broker on its own.
    throw new PageloopError(
      'kafka-not-running',
      `no Kafka brokers given and the local broker is not running (no live ${stateFilePath(dataDir)}): ` +
        'run `pageloop kafka start`, or set PAGELOOP_KAFKA_BROKERS / --brokers to an existing cluster',
      { retriable: false },
    );
  }
  return { brokers: [...state.liveBootstraps], source: 'local' };
}

function positive(v: number | undefined, key: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`${key}: must be a positive integer (milliseconds), got ${v}`);
  return v;
}

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** SASL from the environment (user name and password mechanisms only), or undefined. */
export function saslFromEnv(env: Env = process.env): SASLOptions | undefined {
  const raw = env.PAGELOOP_KAFKA_SASL_MECHANISM;
  if (raw === undefined || raw.trim() === '') return undefined;
  const mechanism = raw.trim().toLowerCase();
  const known = SASL_MECHANISMS.find((m) => m === mechanism);
  if (!known) throw new UsageError(`PAGELOOP_KAFKA_SASL_MECHANISM: '${raw}' is not one of ${SASL_MECHANISMS.join(', ')}`);
  const username = env.PAGELOOP_KAFKA_SASL_USERNAME;
  const password = env.PAGELOOP_KAFKA_SASL_PASSWORD;
  if (!username) throw new UsageError('PAGELOOP_KAFKA_SASL_USERNAME: must be set when PAGELOOP_KAFKA_SASL_MECHANISM is');
  if (password === undefined) throw new UsageError('PAGELOOP_KAFKA_SASL_PASSWORD: must be set when PAGELOOP_KAFKA_SASL_MECHANISM is');
  return { mechanism: known, username, password };
}

/**
 * Settings' SASL as kafkajs takes it, checked key by key. The password may
 * be left out of a config file and come from PAGELOOP_KAFKA_SASL_PASSWORD.
 */
export function saslOptions(sasl: unknown, env: Env = process.env, key = 'kafka.sasl'): SASLOptions {
  if (typeof sasl !== 'object' || sasl === null || Array.isArray(sasl)) throw new UsageError(`${key}: must be an object with mechanism, username and password`);
  const s = sasl as Record<string, unknown>;
  const mechanism = typeof s.mechanism === 'string' ? SASL_MECHANISMS.find((m) => m === s.mechanism) : undefined;
  if (!mechanism) throw new UsageError(`${key}.mechanism: must be one of ${SASL_MECHANISMS.join(', ')} (got ${JSON.stringify(s.mechanism)})`);
  if (typeof s.username !== 'string' || s.username === '') throw new UsageError(`${key}.username: must be a non-empty string`);
  const password = s.password ?? env.PAGELOOP_KAFKA_SASL_PASSWORD;
  if (password === undefined) throw new UsageError(`${key}.password: not given (set it, or env PAGELOOP_KAFKA_SASL_PASSWORD)`);
  if (typeof password !== 'string') throw new UsageError(`${key}.password: must be a string`);
  for (const k of Object.keys(s)) {
    if (!['mechanism', 'username', 'password'].includes(k)) throw new UsageError(`${key}.${k}: unknown key (known: mechanism, username, password)`);
  }
  return { mechanism, username: s.username, password };
}

const PEM_KINDS = { ca: 'CERTIFICATE', cert: 'CERTIFICATE', key: 'PRIVATE KEY' } as const;

/** A PEM file's text, or a UsageError naming the key: unreadable, or not the PEM it should be. */
function readPem(path: unknown, key: string, kind: keyof typeof PEM_KINDS, read: (path: string) => string): string {
  if (typeof path !== 'string' || path === '') throw new UsageError(`${key}: must be the path of a PEM file`);
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new UsageError(`${key}: cannot read ${path}: ${errorMessage(err)}`);
  }
  // "PRIVATE KEY" also matches RSA/EC PRIVATE KEY and ENCRYPTED PRIVATE KEY.
  if (!new RegExp(`-----BEGIN [A-Z ]*${PEM_KINDS[kind]}-----`).test(text)) {
    throw new UsageError(`${key}: ${path} holds no PEM ${PEM_KINDS[kind].toLowerCase()} (no -----BEGIN ...${PEM_KINDS[kind]}----- line)`);
  }
  return text;
}

const SSL_KEYS = ['rejectUnauthorized', 'ca', 'cert', 'key', 'passphrase', 'servername'] as const;

/**
 * Settings' TLS as kafkajs takes it (node:tls options): true stays true, the
 * files are read, and every key is checked; errors name it under `key`.
 */
export function sslOptions(
  ssl: unknown,
  name: (k: string) => string = (k) => `kafka.ssl.${k}`,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): boolean | ConnectionOptions {
  if (typeof ssl === 'boolean') return ssl;
  const whole = name('').replace(/[._]$/, '');
  if (typeof ssl !== 'object' || ssl === null || Array.isArray(ssl)) throw new UsageError(`${whole}: must be true, false or an object (${SSL_KEYS.join(', ')})`);
  const s = ssl as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (!(SSL_KEYS as readonly string[]).includes(k)) throw new UsageError(`${name(k)}: unknown key (known: ${SSL_KEYS.join(', ')})`);
  }
  if (s.cert !== undefined && s.key === undefined) throw new UsageError(`${name('cert')}: given without ${name('key')} (a client certificate needs its private key)`);
  if (s.key !== undefined && s.cert === undefined) throw new UsageError(`${name('key')}: given without ${name('cert')} (a private key needs its client certificate)`);
  if (s.passphrase !== undefined && s.key === undefined) throw new UsageError(`${name('passphrase')}: given without ${name('key')}`);
  const out: ConnectionOptions = {};
  if (s.ca !== undefined) out.ca = readPem(s.ca, name('ca'), 'ca', read);
  if (s.cert !== undefined) out.cert = readPem(s.cert, name('cert'), 'cert', read);
  if (s.key !== undefined) out.key = readPem(s.key, name('key'), 'key', read);
  if (s.passphrase !== undefined) {
    if (typeof s.passphrase !== 'string') throw new UsageError(`${name('passphrase')}: must be a string`);
    out.passphrase = s.passphrase;
  }
  if (s.servername !== undefined) {
    if (typeof s.servername !== 'string' || s.servername === '') throw new UsageError(`${name('servername')}: must be a host name`);
    out.servername = s.servername;
  }
  if (s.rejectUnauthorized !== undefined) {
    if (typeof s.rejectUnauthorized !== 'boolean') throw new UsageError(`${name('rejectUnauthorized')}: must be true or false`);
    out.rejectUnauthorized = s.rejectUnauthorized;
  }
  return out;
}

/** TLS from the environment: PAGELOOP_KAFKA_SSL (1/0) and the file paths PAGELOOP_KAFKA_SSL_CA, _CERT, _KEY. */
export function sslFromEnv(env: Env = process.env): boolean | KafkaSslOptions | undefined {
  const v = env.PAGELOOP_KAFKA_SSL;
  let on: boolean | undefined;
  if (v !== undefined && v !== '') {
    if (['1', 'true', 'yes'].includes(v.toLowerCase())) on = true;
    else if (['0', 'false', 'no'].includes(v.toLowerCase())) on = false;
    else throw new UsageError(`PAGELOOP_KAFKA_SSL: '${v}' is not 1/0/true/false`);
  }
  const files: KafkaSslOptions = {};
  if (env.PAGELOOP_KAFKA_SSL_CA) files.ca = env.PAGELOOP_KAFKA_SSL_CA;
  if (env.PAGELOOP_KAFKA_SSL_CERT) files.cert = env.PAGELOOP_KAFKA_SSL_CERT;
  if (env.PAGELOOP_KAFKA_SSL_KEY) files.key = env.PAGELOOP_KAFKA_SSL_KEY;
  if (Object.keys(files).length === 0) return on;
  if (on === false) throw new UsageError('PAGELOOP_KAFKA_SSL: is 0, but PAGELOOP_KAFKA_SSL_CA/_CERT/_KEY are set (TLS files mean TLS)');
  return files;
}

/**
 * kafkajs logs every error response at ERROR, including the ones it (or the
 * processor runner) retries as a matter of course: a coordinator that is
 * still loading or moved, CONCURRENT_TRANSACTIONS right after a commit, and
 * a partition leader not known yet (a topic just created: kafkajs refreshes
 * its metadata and asks again), and CreateTopics responses (instances
 * starting together race to create the same topics, and the loser's "Topic
 * creation errors" say only that; a creation that really fails is reported
 * by the caller, with the reason). Those are left out; everything else goes
 * to stderr as one JSON line.
 */
const BENIGN = /coordinator is not available|not the correct coordinator|concurrent operation on the same transaction|coordinator is loading|not the leader for that topic-partition|^Response CreateTopics\(/i;

export const quietLogCreator: logCreator = () => (entry: LogEntry) => {
  const { message, ...rest } = entry.log;
  if (BENIGN.test(`${message} ${String(rest.error ?? '')}`)) return;
  process.stderr.write(`${JSON.stringify({ level: entry.label, logger: 'kafkajs', message, ...rest })}\n`);
};

/** A kafkajs KafkaConfig for these settings (see the module comment for the broker order). */
export function kafkaConfigFromSettings(settings: KafkaSettings, env: Env = process.env): KafkaConfig {
  if (typeof settings.clientId !== 'string' || settings.clientId.trim() === '') throw new UsageError('clientId: must be a non-empty string');
  const { brokers, source } = resolveBrokers(settings, env);
  // The local broker is plaintext without auth: TLS/SASL from the environment are meant for a real cluster.
  const remote = source !== 'local';
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers,
    // kafkajs logs INFO lines to stdout by default, which would mix with command output.
    logLevel: logLevel.WARN,
    logCreator: quietLogCreator,
  };
  if (settings.ssl !== undefined) {
    config.ssl = sslOptions(settings.ssl);
  } else if (remote) {
    const fromEnv = sslFromEnv(env);
    if (fromEnv !== undefined) config.ssl = sslOptions(fromEnv, (k) => `PAGELOOP_KAFKA_SSL_${k.toUpperCase()}`);
  }
  const sasl = settings.sasl !== undefined ? saslOptions(settings.sasl, env) : remote ? saslFromEnv(env) : undefined;
  if (sasl !== undefined) config.sasl = sasl;
  const connectionTimeout = positive(settings.connectionTimeoutMs, 'connectionTimeoutMs');
  if (connectionTimeout !== undefined) config.connectionTimeout = connectionTimeout;
  const requestTimeout = positive(settings.requestTimeoutMs, 'requestTimeoutMs');
  if (requestTimeout !== undefined) config.requestTimeout = requestTimeout;
  return config;
}
