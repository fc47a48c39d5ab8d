/**
 * The local Kafka's settings: the pinned version, the defaults (some from the
 * environment), and the check that names every bad key. One node by default;
 * `brokers: 3` is a KRaft cluster of three combined broker+controller nodes
 * on loopback, each with its own ports and log dirs.
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { defaultDataDir } from '../../kafka/local-state.js';

/** The pinned broker: kafkajs 2.x is tested against 3.x brokers; 4.x drops protocol versions it uses. */
export const KAFKA_VERSION = '3.9.1';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 9092;
export const DEFAULT_CONTROLLER_PORT = 9093;
/** A modest heap: the machines have 2 cores and little memory to spare, and local traffic is small. */
export const DEFAULT_HEAP = '512m';
/** The first start after a format creates the metadata log; a cold JVM on 2 cores needs ~10-20 s. */
export const DEFAULT_START_TIMEOUT_MS = 120_000;
/** Controlled shutdown of a single combined node usually takes a few seconds. */
export const DEFAULT_STOP_TIMEOUT_MS = 30_000;
/**
 * More nodes than this on one machine is a typo: each is a JVM, and a
 * controller quorum of more than 5-7 voters only slows elections.
 */
export const MAX_LOCAL_BROKERS = 9;

export interface LocalKafkaConfig {
  /** Apache Kafka version (org.apache.kafka:kafka_2.13:<version> on Maven Central). */
  readonly version: string;
  /** Cache root: jars go to <cacheDir>/kafka-<version>/libs, Maven's repository to <cacheDir>/m2. */
  readonly cacheDir: string;
  /** Broker state: server.properties, the log dirs, server.log, the pid and state files. */
  readonly dataDir: string;
  /** Address the broker binds to and advertises; clients must be able to reach it. */
  readonly host: string;
  /** Client (PLAINTEXT) listener port: the bootstrap address is host:port. */
  readonly port: number;
  /** KRaft controller listener port. */
  readonly controllerPort: number;
  /** JVM max heap, as for -Xmx (e.g. 512m, 1g); per node. */
  readonly heap: string;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /**
   * The broker's group.initial.rebalance.delay.ms: how long a new consumer
   * group waits for more members before its first assignment. 0 locally (one
   * member per group); Kafka's own default, 3000, when several instances
   * start together and should share the partitions from the start (benchmarks).
   */
  readonly groupInitialRebalanceDelayMs: number;
  /**
   * How many nodes, each a combined broker+controller (all of them voters of
   * the controller quorum). 1 keeps the single-node layout in dataDir; more
   * put node i in <dataDir>/node-<i>.
   */
  readonly brokers: number;
  /**
   * Client ports of every node, node 1 first (length = brokers). Absent:
   * port, port+2, port+4, ... (with the controller ports in between).
   */
  readonly ports?: readonly number[];
  /** Controller ports of every node. Absent: controllerPort, controllerPort+2, ... */
  readonly controllerPorts?: readonly number[];
  /**
   * A second client listener with TLS and/or SASL, beside the PLAINTEXT one
   * (which the tools keep using), single node only: to try a client's TLS
   * and SASL settings against a real broker (the tests do, with their own CA).
   */
  readonly secure?: SecureListenerConfig;
}

export interface SecureListenerConfig {
  readonly port: number;
  /** PEM file holding the broker's private key (PKCS#8, unencrypted) and its certificate chain. */
  readonly keystore: string;
  /** PEM CA bundle for client certificates; given, every client must present one signed by it (mutual TLS). */
  readonly truststore?: string;
  /**
   * SASL users and passwords, for PLAIN and SCRAM-SHA-256/512 (SCRAM
   * credentials are written when the storage is formatted). Absent: TLS only.
   */
  readonly users?: Readonly<Record<string, string>>;
}

const CONFIG_KEYS: readonly (keyof LocalKafkaConfig)[] = [
  'version',
  'cacheDir',
  'dataDir',
  'host',
  'port',
  'controllerPort',
  'heap',
  'startTimeoutMs',
  'stopTimeoutMs',
  'groupInitialRebalanceDelayMs',
  'brokers',
  'ports',
  'controllerPorts',
  'secure',
];

type Env = Readonly<Record<string, string | undefined>>;

/** $PAGELOOP_CACHE_DIR, else $XDG_CACHE_HOME/pageloop, else ~/.cache/pageloop. */
export function defaultCacheDir(env: Env = process.env): string {
  if (env.PAGELOOP_CACHE_DIR) return env.PAGELOOP_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pageloop');
}

