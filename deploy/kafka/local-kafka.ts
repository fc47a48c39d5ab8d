/**
 * A real Apache Kafka for development, the tests and embedded runs, on
 * loopback: one KRaft node (broker + controller in one JVM), or with
 * `brokers: 3` a cluster of three such nodes forming the controller quorum.
 * The nodes run detached, so they outlive the command that started them; a
 * pid file per node and one state file in the data directory, listing every
 * node, tell later commands where they are.
 *
 * Settings are in config.ts, file layout and properties in files.ts, the
 * jars in jars.ts; this is the life cycle: start, stop, status. It stays
 * one file (about 600 lines): start and stop share the per-node pid and state
 * bookkeeping, and splitting them would put the cluster's invariants
 * (every node in the state file, every pid checked) in two places.
 *
 * Production does not use this: it points at an existing cluster by its
 * bootstrap servers (see kafka/client.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { PageloopError, errorMessage } from '../../lib/errors.js';
import { isOurBroker, parseState, readPid, stateFilePath, type LocalKafkaNodeState, type LocalKafkaState } from '../../kafka/local-state.js';
import { validateLocalKafkaConfig, type LocalKafkaConfig } from './config.js';
import { clusterNodeDir, hostPort, installPaths, localNodes, log4jProperties, nodePaths, scramFormatArgs, serverProperties, type LocalNode, type NodePaths } from './files.js';
import { installJars, installedJars, type InstallResult } from './jars.js';
import { javaBin, runTool, tail, tailOfFile } from './tools.js';

export {
  DEFAULT_CONTROLLER_PORT,
  DEFAULT_HEAP,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  KAFKA_VERSION,
  MAX_LOCAL_BROKERS,
  defaultCacheDir,
  localKafkaConfig,
  localKafkaDefaults,
  validateLocalKafkaConfig,
  type LocalKafkaConfig,
  type SecureListenerConfig,
} from './config.js';
export { replicationFor, type LocalNode } from './files.js';
export type { InstallResult } from './jars.js';
export { javaVersion } from './tools.js';

const { Kafka, logLevel } = kafkajs;

export interface NodeStartResult {
  readonly nodeId: number;
  readonly pid: number;
  readonly bootstrap: string;
  readonly alreadyRunning: boolean;
}

export interface StartResult {
  /** Node 1's client listener (the only one with a single node). */
  readonly bootstrap: string;
  /** Every node's client listener, node 1 first. */
  readonly bootstraps: string[];
  /** Node 1's pid. */
  readonly pid: number;
  /** Every node was running already. */
  readonly alreadyRunning: boolean;
  /** True when this start formatted the storage of a node (a new cluster, or a node added back). */
  readonly formatted: boolean;
  readonly nodes: NodeStartResult[];
  readonly ms: number;
}

export interface NodeStopResult {
  readonly nodeId: number;
  readonly pid: number;
  /** True when SIGTERM did not end it within stopTimeoutMs and SIGKILL was sent. */
  readonly killed: boolean;
}

export interface StopResult {
  readonly wasRunning: boolean;
  /** Node 1's pid, or the first stopped node's. */
  readonly pid?: number;
  /** True when any node had to be killed. */
  readonly killed: boolean;
  readonly nodes: NodeStopResult[];
  readonly ms: number;
}

export interface NodeStatus {
  readonly nodeId: number;
  readonly running: boolean;
  /** Running and answering a metadata request (checked only when running). */
  readonly healthy: boolean;
  readonly pid?: number;
  readonly bootstrap: string;
  readonly controller: string;
  readonly formatted: boolean;
  /** A pid file whose process is gone (a crash, a kill or a reboot); start cleans it up. */
  readonly stalePidFile: boolean;
}

