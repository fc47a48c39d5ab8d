/**
 * `pageloop kafka start|stop|status|topics`: the local Kafka (one KRaft node,
 * or `--brokers 3` for a cluster of three), and the topic declaration applied
 * to it or to any other cluster.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { Command } from '../command.js';
import { flagBoolean, flagList, flagNumber, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { createKafka, kafkaSettingsFor } from '../../kafka/settings.js';
import { clusterHealth, formatTopicHealth, type ClusterHealth } from '../../kafka/health.js';
import { createLocalKafka, localKafkaConfig, MAX_LOCAL_BROKERS, type LocalKafkaConfig, type LocalKafkaStatus } from '../../deploy/kafka/local-kafka.js';
import { declaredTopics, ensureTopics, formatEnsureReport, replicationFactorFor, TOPIC_NAMES, waitForLeaders, type EnsureTopicsReport, type TopicOptions } from '../../schemas/topics.js';
import { loadJsonFile, validateConfig, type PageloopConfig } from '../../schemas/validate.js';

const flags: FlagSpec[] = [
  { name: 'json', kind: 'boolean', help: 'print one JSON object on stdout instead of text' },
  {
    name: 'brokers',
    kind: 'list',
    help: `start/status: nodes of the local cluster, 1-${MAX_LOCAL_BROKERS} (default 1); topics: bootstrap servers of an existing cluster (default: env PAGELOOP_KAFKA_BROKERS, the config file, else the local Kafka)`,
  },
  { name: 'config', kind: 'string', help: 'a pageloop config file (JSON): its kafka section (brokers, ssl, sasl, topics) (default env PAGELOOP_CONFIG)' },
  { name: 'partitions', kind: 'list', help: 'start/topics: partitions per topic, e.g. events=48,hints=12 (over kafka.topics.partitions of the config)' },
  { name: 'replication-factor', kind: 'number', help: 'start/topics: replicas of new topics (default min(3, brokers in the cluster))' },
  { name: 'port', kind: 'number', help: 'local client port of node 1 (default 9092, env PAGELOOP_KAFKA_PORT; node i: port+2(i-1))' },
  { name: 'controller-port', kind: 'number', help: 'local KRaft controller port of node 1 (default 9093, env PAGELOOP_KAFKA_CONTROLLER_PORT; node i: +2(i-1))' },
  { name: 'host', kind: 'string', help: 'local broker address (default 127.0.0.1)' },
  { name: 'data-dir', kind: 'string', help: 'local broker state (default ~/.local/state/pageloop/kafka, env PAGELOOP_KAFKA_DATA_DIR)' },
  { name: 'cache-dir', kind: 'string', help: 'jar cache root (default ~/.cache/pageloop, env PAGELOOP_CACHE_DIR)' },
  { name: 'heap', kind: 'string', help: 'JVM heap of each local node (default 512m)' },
  { name: 'kafka-version', kind: 'string', help: 'Apache Kafka 3.x version to run (default 3.9.1)' },
  { name: 'dry-run', kind: 'boolean', help: 'topics: report the drift from the declaration (what would be created, raised, updated), change nothing' },
  { name: 'ssl', kind: 'boolean', help: 'topics: connect with TLS, system CAs (files and SASL: the config file, or env PAGELOOP_KAFKA_SSL_*/SASL_*)' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = [
  'Run the local Apache Kafka (KRaft: one node on loopback, or --brokers 3 for a cluster), or apply the topic declaration.',
  '  start   install the jars if needed, start the node(s), create/update the topics; prints the bootstrap address(es)',
  '  stop    stop every local node',
  '  status  each local node, partition leaders, under-replicated partitions (exit status 0: running, 3: not running)',
  '  topics  create missing topics, raise partitions, set configs to the declaration, report drift, on --brokers (or',
  '          PAGELOOP_KAFKA_BROKERS, the config file, or the local Kafka)',
].join('\n');

const COMMAND = 'kafka start|stop|status|topics [flags]';