/** Defaults, with PAGELOOP_KAFKA_PORT / PAGELOOP_KAFKA_CONTROLLER_PORT applied (validated later). */
export function localKafkaDefaults(env: Env = process.env): Record<Exclude<keyof LocalKafkaConfig, 'ports' | 'controllerPorts' | 'secure'>, unknown> {
  return {
    version: KAFKA_VERSION,
    cacheDir: defaultCacheDir(env),
    dataDir: defaultDataDir(env),
    host: DEFAULT_HOST,
    port: env.PAGELOOP_KAFKA_PORT ? Number(env.PAGELOOP_KAFKA_PORT) : DEFAULT_PORT,
    controllerPort: env.PAGELOOP_KAFKA_CONTROLLER_PORT ? Number(env.PAGELOOP_KAFKA_CONTROLLER_PORT) : DEFAULT_CONTROLLER_PORT,
    heap: DEFAULT_HEAP,
    startTimeoutMs: DEFAULT_START_TIMEOUT_MS,
    stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
    groupInitialRebalanceDelayMs: 0,
    brokers: 1,
  };
}

/**
 * The defaults (localKafkaDefaults) under these overrides, validated: how a
 * caller makes the complete config createLocalKafka takes. An override left
 * undefined keeps its default, so flag parsers can pass what they did not get.
 */
export function localKafkaConfig(overrides: Partial<LocalKafkaConfig> = {}, env: Env = process.env): LocalKafkaConfig {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return validateLocalKafkaConfig({ ...localKafkaDefaults(env), ...defined });
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** One node's identity and listeners. */
export interface NodeAddress {
  /** KRaft node.id, 1-based. */
  readonly nodeId: number;
  readonly port: number;
  readonly controllerPort: number;
}

/** Every node's ports: the lists when given, else every other port from port/controllerPort up. */
export function nodeAddresses(c: LocalKafkaConfig): NodeAddress[] {
  return Array.from({ length: c.brokers }, (_, i) => ({
    nodeId: i + 1,
    port: c.ports?.[i] ?? c.port + 2 * i,
    controllerPort: c.controllerPorts?.[i] ?? c.controllerPort + 2 * i,
  }));
}

function checkPortList(key: 'ports' | 'controllerPorts', v: unknown, brokers: unknown, problems: string[]): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || !v.every(isPort)) {
    problems.push(`${key}: must be a list of integers 1-65535, got ${JSON.stringify(v)}`);
  } else if (typeof brokers === 'number' && v.length !== brokers) {
    problems.push(`${key}: must list one port per node (brokers: ${brokers}), got ${v.length}`);
  }
}

/**
 * Checks a complete config (defaults already merged). Every problem is
 * reported at once, each naming its key; bad input is a UsageError.
 */
