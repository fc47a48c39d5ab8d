import kafkajs from 'kafkajs';
import type { Command } from '../command.js';
import { flagBoolean, flagList, flagNumber, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { kafkaConfigFromSettings } from '../../kafka/client.js';
import { createLocalKafka, type LocalKafkaConfig } from '../../deploy/kafka/local-kafka.js';
import { declaredTopics, ensureTopics, formatEnsureReport, type EnsureTopicsReport } from '../../schemas/topics.js';

const { Kafka, logLevel } = kafkajs;

const flags: FlagSpec[] = [
  { name: 'json', kind: 'boolean', help: 'print one JSON object on stdout instead of text' },
  { name: 'port', kind: 'number', help: 'local broker client port (default 9092, env PAGELOOP_KAFKA_PORT)' },
  { name: 'controller-port', kind: 'number', help: 'local KRaft controller port (default 9093, env PAGELOOP_KAFKA_CONTROLLER_PORT)' },
  { name: 'host', kind: 'string', help: 'local broker address (default 127.0.0.1)' },
  { name: 'data-dir', kind: 'string', help: 'local broker state (default ~/.local/state/pageloop/kafka, env PAGELOOP_KAFKA_DATA_DIR)' },
  { name: 'cache-dir', kind: 'string', help: 'jar cache root (default ~/.cache/pageloop, env PAGELOOP_CACHE_DIR)' },
  { name: 'heap', kind: 'string', help: 'local broker JVM heap (default 512m)' },
  { name: 'kafka-version', kind: 'string', help: 'Apache Kafka 3.x version to run (default 3.9.1)' },
  { name: 'brokers', kind: 'list', help: 'topics: bootstrap servers of an existing cluster (default: env PAGELOOP_KAFKA_BROKERS, else the local broker)' },
  { name: 'replication-factor', kind: 'number', help: 'topics: replication factor for new topics (default 1)' },
  { name: 'ssl', kind: 'boolean', help: 'topics: connect with TLS (SASL comes from env PAGELOOP_KAFKA_SASL_*)' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = [
  'Run the local Apache Kafka broker (KRaft, one node on loopback), or apply the topic declaration.',
  '  start   install the jars if needed, start the broker, create/update the topics; prints the bootstrap address',
  '  stop    stop the local broker',
  '  status  is the local broker running? (exit status 0: running, 3: not running)',
  '  topics  create/update the declared topics on --brokers (or PAGELOOP_KAFKA_BROKERS, or the local broker)',
].join('\n');

const COMMAND = 'kafka start|stop|status|topics [flags]';

function localConfig(args: ParsedArgs): Partial<LocalKafkaConfig> {
  const c: { -readonly [K in keyof LocalKafkaConfig]?: LocalKafkaConfig[K] } = {};
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

/** Applies the declared topics through an admin client on the given config. */
async function applyTopics(kafka: InstanceType<typeof Kafka>, replicationFactor: number): Promise<EnsureTopicsReport> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await ensureTopics(admin, declaredTopics({ replicationFactor }));
  } finally {
    await admin.disconnect();
  }
}

function say(line: string): void {
  process.stderr.write(`kafka: ${line}\n`);
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
    const rf = flagNumber(args, 'replication-factor') ?? 1;
    if (action !== 'topics') {
      for (const f of ['brokers', 'replication-factor', 'ssl']) {
        if (args.flags.has(f)) throw new UsageError(`--${f} is for 'kafka topics' only`);
      }
    }

    switch (action) {
      case 'start': {
        const local = createLocalKafka(localConfig(args), { progress: say });
        const started = await local.start();
        // Topics every time, not only on a fresh start: a changed declaration must reach a running broker.
        const kafka = new Kafka({ clientId: 'pageloop-kafka', brokers: [started.bootstrap], logLevel: logLevel.WARN });
        const report = await applyTopics(kafka, rf);
        for (const line of formatEnsureReport(report)) say(`topics: ${line}`);
        if (json) console.log(JSON.stringify({ ...started, topics: report }));
        else console.log(started.bootstrap);
        return 0;
      }
      case 'stop': {
        const local = createLocalKafka(localConfig(args), { progress: json ? () => undefined : say });
        const stopped = await local.stop();
        if (json) console.log(JSON.stringify(stopped));
        else console.log(stopped.wasRunning ? `stopped (pid ${stopped.pid})${stopped.killed ? ' after SIGKILL' : ''}` : 'not running');
        return 0;
      }
      case 'status': {
        const local = createLocalKafka(localConfig(args), { progress: () => undefined });
        const s = await local.status();
        if (json) {
          console.log(JSON.stringify(s));
        } else if (s.running) {
          console.log(`running at ${s.bootstrap} (pid ${s.pid}, Kafka ${s.version}, ${s.healthy ? 'answering' : 'NOT answering'}; data ${s.dataDir})`);
        } else {
          console.log(`not running${s.stalePidFile ? ' (stale pid file: it exited or was killed)' : ''}; ${s.installed ? 'installed' : 'not installed'}; data ${s.dataDir}`);
        }
        // LSB convention (as systemctl status): 3 = not running, so scripts can test it.
        return s.running ? 0 : 3;
      }
      case 'topics': {
        const config = kafkaConfigFromSettings({
          brokers: flagList(args, 'brokers'),
          clientId: 'pageloop-kafka',
          ...(flagBoolean(args, 'ssl') ? { ssl: true } : {}),
          ...(flagString(args, 'data-dir') !== undefined ? { localDataDir: flagString(args, 'data-dir') } : {}),
        });
        const report = await applyTopics(new Kafka(config), rf);
        if (json) console.log(JSON.stringify({ brokers: config.brokers, topics: report }));
        else for (const line of formatEnsureReport(report)) console.log(line);
        return 0;
      }
      default:
        throw new UsageError(`kafka: unknown action '${action}' (known: start, stop, status, topics)`);
    }
  },
};