/** --brokers of start/status: one integer, the node count. */
function localBrokerCount(args: ParsedArgs, action: string): number | undefined {
  const raw = flagList(args, 'brokers');
  if (raw.length === 0) return undefined;
  const n = Number(raw[0]);
  if (raw.length !== 1 || !Number.isInteger(n) || n < 1 || n > MAX_LOCAL_BROKERS) {
    throw new UsageError(
      `--brokers: for 'kafka ${action}' the number of local nodes, 1-${MAX_LOCAL_BROKERS}, got '${raw.join(',')}' (bootstrap servers are for 'kafka topics')`,
    );
  }
  return n;
}

function localConfig(args: ParsedArgs, brokers: number | undefined): Partial<LocalKafkaConfig> {
  const c: { -readonly [K in keyof LocalKafkaConfig]?: LocalKafkaConfig[K] } = {};
  if (brokers !== undefined) c.brokers = brokers;
  const port = flagNumber(args, 'port');
  if (port !== undefined) c.port = port;
  const controllerPort = flagNumber(args, 'controller-port');
  if (controllerPort !== undefined) c.controllerPort = controllerPort;
  const host = flagString(args, 'host');
  if (host !== undefined) c.host = host;
  const dataDir = flagString(args, 'data-dir');
  if (dataDir !== undefined) c.dataDir = dataDir;
  const cacheDir = flagString(args, 'cache-dir');
  if (cacheDir !== undefined) c.cacheDir = cacheDir;
  const heap = flagString(args, 'heap');
  if (heap !== undefined) c.heap = heap;
  const version = flagString(args, 'kafka-version');
  if (version !== undefined) c.version = version;
  return c;
}

