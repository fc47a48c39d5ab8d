/**
 * A real Apache Kafka broker for development, the tests and embedded runs:
 * one KRaft node (broker + controller in one JVM) on loopback. Its jars come
 * from Maven Central through `mvn` (the Apache download site is not reachable
 * from every machine we run on, Maven Central is), cached per version outside
 * the repository. The broker runs detached, so it outlives the command that
 * started it; a pid file and a state file in the data directory tell later
 * commands where it is.
 *
 * Production does not use this: it points at an existing cluster by its
 * bootstrap servers (see kafka/client.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { PageloopError, UsageError, errorMessage } from '../../lib/errors.js';
import { defaultDataDir, isOurBroker, parseState, readPid, type LocalKafkaState } from '../../kafka/local-state.js';

const { Kafka, logLevel } = kafkajs;

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
/** Logging binding for the broker: Kafka 3.9 logs through log4j 1 (reload4j), its pom ships no binding. */
const RELOAD4J_VERSION = '1.2.25';
const SLF4J_VERSION = '1.7.36';
const DEPENDENCY_PLUGIN_VERSION = '3.6.1';
/** Maven itself can be slow on a cold cache; past this something is wrong (network, proxy). */
const INSTALL_TIMEOUT_MS = 10 * 60_000;

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
  /** JVM max heap, as for -Xmx (e.g. 512m, 1g). */
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
];

type Env = Readonly<Record<string, string | undefined>>;

/** $PAGELOOP_CACHE_DIR, else $XDG_CACHE_HOME/pageloop, else ~/.cache/pageloop. */
export function defaultCacheDir(env: Env = process.env): string {
  if (env.PAGELOOP_CACHE_DIR) return env.PAGELOOP_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pageloop');
}

/** Defaults, with PAGELOOP_KAFKA_PORT / PAGELOOP_KAFKA_CONTROLLER_PORT applied (validated later). */
export function localKafkaDefaults(env: Env = process.env): Record<keyof LocalKafkaConfig, unknown> {
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
  };
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
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
  const { version, cacheDir, dataDir, host, port, controllerPort, heap, startTimeoutMs, stopTimeoutMs, groupInitialRebalanceDelayMs } = c;
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
  if (problems.length > 0) throw new UsageError(`kafka config: ${problems.join('; ')}`);
  return c as unknown as LocalKafkaConfig;
}

export interface InstallResult {
  readonly version: string;
  readonly libDir: string;
  readonly jars: number;
  readonly bytes: number;
  /** False when the cache already held a complete install. */
  readonly downloaded: boolean;
  readonly ms: number;
}

export interface StartResult {
  readonly bootstrap: string;
  readonly pid: number;
  readonly alreadyRunning: boolean;
  /** True when this start formatted the storage (a new cluster id). */
  readonly formatted: boolean;
  readonly ms: number;
}

export interface StopResult {
  readonly wasRunning: boolean;
  readonly pid?: number;
  /** True when SIGTERM did not end it within stopTimeoutMs and SIGKILL was sent. */
  readonly killed: boolean;
  readonly ms: number;
}

export interface LocalKafkaStatus {
  readonly running: boolean;
  /** Running and answering a metadata request (checked only when running). */
  readonly healthy: boolean;
  readonly pid?: number;
  readonly bootstrap: string;
  readonly version: string;
  readonly installed: boolean;
  readonly dataDir: string;
  readonly formatted: boolean;
  /** A pid file whose process is gone (a crash or a reboot); start cleans it up. */
  readonly stalePidFile: boolean;
}

export interface LocalKafka {
  readonly config: LocalKafkaConfig;
  /** host:port of the client listener. */
  readonly bootstrap: string;
  install(): Promise<InstallResult>;
  start(): Promise<StartResult>;
  stop(): Promise<StopResult>;
  status(): Promise<LocalKafkaStatus>;
}

export interface LocalKafkaOptions {
  /** Progress lines ("resolving jars", "waiting for the broker"); default: stderr. */
  readonly progress?: (line: string) => void;
}