export interface LocalKafkaStatus {
  /** Some node is running. */
  readonly running: boolean;
  /** Every node is running and answering a metadata request. */
  readonly healthy: boolean;
  /** Node 1's pid, or the first running node's. */
  readonly pid?: number;
  readonly bootstrap: string;
  /** Bootstrap servers of the running nodes. */
  readonly bootstraps: string[];
  readonly version: string;
  readonly installed: boolean;
  readonly dataDir: string;
  readonly formatted: boolean;
  readonly stalePidFile: boolean;
  /** Nodes of the layout found in dataDir (the running one, else the configured one). */
  readonly brokers: number;
  readonly nodes: NodeStatus[];
}

export interface LocalKafka {
  readonly config: LocalKafkaConfig;
  /** host:port of node 1's client listener. */
  readonly bootstrap: string;
  /** Every node's client listener, node 1 first. */
  readonly bootstraps: readonly string[];
  readonly nodes: readonly LocalNode[];
  install(): Promise<InstallResult>;
  /** Starts every node not running yet and waits until all serve metadata. */
  start(): Promise<StartResult>;
  /** Stops every node running from dataDir, whatever its layout. */
  stop(): Promise<StopResult>;
  status(): Promise<LocalKafkaStatus>;
}

export interface LocalKafkaDeps {
  /** Progress lines ("resolving jars", "waiting for the broker"); default: stderr. */
  readonly progress?: (line: string) => void;
}

