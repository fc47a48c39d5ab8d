/**
 * Where the local broker started by `pageloop kafka start` is, read from the
 * state file it leaves in its data directory. Every Kafka client uses this to
 * find Kafka when given no bootstrap servers, so it lives beside the client
 * (deploy/kafka/local-kafka.ts writes the file).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;
/**
 * $PAGELOOP_KAFKA_DATA_DIR, else $XDG_STATE_HOME/pageloop/kafka, else
 * ~/.local/state/pageloop/kafka. Per user rather than /var/lib, so the same
 * default works with and without root, and kafka/client.ts can find the
 * state file with no configuration.
 */
export function defaultDataDir(env: Env = process.env): string {
  if (env.PAGELOOP_KAFKA_DATA_DIR) return env.PAGELOOP_KAFKA_DATA_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'pageloop', 'kafka');
}

/** One node of the local Kafka, as the state file lists it. */
export interface LocalKafkaNodeState {
  readonly nodeId: number;
  readonly pid: number;
  readonly bootstrap: string;
  readonly controller: string;
  /** The node's server.properties: its command line names it, which tells our broker from a reused pid. */
  readonly serverProperties: string;
}

/**
 * What a running local Kafka leaves in <dataDir>/kafka.json for other
 * commands. pid, bootstrap and controller are node 1's (all there is with a
 * single node); nodes lists every node of a cluster.
 */
export interface LocalKafkaState {
  readonly pid: number;
  readonly bootstrap: string;
  readonly controller: string;
  readonly version: string;
  readonly dataDir: string;
  readonly startedAt: string;
  readonly nodes: readonly LocalKafkaNodeState[];
}

/** The state of a local Kafka with at least one node running, and the bootstrap servers of those that are. */
export interface LiveLocalKafkaState extends LocalKafkaState {
  readonly liveBootstraps: readonly string[];
}

export function stateFilePath(dataDir: string = defaultDataDir()): string {
  return join(dataDir, 'kafka.json');
}

/** The process's command line, or undefined when it is gone or a zombie. */
export function cmdlineOf(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name; a zombie has exited and only waits to be reaped.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/**
 * Whether pid is the broker of this data directory. Checked by command line,
 * not by kill(pid, 0), so a pid reused after a reboot never gets signalled.
 */
export function isOurBroker(pid: number, serverProperties: string): boolean {
  const argv = cmdlineOf(pid);
  return argv !== undefined && argv.includes('kafka.Kafka') && argv.includes(serverProperties);
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function parseNode(v: unknown, serverPropertiesFallback: string): LocalKafkaNodeState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const n = v as Record<string, unknown>;
  if (typeof n.nodeId !== 'number' || typeof n.pid !== 'number' || typeof n.bootstrap !== 'string') return undefined;
  return {
    nodeId: n.nodeId,
    pid: n.pid,
    bootstrap: n.bootstrap,
    controller: typeof n.controller === 'string' ? n.controller : '',
    serverProperties: typeof n.serverProperties === 'string' ? n.serverProperties : serverPropertiesFallback,
  };
}

/**
 * A state file's contents, or undefined when it is not one. A file written
 * before clusters (no nodes) is the single node it describes.
 */
export function parseState(text: string, dataDir: string = defaultDataDir()): LocalKafkaState | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const s = v as Record<string, unknown>;
    if (typeof s.pid !== 'number' || typeof s.bootstrap !== 'string') return undefined;
    const controller = typeof s.controller === 'string' ? s.controller : '';
    const single = join(dataDir, 'server.properties');
    const nodes = Array.isArray(s.nodes)
      ? s.nodes.map((n) => parseNode(n, single)).filter((n): n is LocalKafkaNodeState => n !== undefined)
      : [{ nodeId: 1, pid: s.pid, bootstrap: s.bootstrap, controller, serverProperties: single }];
    return {
      pid: s.pid,
      bootstrap: s.bootstrap,
      controller,
      version: typeof s.version === 'string' ? s.version : '',
      dataDir: typeof s.dataDir === 'string' ? s.dataDir : '',
      startedAt: typeof s.startedAt === 'string' ? s.startedAt : '',
      nodes,
    };
  } catch {
    return undefined;
  }
}

/**
 * The state of the local Kafka of dataDir if any of its nodes is running,
 * else undefined. Other commands use this to find Kafka when given no
 * bootstrap servers: every running node is a bootstrap server.
 */
export function readLocalKafkaState(dataDir: string = defaultDataDir()): LiveLocalKafkaState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFilePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const state = parseState(text, dataDir);
  if (!state) return undefined;
  const liveBootstraps = state.nodes.filter((n) => isOurBroker(n.pid, n.serverProperties)).map((n) => n.bootstrap);
  return liveBootstraps.length === 0 ? undefined : { ...state, liveBootstraps };
}