interface Paths {
  readonly installDir: string;
  readonly libDir: string;
  readonly marker: string;
  readonly m2: string;
  readonly serverProperties: string;
  readonly log4jProperties: string;
  readonly logDirs: string;
  readonly appLogs: string;
  readonly metaProperties: string;
  readonly pidFile: string;
  readonly stateFile: string;
}

function pathsOf(c: LocalKafkaConfig): Paths {
  const installDir = join(c.cacheDir, `kafka-${c.version}`);
  const logDirs = join(c.dataDir, 'data');
  return {
    installDir,
    libDir: join(installDir, 'libs'),
    marker: join(installDir, '.installed.json'),
    m2: join(c.cacheDir, 'm2'),
    serverProperties: join(c.dataDir, 'server.properties'),
    log4jProperties: join(c.dataDir, 'log4j.properties'),
    logDirs,
    appLogs: join(c.dataDir, 'logs'),
    metaProperties: join(logDirs, 'meta.properties'),
    pidFile: join(c.dataDir, 'kafka.pid'),
    stateFile: join(c.dataDir, 'kafka.json'),
  };
}

/** Whether host:port can be bound right now (nothing else listens there). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Properties-file escaping: backslash is the only character in a path that needs it. */
function prop(value: string): string {
  return value.replace(/\\/g, '\\\\');
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function serverProperties(c: LocalKafkaConfig, p: Paths): string {
  const bootstrap = hostPort(c.host, c.port);
  const controller = hostPort(c.host, c.controllerPort);
  return [
    '# Written by pageloop on every start (deploy/kafka/local-kafka.ts); edits are overwritten.',
    'process.roles=broker,controller',
    'node.id=1',
    // A static voter set: a changed port only needs a restart, never a re-format.
    `controller.quorum.voters=1@${controller}`,
    `listeners=PLAINTEXT://${bootstrap},CONTROLLER://${controller}`,
    `advertised.listeners=PLAINTEXT://${bootstrap}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${prop(p.logDirs)}`,
    // Topics are declared in schemas/topics.ts; a typo in a topic name must fail, not create a topic.
    'auto.create.topics.enable=false',
    'num.partitions=1',
    'default.replication.factor=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=8',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=8',
    'min.insync.replicas=1',
    // 0 by default: one member per group locally, no reason to wait 3 s for more to join.
    `group.initial.rebalance.delay.ms=${c.groupInitialRebalanceDelayMs}`,
    // Two cores: the defaults (3 network, 8 io threads) only add contention.
    'num.network.threads=2',
    'num.io.threads=4',
    'num.recovery.threads.per.data.dir=1',
    // The cleaner's default 128 MiB dedupe buffer is a quarter of the heap; local compacted topics are tiny.
    'log.cleaner.dedupe.buffer.size=16777216',
    'log.cleaner.threads=1',
    '',
  ].join('\n');
}

function log4jProperties(p: Paths): string {
  const file = prop(join(p.appLogs, 'server.log'));
  return [
    '# Written by pageloop: the broker logs to a file so the console stays quiet.',
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.RollingFileAppender',
    `log4j.appender.file.File=${file}`,
    'log4j.appender.file.MaxFileSize=20MB',
    'log4j.appender.file.MaxBackupIndex=3',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.kafka.request.logger=WARN',
    'log4j.logger.kafka.authorizer.logger=WARN',
    '',
  ].join('\n');
}

function pom(version: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by pageloop (deploy/kafka/local-kafka.ts): the runtime class path of a Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.pageloop.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${version}</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>${RELOAD4J_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>${DEPENDENCY_PLUGIN_VERSION}</version></plugin>
    </plugins>
  </build>
</project>
`;
}

function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

interface RunResult {
  readonly status: number | null;
  readonly output: string;
  readonly spawnError?: NodeJS.ErrnoException;
}

/** Runs a tool to completion, keeping its combined output for error messages. */
function runTool(cmd: string, args: readonly string[], options: { cwd?: string; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ status: null, output: '', spawnError: err });
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

function tail(text: string, lines = 25): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function tailOfFile(file: string, lines = 25): string {
  try {
    return tail(readFileSync(file, 'utf8'), lines);
  } catch {
    return '';
  }
}

interface Marker {
  readonly version: string;
  readonly jars: string[];
  readonly bytes: number;
}

function readMarker(file: string): Marker | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<Marker>;
    if (typeof v.version !== 'string' || !Array.isArray(v.jars) || typeof v.bytes !== 'number') return undefined;
    return { version: v.version, jars: v.jars.filter((j): j is string => typeof j === 'string'), bytes: v.bytes };
  } catch {
    return undefined;
  }
}

/** A 16-byte Kafka Uuid in URL-safe base64; Kafka itself avoids a leading '-' (it reads as a flag). */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Connects an admin client and lists topics: the broker is up and serving metadata. */
async function probe(bootstrap: string, timeoutMs: number): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'pageloop-healthcheck',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export function createLocalKafka(config: Partial<LocalKafkaConfig> = {}, options: LocalKafkaOptions = {}): LocalKafka {
  const defined = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  const c = validateLocalKafkaConfig({ ...localKafkaDefaults(), ...defined });
  const p = pathsOf(c);
  const bootstrap = hostPort(c.host, c.port);
  const say = options.progress ?? ((line: string) => process.stderr.write(`kafka: ${line}\n`));

  function installed(): Marker | undefined {
    const m = readMarker(p.marker);
    if (!m || m.version !== c.version) return undefined;
    // A cache someone pruned by hand is reinstalled rather than started with a broken class path.
    return m.jars.every((j) => existsSync(join(p.libDir, j))) ? m : undefined;
  }

  async function install(): Promise<InstallResult> {
    const t0 = Date.now();
    const done = installed();
    if (done) return { version: c.version, libDir: p.libDir, jars: done.jars.length, bytes: done.bytes, downloaded: false, ms: Date.now() - t0 };

    // Resolve into a private staging directory and rename it into place once complete, so an
    // interrupted install never leaves a directory that looks installed.
    const staging = `${p.installDir}.partial-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, 'pom.xml'), pom(c.version));
    say(`resolving Apache Kafka ${c.version} jars from Maven Central into ${p.installDir} (first time only)`);
    const result = await runTool(
      'mvn',
      [
        '-B',
        '-q',
        `-Dmaven.repo.local=${p.m2}`,
        '-Dmaven.artifact.threads=8',
        '-f',
        join(staging, 'pom.xml'),
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${join(staging, 'libs')}`,
      ],
      { cwd: staging, timeoutMs: INSTALL_TIMEOUT_MS },
    );
    if (result.spawnError) {
      rmSync(staging, { recursive: true, force: true });
      if (result.spawnError.code === 'ENOENT') {
        throw new PageloopError('kafka-install', 'mvn not found: the local Kafka broker is resolved from Maven Central with Maven (apt-get install maven)');
      }
      throw new PageloopError('kafka-install', `could not run mvn: ${result.spawnError.message}`, { cause: result.spawnError });
    }
    if (result.status !== 0) {
      rmSync(staging, { recursive: true, force: true });
      // Mostly network trouble (Maven Central unreachable, a proxy), which can pass: retriable.
      throw new PageloopError(
        'kafka-install',
        `mvn could not resolve org.apache.kafka:kafka_2.13:${c.version} (exit ${result.status ?? 'killed'}):\n${tail(result.output)}`,
        { retriable: true },
      );
    }
    const libs = join(staging, 'libs');
    const jars = existsSync(libs) ? readdirSync(libs).filter((f) => f.endsWith('.jar')).sort() : [];
    if (!jars.includes(`kafka_2.13-${c.version}.jar`)) {
      rmSync(staging, { recursive: true, force: true });
      throw new PageloopError('kafka-install', `mvn finished but ${libs} holds no kafka_2.13-${c.version}.jar`);
    }
    const bytes = jars.reduce((sum, j) => sum + statSync(join(libs, j)).size, 0);
    writeFileSync(join(staging, '.installed.json'), JSON.stringify({ version: c.version, jars, bytes, installedAt: new Date().toISOString() }, null, 2) + '\n');
    if (installed()) {
      // Another install finished first; keep its copy.
      rmSync(staging, { recursive: true, force: true });
    } else {
      rmSync(p.installDir, { recursive: true, force: true });
      renameSync(staging, p.installDir);
    }
    say(`installed ${jars.length} jars (${(bytes / 1048576).toFixed(1)} MiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { version: c.version, libDir: p.libDir, jars: jars.length, bytes, downloaded: true, ms: Date.now() - t0 };
  }

  function runningPid(): number | undefined {
    const pid = readPid(p.pidFile);
    return pid !== undefined && isOurBroker(pid, p.serverProperties) ? pid : undefined;
  }

  function clearRunFiles(): void {
    rmSync(p.pidFile, { force: true });
    rmSync(p.stateFile, { force: true });
  }

  function javaArgs(mainClass: string, args: readonly string[]): string[] {
    return [
      `-Xmx${c.heap}`,
      '-Xms64m',
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      // Fail fast and let `status` say so, rather than limp on after an OOM.
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${p.log4jProperties}`,
      `-Dkafka.logs.dir=${p.appLogs}`,
      '-cp',
      // The JVM expands a trailing /* to every jar in the directory.
      join(p.libDir, '*'),
      mainClass,
      ...args,
    ];
  }

  async function format(): Promise<void> {
    const clusterId = newClusterId();
    say(`formatting storage in ${p.logDirs} (cluster id ${clusterId})`);
    const result = await runTool(
      javaBin(),
      javaArgs('kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', p.serverProperties, '--ignore-formatted']),
      { timeoutMs: 120_000 },
    );
    if (result.spawnError) {
      throw new PageloopError('kafka-start', `could not run ${javaBin()}: ${result.spawnError.message} (install a JDK 17: apt-get install openjdk-17-jre-headless)`);
    }
    if (result.status !== 0 || !existsSync(p.metaProperties)) {
      throw new PageloopError('kafka-start', `formatting the Kafka storage failed (exit ${result.status ?? 'killed'}):\n${tail(result.output)}`);
    }
  }

  async function start(): Promise<StartResult> {
    const t0 = Date.now();
    const already = runningPid();
    if (already !== undefined) {
      const state = parseState(readFileSafe(p.stateFile));
      const at = state?.bootstrap ?? bootstrap;
      say(`already running (pid ${already}) at ${at}`);
      return { bootstrap: at, pid: already, alreadyRunning: true, formatted: false, ms: Date.now() - t0 };
    }
    if (existsSync(p.pidFile)) {
      say('removing a stale pid file (the broker it named is gone)');
      clearRunFiles();
    }
    await install();
    for (const [key, port] of [['port', c.port], ['controllerPort', c.controllerPort]] as const) {
      if (!(await isPortFree(c.host, port))) {
        throw new PageloopError(
          'kafka-start',
          `${key}: ${hostPort(c.host, port)} is already in use by another process; choose another (--port/--controller-port, PAGELOOP_KAFKA_PORT/PAGELOOP_KAFKA_CONTROLLER_PORT)`,
        );
      }
    }
    mkdirSync(p.logDirs, { recursive: true });
    mkdirSync(p.appLogs, { recursive: true });
    writeFileSync(p.serverProperties, serverProperties(c, p));
    writeFileSync(p.log4jProperties, log4jProperties(p));
    const formatted = !existsSync(p.metaProperties);
    if (formatted) await format();

    say(`starting Apache Kafka ${c.version} (KRaft, combined broker+controller) at ${bootstrap}; logs in ${p.appLogs}`);
    const stdoutLog = join(p.appLogs, 'stdout.log');
    const out = openSync(stdoutLog, 'a');
    let child: ChildProcess;
    try {
      // Detached, in its own session, with no pipe back to us: the broker outlives this process.
      child = spawn(javaBin(), javaArgs('kafka.Kafka', [p.serverProperties]), {
        cwd: c.dataDir,
        detached: true,
        stdio: ['ignore', out, out],
      });
    } finally {
      closeSync(out);
    }
    let exited: string | undefined;
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `exit status ${code}`;
    });
    child.unref();
    await sleep(50);
    if (spawnError || child.pid === undefined) {
      throw new PageloopError('kafka-start', `could not run ${javaBin()}: ${errorMessage(spawnError)} (install a JDK 17: apt-get install openjdk-17-jre-headless)`);
    }
    const pid = child.pid;
    writeFileSync(p.pidFile, `${pid}\n`);
    const state: LocalKafkaState = {
      pid,
      bootstrap,
      controller: hostPort(c.host, c.controllerPort),
      version: c.version,
      dataDir: c.dataDir,
      startedAt: new Date().toISOString(),
    };
    writeFileSync(p.stateFile, JSON.stringify(state, null, 2) + '\n');

    say('waiting for the broker to serve metadata');
    const deadline = t0 + c.startTimeoutMs;
    for (;;) {
      if (exited !== undefined || !isOurBroker(pid, p.serverProperties)) {
        clearRunFiles();
        const why = tailOfFile(join(p.appLogs, 'server.log'), 20) || tailOfFile(stdoutLog, 20);
        throw new PageloopError('kafka-start', `the broker exited during start-up (${exited ?? 'gone'}); last log lines:\n${why}`);
      }
      if (await probe(bootstrap, 2000)) break;
      if (Date.now() > deadline) {
        // Do not leave a half-started broker behind: the next start would find it "running".
        await terminate(pid);
        clearRunFiles();
        throw new PageloopError(
          'kafka-start',
          `the broker did not answer at ${bootstrap} within ${c.startTimeoutMs} ms; last log lines:\n${tailOfFile(join(p.appLogs, 'server.log'), 20)}`,
          { retriable: true },
        );
      }
      await sleep(500);
    }
    say(`ready at ${bootstrap} (pid ${pid}) after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { bootstrap, pid, alreadyRunning: false, formatted, ms: Date.now() - t0 };
  }

  /** SIGTERM (a controlled shutdown), then SIGKILL after stopTimeoutMs. True when it had to kill. */
  async function terminate(pid: number): Promise<boolean> {
    const gone = async (ms: number): Promise<boolean> => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        if (!isOurBroker(pid, p.serverProperties)) return true;
        await sleep(100);
      }
      return !isOurBroker(pid, p.serverProperties);
    };
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return false;
    }
    if (await gone(c.stopTimeoutMs)) return false;
    say(`the broker did not stop within ${c.stopTimeoutMs} ms; killing it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return true;
    }
    if (!(await gone(10_000))) throw new PageloopError('kafka-stop', `the broker (pid ${pid}) survived SIGKILL`, { retriable: true });
    return true;
  }

  async function stop(): Promise<StopResult> {
    const t0 = Date.now();
    const pid = runningPid();
    if (pid === undefined) {
      if (existsSync(p.pidFile) || existsSync(p.stateFile)) clearRunFiles();
      return { wasRunning: false, killed: false, ms: Date.now() - t0 };
    }
    say(`stopping the broker (pid ${pid})`);
    const killed = await terminate(pid);
    clearRunFiles();
    say(`stopped after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { wasRunning: true, pid, killed, ms: Date.now() - t0 };
  }

  async function status(): Promise<LocalKafkaStatus> {
    const pid = runningPid();
    const state = pid === undefined ? undefined : parseState(readFileSafe(p.stateFile));
    const at = state?.bootstrap ?? bootstrap;
    return {
      running: pid !== undefined,
      healthy: pid !== undefined && (await probe(at, 3000)),
      ...(pid === undefined ? {} : { pid }),
      bootstrap: at,
      version: state?.version || c.version,
      installed: installed() !== undefined,
      dataDir: c.dataDir,
      formatted: existsSync(p.metaProperties),
      stalePidFile: pid === undefined && existsSync(p.pidFile),
    };
  }

  return { config: c, bootstrap, install, start, stop, status };
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The JDK version the broker would run on, or undefined when there is no java (for `pageloop doctor`). */
export function javaVersion(): string | undefined {
  const r = spawnSync(javaBin(), ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return /version "([^"]+)"/.exec(r.stderr)?.[1];
}