/** Whether host:port can be bound right now (nothing else listens there). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
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

/** How many brokers the cluster's metadata lists as registered and unfenced, asked through `bootstrap`. */
async function registeredBrokers(bootstrap: string, timeoutMs: number): Promise<number> {
  const kafka = new Kafka({ clientId: 'pageloop-healthcheck', brokers: [bootstrap], logLevel: logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: timeoutMs, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length;
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** <dataDir>/cluster.json: the node count and cluster id a cluster was formatted with. */
interface ClusterFile {
  readonly brokers: number;
  readonly clusterId: string;
}

function readClusterFile(file: string): ClusterFile | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<ClusterFile>;
    return typeof v.brokers === 'number' && typeof v.clusterId === 'string' ? { brokers: v.brokers, clusterId: v.clusterId } : undefined;
  } catch {
    return undefined;
  }
}

/** The node directories of a cluster in dataDir (node-1, node-2, ...), whatever the config says. */
function clusterNodeIds(dataDir: string): number[] {
  try {
    return readdirSync(dataDir)
      .map((d) => /^node-([1-9]\d*)$/.exec(d))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** The config is complete: callers merge the defaults with localKafkaConfig() (./config.ts). */
export function createLocalKafka(config: LocalKafkaConfig, deps: LocalKafkaDeps): LocalKafka {
  const c = validateLocalKafkaConfig(config);
  const install = installPaths(c);
  const nodes = localNodes(c);
  const cluster = c.brokers > 1;
  const node1 = nodes[0]!;
  const stateFile = stateFilePath(c.dataDir);
  const clusterFile = join(c.dataDir, 'cluster.json');
  const say = deps.progress ?? ((line: string) => process.stderr.write(`kafka: ${line}\n`));
  const what = (n: { nodeId: number }): string => (cluster ? `node ${n.nodeId}` : 'the broker');

  function runningPid(p: NodePaths): number | undefined {
    const pid = readPid(p.pidFile);
    return pid !== undefined && isOurBroker(pid, p.serverProperties) ? pid : undefined;
  }

  /** Every node directory of dataDir in either layout: the single node, then node-1, node-2, ... */
  function allNodePaths(): { nodeId: number; paths: NodePaths }[] {
    return [{ nodeId: 1, paths: nodePaths(c.dataDir) }, ...clusterNodeIds(c.dataDir).map((id) => ({ nodeId: id, paths: nodePaths(clusterNodeDir(c.dataDir, id)) }))];
  }

  function writeState(running: readonly { node: LocalNode; pid: number }[]): void {
    if (running.length === 0) {
      rmSync(stateFile, { force: true });
      return;
    }
    const first = running[0]!;
    const list: LocalKafkaNodeState[] = running.map(({ node, pid }) => ({
      nodeId: node.nodeId,
      pid,
      bootstrap: node.bootstrap,
      controller: node.controller,
      serverProperties: node.paths.serverProperties,
    }));
    const state: LocalKafkaState = {
      pid: first.pid,
      bootstrap: first.node.bootstrap,
      controller: first.node.controller,
      version: c.version,
      dataDir: c.dataDir,
      startedAt: new Date().toISOString(),
      nodes: list,
    };
    writeFileSync(stateFile, JSON.stringify(state, null, 2) + '\n');
  }

  function javaArgs(p: NodePaths, mainClass: string, args: readonly string[]): string[] {
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
      join(install.libDir, '*'),
      mainClass,
      ...args,
    ];
  }

  async function format(node: LocalNode, clusterId: string): Promise<void> {
    const p = node.paths;
    say(`formatting storage in ${p.logDirs} (cluster id ${clusterId})`);
    const result = await runTool(javaBin(), javaArgs(p, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', p.serverProperties, '--ignore-formatted', ...scramFormatArgs(c)]), {
      timeoutMs: 120_000,
    });
    if (result.spawnError) {
      throw new PageloopError('kafka-start', `could not run ${javaBin()}: ${result.spawnError.message} (install a JDK 17: apt-get install openjdk-17-jre-headless)`);
    }
    if (result.status !== 0 || !existsSync(p.metaProperties)) {
      throw new PageloopError('kafka-start', `formatting the Kafka storage failed (exit ${result.status ?? 'killed'}):\n${tail(result.output)}`);
    }
  }

  /** The other layout must not be running from the same dataDir, and a cluster keeps the size it was formatted with. */
  function checkLayout(): string | undefined {
    const cf = readClusterFile(clusterFile);
    if (cluster) {
      const single = runningPid(nodePaths(c.dataDir));
      if (single !== undefined) {
        throw new PageloopError('kafka-start', `a single broker (pid ${single}) is running from ${c.dataDir}: stop it first (pageloop kafka stop), or give the cluster another --data-dir`);
      }
      if (cf && cf.brokers !== c.brokers) {
        // The controller quorum's voters are fixed when the storage is formatted.
        throw new PageloopError(
          'kafka-start',
          `brokers: ${c.dataDir} holds a ${cf.brokers}-node cluster; start it with --brokers ${cf.brokers}, or use another --data-dir (its controller quorum was formatted with ${cf.brokers} voters)`,
        );
      }
      return cf?.clusterId;
    }
    const running = clusterNodeIds(c.dataDir).filter((id) => runningPid(nodePaths(clusterNodeDir(c.dataDir, id))) !== undefined);
    if (running.length > 0) {
      throw new PageloopError(
        'kafka-start',
        `brokers: a ${cf?.brokers ?? running.length}-node cluster is running from ${c.dataDir} (nodes ${running.join(', ')}): give --brokers ${cf?.brokers ?? running.length}, or stop it first`,
      );
    }
    return undefined;
  }

  interface Spawned {
    readonly node: LocalNode;
    readonly pid: number;
    exited?: string;
  }

  async function spawnNode(node: LocalNode): Promise<Spawned> {
    const p = node.paths;
    const stdoutLog = join(p.appLogs, 'stdout.log');
    const out = openSync(stdoutLog, 'a');
    let child: ChildProcess;
    try {
      // Detached, in its own session, with no pipe back to us: the broker outlives this process.
      child = spawn(javaBin(), javaArgs(p, 'kafka.Kafka', [p.serverProperties]), { cwd: p.dir, detached: true, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    child.unref();
    await sleep(50);
    if (spawnError || child.pid === undefined) {
      throw new PageloopError('kafka-start', `could not run ${javaBin()}: ${errorMessage(spawnError)} (install a JDK 17: apt-get install openjdk-17-jre-headless)`);
    }
    const spawned: Spawned = { node, pid: child.pid };
    child.once('exit', (code, signal) => {
      spawned.exited = signal ? `signal ${signal}` : `exit status ${code}`;
    });
    writeFileSync(p.pidFile, `${child.pid}\n`);
    return spawned;
  }

  /** The log's first errors (the cause; a failed start logs pages of shutdown after it), then its last lines. */
  function lastLines(p: NodePaths): string {
    const log = readFileSafe(join(p.appLogs, 'server.log'));
    const errors = log.split('\n').filter((l) => /\] (ERROR|FATAL) /.test(l)).slice(0, 5);
    const last = tailOfFile(join(p.appLogs, 'server.log'), 10) || tailOfFile(join(p.appLogs, 'stdout.log'), 20);
    return errors.length > 0 ? `${errors.join('\n')}\n...\n${last}` : last;
  }

  async function start(): Promise<StartResult> {
    const t0 = Date.now();
    const knownClusterId = checkLayout();
    const before = nodes.map((node) => ({ node, pid: runningPid(node.paths) }));
    if (before.every((b) => b.pid !== undefined)) {
      const state = parseState(readFileSafe(stateFile), c.dataDir);
      const at = state?.bootstrap ?? node1.bootstrap;
      say(`already running (${cluster ? `${nodes.length} nodes, pids ${before.map((b) => b.pid).join(', ')}` : `pid ${before[0]!.pid}`}) at ${cluster ? nodes.map((n) => n.bootstrap).join(',') : at}`);
      return {
        bootstrap: at,
        bootstraps: nodes.map((n) => n.bootstrap),
        pid: before[0]!.pid!,
        alreadyRunning: true,
        formatted: false,
        nodes: before.map((b) => ({ nodeId: b.node.nodeId, pid: b.pid!, bootstrap: b.node.bootstrap, alreadyRunning: true })),
        ms: Date.now() - t0,
      };
    }
    const toStart = before.filter((b) => b.pid === undefined).map((b) => b.node);
    for (const node of toStart) {
      if (existsSync(node.paths.pidFile)) {
        say(`removing a stale pid file (${what(node)} it named is gone)`);
        rmSync(node.paths.pidFile, { force: true });
      }
    }
    if (!cluster) rmSync(stateFile, { force: true });
    await installJars(c.version, install, say);
    for (const node of toStart) {
      for (const [key, port] of [['port', node.port], ['controllerPort', node.controllerPort]] as const) {
        if (!(await isPortFree(c.host, port))) {
          const which = cluster ? `${key === 'port' ? 'ports' : 'controllerPorts'}: node ${node.nodeId}'s` : `${key}:`;
          throw new PageloopError(
            'kafka-start',
            `${which} ${hostPort(c.host, port)} is already in use by another process; choose another (--port/--controller-port, PAGELOOP_KAFKA_PORT/PAGELOOP_KAFKA_CONTROLLER_PORT)`,
          );
        }
      }
    }
    let formatted = false;
    let clusterId = knownClusterId;
    for (const node of toStart) {
      const p = node.paths;
      mkdirSync(p.logDirs, { recursive: true });
      mkdirSync(p.appLogs, { recursive: true });
      writeFileSync(p.serverProperties, serverProperties(c, node, nodes));
      writeFileSync(p.log4jProperties, log4jProperties(p));
      if (!existsSync(p.metaProperties)) {
        clusterId ??= newClusterId();
        await format(node, clusterId);
        formatted = true;
      }
    }
    if (cluster && clusterId !== undefined && knownClusterId === undefined) {
      writeFileSync(clusterFile, JSON.stringify({ brokers: c.brokers, clusterId }, null, 2) + '\n');
    }

    say(
      cluster
        ? `starting Apache Kafka ${c.version} (KRaft, ${nodes.length} combined broker+controller nodes${toStart.length < nodes.length ? `, ${toStart.length} of them not running` : ''}) at ${nodes.map((n) => n.bootstrap).join(',')}; logs in ${c.dataDir}/node-*/logs`
        : `starting Apache Kafka ${c.version} (KRaft, combined broker+controller) at ${node1.bootstrap}; logs in ${node1.paths.appLogs}`,
    );
    const spawned: Spawned[] = [];
    try {
      for (const node of toStart) spawned.push(await spawnNode(node));
    } catch (err) {
      await Promise.all(spawned.map((s) => terminate(s.node, s.pid)));
      for (const s of spawned) rmSync(s.node.paths.pidFile, { force: true });
      throw err;
    }
    const pids = new Map<number, number>([...before.filter((b) => b.pid !== undefined).map((b) => [b.node.nodeId, b.pid!] as const), ...spawned.map((s) => [s.node.nodeId, s.pid] as const)]);
    writeState(nodes.filter((n) => pids.has(n.nodeId)).map((node) => ({ node, pid: pids.get(node.nodeId)! })));

    const giveUp = async (message: string, retriable: boolean): Promise<never> => {
      // Do not leave half-started nodes behind: the next start would find them "running".
      await Promise.all(spawned.map((s) => terminate(s.node, s.pid)));
      for (const s of spawned) rmSync(s.node.paths.pidFile, { force: true });
      const left = before.filter((b) => b.pid !== undefined).map((b) => ({ node: b.node, pid: b.pid! }));
      writeState(left);
      throw new PageloopError('kafka-start', message, { retriable });
    };

    say(cluster ? 'waiting for every node to serve metadata' : 'waiting for the broker to serve metadata');
    const deadline = t0 + c.startTimeoutMs;
    const ready = new Set<number>(before.filter((b) => b.pid !== undefined).map((b) => b.node.nodeId));
    for (;;) {
      for (const s of spawned) {
        if (s.exited !== undefined || !isOurBroker(s.pid, s.node.paths.serverProperties)) {
          const why = lastLines(s.node.paths);
          await giveUp(`${what(s.node)} exited during start-up (${s.exited ?? 'gone'}); last log lines:\n${why}`, false);
        }
      }
      for (const s of spawned) if (!ready.has(s.node.nodeId) && (await probe(s.node.bootstrap, 2000))) ready.add(s.node.nodeId);
      // A cluster is ready once every node is registered with the controller quorum (replicated topics need them all).
      if (ready.size === nodes.length && (!cluster || (await registeredBrokers(node1.bootstrap, 3000)) === nodes.length)) break;
      if (Date.now() > deadline) {
        const late = spawned.find((s) => !ready.has(s.node.nodeId)) ?? spawned[0]!;
        await giveUp(
          cluster
            ? `the cluster was not ready within ${c.startTimeoutMs} ms (${ready.size} of ${nodes.length} nodes answering); last log lines of node ${late.node.nodeId}:\n${lastLines(late.node.paths)}`
            : `the broker did not answer at ${node1.bootstrap} within ${c.startTimeoutMs} ms; last log lines:\n${tailOfFile(join(node1.paths.appLogs, 'server.log'), 20)}`,
          true,
        );
      }
      await sleep(500);
    }
    const pid1 = pids.get(1)!;
    say(
      cluster
        ? `ready at ${nodes.map((n) => n.bootstrap).join(',')} (pids ${nodes.map((n) => pids.get(n.nodeId)).join(', ')}) after ${((Date.now() - t0) / 1000).toFixed(1)} s`
        : `ready at ${node1.bootstrap} (pid ${pid1}) after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    return {
      bootstrap: node1.bootstrap,
      bootstraps: nodes.map((n) => n.bootstrap),
      pid: pid1,
      alreadyRunning: false,
      formatted,
      nodes: before.map((b) => ({ nodeId: b.node.nodeId, pid: pids.get(b.node.nodeId)!, bootstrap: b.node.bootstrap, alreadyRunning: b.pid !== undefined })),
      ms: Date.now() - t0,
    };
  }

  /** SIGTERM (a controlled shutdown), then SIGKILL after stopTimeoutMs. True when it had to kill. */
  async function terminate(node: { nodeId: number; paths: NodePaths }, pid: number): Promise<boolean> {
    const p = node.paths;
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
    say(`${cluster ? `node ${node.nodeId}` : 'the broker'} did not stop within ${c.stopTimeoutMs} ms; killing it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return true;
    }
    if (!(await gone(10_000))) throw new PageloopError('kafka-stop', `${cluster ? `node ${node.nodeId}` : 'the broker'} (pid ${pid}) survived SIGKILL`, { retriable: true });
    return true;
  }

  async function stop(): Promise<StopResult> {
    const t0 = Date.now();
    const found = allNodePaths();
    const running = found.map((n) => ({ ...n, pid: runningPid(n.paths) })).filter((n): n is { nodeId: number; paths: NodePaths; pid: number } => n.pid !== undefined);
    const clearAll = (): void => {
      for (const n of found) rmSync(n.paths.pidFile, { force: true });
      rmSync(stateFile, { force: true });
    };
    if (running.length === 0) {
      if (existsSync(stateFile) || found.some((n) => existsSync(n.paths.pidFile))) clearAll();
      return { wasRunning: false, killed: false, nodes: [], ms: Date.now() - t0 };
    }
    const many = running.length > 1 || clusterNodeIds(c.dataDir).length > 0;
    say(many ? `stopping ${running.length} node(s) (pids ${running.map((n) => n.pid).join(', ')})` : `stopping the broker (pid ${running[0]!.pid})`);
    // All at once: each node moves its leaders to the others while they still run, and the
    // controllers (shut down after the brokers in a combined node) keep the quorum meanwhile.
    const killed = await Promise.all(running.map((n) => terminate(n, n.pid)));
    clearAll();
    say(`stopped after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return {
      wasRunning: true,
      pid: running[0]!.pid,
      killed: killed.some(Boolean),
      nodes: running.map((n, i) => ({ nodeId: n.nodeId, pid: n.pid, killed: killed[i]! })),
      ms: Date.now() - t0,
    };
  }

  async function status(): Promise<LocalKafkaStatus> {
    const state = parseState(readFileSafe(stateFile), c.dataDir);
    // The layout on disk decides (a `status` without --brokers still finds a running cluster).
    const cf = readClusterFile(clusterFile);
    const singleRunning = runningPid(nodePaths(c.dataDir)) !== undefined;
    const asCluster = !singleRunning && (cluster || cf !== undefined || (state?.nodes.length ?? 1) > 1);
    const layout: LocalNode[] =
      asCluster && !cluster ? localNodes({ ...c, brokers: cf?.brokers ?? state?.nodes.length ?? c.brokers, ports: undefined, controllerPorts: undefined }) : nodes;
    const nodeStatus = await Promise.all(
      layout.map(async (n): Promise<NodeStatus> => {
        const listed = state?.nodes.find((s) => s.nodeId === n.nodeId);
        const paths = asCluster ? nodePaths(clusterNodeDir(c.dataDir, n.nodeId)) : n.paths;
        const pid = runningPid(paths);
        const bootstrap = listed?.bootstrap ?? n.bootstrap;
        return {
          nodeId: n.nodeId,
          running: pid !== undefined,
          healthy: pid !== undefined && (await probe(bootstrap, 3000)),
          ...(pid === undefined ? {} : { pid }),
          bootstrap,
          controller: listed?.controller || n.controller,
          formatted: existsSync(paths.metaProperties),
          stalePidFile: pid === undefined && existsSync(paths.pidFile),
        };
      }),
    );
    const up = nodeStatus.filter((n) => n.running);
    return {
      running: up.length > 0,
      healthy: up.length === nodeStatus.length && nodeStatus.every((n) => n.healthy),
      ...(up[0]?.pid === undefined ? {} : { pid: up[0].pid }),
      bootstrap: state?.bootstrap ?? up[0]?.bootstrap ?? nodeStatus[0]!.bootstrap,
      bootstraps: up.map((n) => n.bootstrap),
      version: state?.version || c.version,
      installed: installedJars(c.version, install) !== undefined,
      dataDir: c.dataDir,
      formatted: nodeStatus.some((n) => n.formatted),
      stalePidFile: nodeStatus.some((n) => n.stalePidFile),
      brokers: nodeStatus.length,
      nodes: nodeStatus,
    };
  }

  return {
    config: c,
    bootstrap: node1.bootstrap,
    bootstraps: nodes.map((n) => n.bootstrap),
    nodes,
    install: () => installJars(c.version, install, say),
    start,
    stop,
    status,
  };
}
