/**
 * pageloop's Kafka settings to a kafkajs client config. Where the brokers
 * come from, first match wins:
 *   1. env PAGELOOP_KAFKA_BROKERS (comma separated), so a deployment can
 *      repoint every command without touching its config files;
 *   2. settings.brokers, from a config file or a --brokers flag;
 *   3. the local broker started by `pageloop kafka start`, read from its
 *      state file (kafka/local-state.ts).
 * TLS and SASL settings pass through to kafkajs unchanged. When settings
 * give none, env PAGELOOP_KAFKA_SSL=1 and PAGELOOP_KAFKA_SASL_MECHANISM
 * (plain, scram-sha-256, scram-sha-512) with PAGELOOP_KAFKA_SASL_USERNAME and
 * PAGELOOP_KAFKA_SASL_PASSWORD supply them: secrets stay off command lines.
 */
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, LogEntry, SASLOptions, logCreator } from 'kafkajs';
import kafkajs from 'kafkajs';
import { defaultDataDir, readLocalKafkaState, stateFilePath } from './local-state.js';
import { PageloopError, UsageError } from '../lib/errors.js';

const { logLevel } = kafkajs;

export interface KafkaSettings {
  /** Bootstrap servers, host:port. Empty or absent: the local broker. */
  readonly brokers?: readonly string[];
  readonly clientId: string;
  /** true for TLS with the system CAs, or node:tls options (ca, cert, key, servername...). */
  readonly ssl?: boolean | ConnectionOptions;
  /** SASL/PLAIN, SCRAM-SHA-256/512, AWS IAM or OAUTHBEARER, as kafkajs takes them. */
  readonly sasl?: SASLOptions;
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
  return { brokers: [state.bootstrap], source: 'local' };
}

function positive(v: number | undefined, key: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`${key}: must be a positive integer (milliseconds), got ${v}`);
  return v;
}

const ENV_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** SASL from the environment (user name and password mechanisms only), or undefined. */
export function saslFromEnv(env: Env = process.env): SASLOptions | undefined {
  const raw = env.PAGELOOP_KAFKA_SASL_MECHANISM;
  if (raw === undefined || raw.trim() === '') return undefined;
  const mechanism = raw.trim().toLowerCase();
  const known = ENV_MECHANISMS.find((m) => m === mechanism);
  if (!known) throw new UsageError(`PAGELOOP_KAFKA_SASL_MECHANISM: '${raw}' is not one of ${ENV_MECHANISMS.join(', ')}`);
  const username = env.PAGELOOP_KAFKA_SASL_USERNAME;
  const password = env.PAGELOOP_KAFKA_SASL_PASSWORD;
  if (!username) throw new UsageError('PAGELOOP_KAFKA_SASL_USERNAME: must be set when PAGELOOP_KAFKA_SASL_MECHANISM is');
  if (password === undefined) throw new UsageError('PAGELOOP_KAFKA_SASL_PASSWORD: must be set when PAGELOOP_KAFKA_SASL_MECHANISM is');
  return { mechanism: known, username, password };
}

function sslFromEnv(env: Env): boolean | undefined {
  const v = env.PAGELOOP_KAFKA_SSL;
  if (v === undefined || v === '') return undefined;
  if (['1', 'true', 'yes'].includes(v.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(v.toLowerCase())) return false;
  throw new UsageError(`PAGELOOP_KAFKA_SSL: '${v}' is not 1/0/true/false`);
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
  const ssl = settings.ssl ?? (remote ? sslFromEnv(env) : undefined);
  if (ssl !== undefined) config.ssl = ssl;
  const sasl = settings.sasl ?? (remote ? saslFromEnv(env) : undefined);
  if (sasl !== undefined) config.sasl = sasl;
  const connectionTimeout = positive(settings.connectionTimeoutMs, 'connectionTimeoutMs');
  if (connectionTimeout !== undefined) config.connectionTimeout = connectionTimeout;
  const requestTimeout = positive(settings.requestTimeoutMs, 'requestTimeoutMs');
  if (requestTimeout !== undefined) config.requestTimeout = requestTimeout;
  return config;
}