export function validateLocalKafkaConfig(input: unknown): LocalKafkaConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new UsageError('kafka config: must be an object');
  }
  const c = input as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(c)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      problems.push(`${key}: unknown key (known: ${CONFIG_KEYS.join(', ')})`);
    }
  }
  const { version, cacheDir, dataDir, host, port, controllerPort, heap, startTimeoutMs, stopTimeoutMs, groupInitialRebalanceDelayMs, brokers } = c;
  // 3.3 is the first release with production KRaft; 4.x logs through log4j2 and drops old protocol versions.
  const vm = typeof version === 'string' ? /^3\.(\d+)\.(\d+)$/.exec(version) : null;
  if (!vm || Number(vm[1]) < 3) problems.push(`version: must be an Apache Kafka 3.x release >= 3.3.0 (e.g. ${KAFKA_VERSION}), got ${JSON.stringify(version)}`);
  for (const [key, v] of [['cacheDir', cacheDir], ['dataDir', dataDir]] as const) {
    if (typeof v !== 'string' || !isAbsolute(v)) problems.push(`${key}: must be an absolute path, got ${JSON.stringify(v)}`);
  }
  if (typeof host !== 'string' || host.length === 0 || /\s/.test(host)) {
    problems.push(`host: must be a host name or address, got ${JSON.stringify(host)}`);
  } else if (host === '0.0.0.0' || host === '::' || host === '[::]') {
    // The same address is advertised to clients, and a wildcard is not an address they can connect to.
    problems.push(`host: must be an address clients can reach (e.g. 127.0.0.1), not the wildcard ${host}`);
  }
  if (!isPort(port)) problems.push(`port: must be an integer 1-65535, got ${JSON.stringify(port)}`);
  if (!isPort(controllerPort)) problems.push(`controllerPort: must be an integer 1-65535, got ${JSON.stringify(controllerPort)}`);
  if (isPort(port) && port === controllerPort) problems.push(`controllerPort: must differ from port (${port})`);
  const heapMiB = typeof heap === 'string' && /^[1-9]\d*[mMgG]$/.test(heap) ? parseInt(heap, 10) * (/[gG]$/.test(heap) ? 1024 : 1) : 0;
  // Below ~128 MiB the broker dies of OOM while loading its metadata, which is a confusing way to learn it.
  if (heapMiB < 128) problems.push(`heap: must look like 512m or 1g and be at least 128m, got ${JSON.stringify(heap)}`);
  for (const [key, v] of [['startTimeoutMs', startTimeoutMs], ['stopTimeoutMs', stopTimeoutMs]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) problems.push(`${key}: must be a positive integer (milliseconds), got ${JSON.stringify(v)}`);
  }
  const delay = groupInitialRebalanceDelayMs;
  if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0) {
    problems.push(`groupInitialRebalanceDelayMs: must be an integer >= 0 (milliseconds), got ${JSON.stringify(delay)}`);
  }
  const brokersOk = typeof brokers === 'number' && Number.isInteger(brokers) && brokers >= 1 && brokers <= MAX_LOCAL_BROKERS;
  if (!brokersOk) problems.push(`brokers: must be an integer from 1 to ${MAX_LOCAL_BROKERS} (nodes of the local cluster), got ${JSON.stringify(brokers)}`);
  checkPortList('ports', c.ports, brokers, problems);
  checkPortList('controllerPorts', c.controllerPorts, brokers, problems);
  if (problems.length === 0 && brokersOk && (brokers > 1 || c.ports !== undefined || c.controllerPorts !== undefined)) {
    // Derived or listed, every listener of every node needs a port of its own.
    const seen = new Map<number, string>();
    for (const n of nodeAddresses(c as unknown as LocalKafkaConfig)) {
      for (const [what, p] of [['port', n.port], ['controller port', n.controllerPort]] as const) {
        const key = what === 'port' ? 'ports' : 'controllerPorts';
        if (!isPort(p)) problems.push(`${key}: node ${n.nodeId}'s ${what} ${p} is past 65535`);
        const other = seen.get(p);
        if (other !== undefined) problems.push(`${key}: node ${n.nodeId}'s ${what} ${p} is also ${other}`);
        seen.set(p, `node ${n.nodeId}'s ${what}`);
      }
    }
  }
  checkSecure(c.secure, brokers, [port, controllerPort], problems);
  if (problems.length > 0) throw new UsageError(`kafka config: ${problems.join('; ')}`);
  return c as unknown as LocalKafkaConfig;
}

function checkSecure(v: unknown, brokers: unknown, taken: readonly unknown[], problems: string[]): void {
  if (v === undefined) return;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.push('secure: must be an object (port, keystore, truststore, users)');
    return;
  }
  const s = v as Record<string, unknown>;
  for (const k of Object.keys(s)) if (!['port', 'keystore', 'truststore', 'users'].includes(k)) problems.push(`secure.${k}: unknown key (known: port, keystore, truststore, users)`);
  if (brokers !== 1) problems.push(`secure: a TLS/SASL listener is for a single node only (brokers: ${JSON.stringify(brokers)})`);
  if (!isPort(s.port)) problems.push(`secure.port: must be an integer 1-65535, got ${JSON.stringify(s.port)}`);
  else if (taken.includes(s.port)) problems.push(`secure.port: ${s.port} is also port or controllerPort`);
  if (typeof s.keystore !== 'string' || !isAbsolute(s.keystore)) problems.push(`secure.keystore: must be the absolute path of a PEM file (key and certificate), got ${JSON.stringify(s.keystore)}`);
  if (s.truststore !== undefined && (typeof s.truststore !== 'string' || !isAbsolute(s.truststore))) problems.push(`secure.truststore: must be the absolute path of a PEM CA file, got ${JSON.stringify(s.truststore)}`);
  if (s.users !== undefined) {
    const u = s.users;
    if (typeof u !== 'object' || u === null || Array.isArray(u) || Object.keys(u).length === 0) {
      problems.push('secure.users: must map at least one user name to its password');
    } else {
      for (const [name, pw] of Object.entries(u)) {
        // They go into a JAAS line and a format argument: keep them to characters neither needs escaped.
        if (!/^[A-Za-z0-9_-]+$/.test(name)) problems.push(`secure.users: user name ${JSON.stringify(name)} must be letters, digits, _ or -`);
        if (typeof pw !== 'string' || !/^[A-Za-z0-9_-]+$/.test(pw)) problems.push(`secure.users.${name}: password must be letters, digits, _ or -`);
      }
    }
  }
}