/** --partitions events=48,hints=12 as a map; names are checked by declaredTopics. */
export function parsePartitionsFlag(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([A-Za-z][\w.-]*)=(\d+)$/.exec(v.trim());
    if (!m) throw new UsageError(`--partitions: '${v}' is not topic=count (e.g. events=48)`);
    if (m[1]! in out) throw new UsageError(`--partitions: ${m[1]} given twice`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The topic flags as given (flags over the config file), the replication factor undefined when neither gives it. */
interface TopicFlags {
  readonly partitions: Record<string, number>;
  readonly replicationFactor: number | undefined;
}

/**
 * Parses and checks --partitions and --replication-factor (topic names,
 * counts, ranges) before anything is started or reached: a typo must not
 * leave a broker running (kafka start) or wait on a connection first.
 */
function topicFlags(args: ParsedArgs, file: PageloopConfig): TopicFlags {
  const partitions = { ...file.kafka?.topics?.partitions, ...parsePartitionsFlag(flagList(args, 'partitions')) };
  const flagRf = flagNumber(args, 'replication-factor');
  if (flagRf !== undefined && (!Number.isInteger(flagRf) || flagRf < 1 || flagRf > 32)) {
    throw new UsageError(`--replication-factor: wants an integer 1-32, got ${flagRf}`);
  }
  const replicationFactor = flagRf ?? file.kafka?.topics?.replicationFactor;
  try {
    declaredTopics({ replicationFactor: replicationFactor ?? 1, partitions });
  } catch (err) {
    // Name the flag: partitions.x alone reads like a config key.
    if (err instanceof UsageError && flagList(args, 'partitions').length > 0) throw new UsageError(`--partitions: ${err.message}`);
    throw err;
  }
  return { partitions, replicationFactor };
}

/** Topic sizing: flags over the config file's kafka.topics; the replication factor from the cluster's size when neither gives it. */
function topicOptions(checked: TopicFlags, clusterBrokers: number): TopicOptions {
  const { partitions } = checked;
  const rf = checked.replicationFactor ?? replicationFactorFor(clusterBrokers);
  if (rf > clusterBrokers) {
    throw new UsageError(`--replication-factor: ${rf} replicas need ${rf} brokers, the cluster has ${clusterBrokers}`);
  }
  return { replicationFactor: rf, partitions };
}

async function withAdmin<T>(kafka: Kafka, f: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await f(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Applies the declared topics, sized for the cluster (its broker count from its metadata). */
async function applyTopics(kafka: Kafka, args: ParsedArgs, checked: TopicFlags): Promise<EnsureTopicsReport> {
  return withAdmin(kafka, async (admin) => {
    const brokers = (await admin.describeCluster()).brokers.length;
    return ensureTopics(admin, declaredTopics(topicOptions(checked, brokers)), { dryRun: flagBoolean(args, 'dry-run') });
  });
}

/**
 * A new topic reaches each node's metadata at its own pace: until then that
 * node answers UNKNOWN_TOPIC_OR_PARTITION. `start` returns when every node
 * knows every topic with its leaders, so a client may bootstrap from any of
 * them. One client per node, seeded with it alone: kafkajs asks a connected
 * broker for metadata, and the seed is the only one connected.
 */
async function waitOnEveryNode(bootstraps: readonly string[], topics: readonly { readonly name: string; readonly partitions: number }[]): Promise<void> {
  for (const node of bootstraps) {
    await withAdmin(createKafka({ ...kafkaSettingsFor('kafka', undefined), brokers: [node] }), (admin) => waitForLeaders(admin, topics));
  }
}

function loadConfig(args: ParsedArgs): PageloopConfig {
  const path = flagString(args, 'config') ?? process.env.PAGELOOP_CONFIG;
  return path ? loadJsonFile(path, validateConfig) : {};
}

function say(line: string): void {
  process.stderr.write(`kafka: ${line}\n`);
}

function statusLines(s: LocalKafkaStatus, health: ClusterHealth | undefined, healthError: string | undefined): string[] {
  const lines: string[] = [];
  const single = s.brokers === 1;
  if (!s.running) {
    lines.push(`not running${s.stalePidFile ? ' (stale pid file: it exited or was killed)' : ''}; ${s.installed ? 'installed' : 'not installed'}; data ${s.dataDir}`);
    return lines;
  }
  if (single) {
    lines.push(`running at ${s.bootstrap} (pid ${s.pid}, Kafka ${s.version}, ${s.healthy ? 'answering' : 'NOT answering'}; data ${s.dataDir})`);
  } else {
    const up = s.nodes.filter((n) => n.running).length;
    lines.push(`running: ${up} of ${s.brokers} nodes (Kafka ${s.version}, ${s.healthy ? 'all answering' : 'NOT all answering'}; data ${s.dataDir})`);
    for (const n of s.nodes) {
      const state = n.running ? `pid ${n.pid}, ${n.healthy ? 'answering' : 'NOT answering'}` : `DOWN${n.stalePidFile ? ' (stale pid file)' : ''}`;
      lines.push(`  node ${n.nodeId} at ${n.bootstrap}: ${state}`);
    }
  }
  if (healthError !== undefined) {
    lines.push(`topics: ${healthError}`);
  } else if (health) {
    lines.push(`brokers in the metadata: ${health.brokers.map((b) => b.nodeId).join(', ') || 'none'}`);
    for (const t of health.topics) lines.push(`  ${formatTopicHealth(t)}`);
    if (health.missing.length > 0) lines.push(`  missing topics: ${health.missing.join(', ')}`);
  }
  return lines;
}

export const kafkaCommand: Command = {
  name: 'kafka',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    const help = usage(COMMAND, SUMMARY, flags);
    if (flagBoolean(args, 'help')) {
      console.log(help);
      return 0;
    }
    const [action, ...extra] = args.positionals;
    if (action === undefined) throw new UsageError('kafka: which action? start, stop, status or topics (pageloop kafka --help)');
    if (extra.length > 0) throw new UsageError(`kafka ${action}: unexpected argument '${extra[0]}'`);
    const json = flagBoolean(args, 'json');
    const only: Record<string, readonly string[]> = { ssl: ['topics'], 'dry-run': ['topics'], partitions: ['start', 'topics'], 'replication-factor': ['start', 'topics'], brokers: ['start', 'status', 'topics'] };
    for (const [f, actions] of Object.entries(only)) {
      if (args.flags.has(f) && !actions.includes(action)) throw new UsageError(`--${f} is for 'kafka ${actions.join("|")}' only`);
    }

    switch (action) {
      case 'start': {
        const file = loadConfig(args);
        const checked = topicFlags(args, file);
        const nodes = localBrokerCount(args, action);
        if (nodes !== undefined && checked.replicationFactor !== undefined && checked.replicationFactor > nodes) {
          throw new UsageError(`--replication-factor: ${checked.replicationFactor} replicas need ${checked.replicationFactor} brokers, --brokers starts ${nodes}`);
        }
        const local = createLocalKafka(localKafkaConfig(localConfig(args, nodes)), { progress: say });
        const started = await local.start();
        // Topics every time, not only on a fresh start: a changed declaration must reach a running broker.
        const kafka = createKafka({ ...kafkaSettingsFor('kafka', undefined), brokers: started.bootstraps });
        const report = await applyTopics(kafka, args, checked);
        for (const line of formatEnsureReport(report)) say(`topics: ${line}`);
        if (started.bootstraps.length > 1) await waitOnEveryNode(started.bootstraps, declaredTopics(topicOptions(checked, started.bootstraps.length)));
        if (json) console.log(JSON.stringify({ ...started, topics: report }));
        else console.log(started.bootstraps.join(','));
        return 0;
      }
      case 'stop': {
        const local = createLocalKafka(localKafkaConfig(localConfig(args, undefined)), { progress: json ? () => undefined : say });
        const stopped = await local.stop();
        if (json) console.log(JSON.stringify(stopped));
        else if (!stopped.wasRunning) console.log('not running');
        else if (stopped.nodes.length === 1) console.log(`stopped (pid ${stopped.pid})${stopped.killed ? ' after SIGKILL' : ''}`);
        else console.log(`stopped ${stopped.nodes.length} nodes (pids ${stopped.nodes.map((n) => n.pid).join(', ')})${stopped.killed ? ', some after SIGKILL' : ''}`);
        return 0;
      }
      case 'status': {
        const local = createLocalKafka(localKafkaConfig(localConfig(args, localBrokerCount(args, action))), { progress: () => undefined });
        const s = await local.status();
        let health: ClusterHealth | undefined;
        let healthError: string | undefined;
        if (s.running) {
          try {
            const kafka = createKafka({ ...kafkaSettingsFor('kafka', undefined), brokers: s.bootstraps, requestTimeoutMs: 5000, connectionTimeoutMs: 3000 });
            health = await withAdmin(kafka, (admin) => clusterHealth(admin, TOPIC_NAMES));
          } catch (err) {
            healthError = `cannot read the metadata: ${err instanceof Error ? err.message : String(err)}`;
          }
        }
        if (json) console.log(JSON.stringify({ ...s, ...(health ? { health } : {}), ...(healthError ? { healthError } : {}) }));
        else for (const line of statusLines(s, health, healthError)) console.log(line);
        // LSB convention (as systemctl status): 3 = not running, so scripts can test it.
        return s.running ? 0 : 3;
      }
      case 'topics': {
        const file = loadConfig(args);
        const checked = topicFlags(args, file);
        const settings = kafkaSettingsFor('kafka', file.kafka, { brokers: flagList(args, 'brokers'), ...(flagBoolean(args, 'ssl') ? { ssl: true } : {}) });
        const dataDir = flagString(args, 'data-dir');
        const kafka = createKafka(dataDir !== undefined ? { ...settings, localDataDir: dataDir } : settings);
        const report = await applyTopics(kafka, args, checked);
        if (json) console.log(JSON.stringify({ topics: report }));
        else for (const line of formatEnsureReport(report)) console.log(line);
        return 0;
      }
      default:
        throw new UsageError(`kafka: unknown action '${action}' (known: start, stop, status, topics)`);
    }
  },
};
