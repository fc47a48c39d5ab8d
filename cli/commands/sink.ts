/**
 * `pageloop sink`: every pageloop topic into ClickHouse (sink/).
 * The embedded engine by default; a server with --clickhouse-url, the config
 * file's clickhouse section (url, username, password, tls) or
 * PAGELOOP_CLICKHOUSE_URL. Schema migrations are applied on start.
 */
import type { Command } from '../command.js';
import { flagBoolean, flagList, flagNumber, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { clickHouseSettingsFor } from '../../clickhouse/settings.js';
import { kafkaSettingsFor } from '../../kafka/settings.js';
import { untilStopped } from '../run-until.js';
import { loadJsonFile, validateConfig, type PageloopConfig } from '../../schemas/validate.js';
import { DATABASE } from '../../schemas/clickhouse-tables.js';
import { SINK_TOPICS } from '../../sink/rows.js';
import { DEFAULT_SINK_CONFIG, type SinkConfig, type SinkStats } from '../../sink/sink.js';
import { DEFAULT_HEALTH_HOST, DEFAULT_SINK_METRICS_PORT, metricsAuthFromEnv } from '../../deploy/health-endpoint.js';
import { startSink } from '../../deploy/pipeline.js';

const flags: FlagSpec[] = [
  { name: 'config', kind: 'string', help: 'a pageloop config file (JSON); flags and environment override it' },
  { name: 'brokers', kind: 'list', help: 'Kafka bootstrap servers (default: the local broker of `pageloop kafka start`)' },
  { name: 'clickhouse-url', kind: 'string', help: 'a ClickHouse server (http://host:8123); default: the embedded engine' },
  { name: 'clickhouse-dir', kind: 'string', help: 'data directory of the embedded engine (default: $PAGELOOP_CLICKHOUSE_DIR or ~/.local/state/pageloop/clickhouse)' },
  { name: 'database', kind: 'string', help: `ClickHouse database (default ${DATABASE})` },
  { name: 'group', kind: 'string', help: `consumer group (default ${DEFAULT_SINK_CONFIG.groupId}); a new group replays every topic from the start` },
  { name: 'topics', kind: 'list', help: `topics to read (default: all of ${SINK_TOPICS.join(',')})` },
  { name: 'raw-ttl-days', kind: 'number', help: `days raw events are kept (default ${DEFAULT_SINK_CONFIG.rawTtlDays})` },
  { name: 'max-block-records', kind: 'number', help: `records per insert block at most (default ${DEFAULT_SINK_CONFIG.maxBlockRecords})` },
  { name: 'max-wait-ms', kind: 'number', help: `longest a quiet partition waits before its rows are written (default ${DEFAULT_SINK_CONFIG.fetchMaxWaitMs})` },
  { name: 'session-timeout-ms', kind: 'number', help: `consumer group session timeout: how long a dead sink holds its partitions (default ${DEFAULT_SINK_CONFIG.sessionTimeoutMs}, 6000..1800000)` },
  { name: 'cluster', kind: 'string', help: "the ClickHouse cluster the tables go on (ON CLUSTER, Replicated + Distributed; config clickhouse.cluster; default '': one server)" },
  { name: 'duration', kind: 'number', help: 'stop after this many seconds (default: until SIGINT/SIGTERM)' },
  { name: 'metrics-port', kind: 'number', help: `serve /metrics, /healthz and /readyz on this port (beyond loopback /metrics needs PAGELOOP_METRICS_PASSWORD; e.g. ${DEFAULT_SINK_METRICS_PORT}; 0 picks a free one; default: none)` },
  { name: 'metrics-host', kind: 'string', help: `address for --metrics-port (default ${DEFAULT_HEALTH_HOST})` },
  { name: 'json', kind: 'boolean', help: 'print the final stats as JSON' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'Write every pageloop topic into ClickHouse: raw events, rollups, scores, phases, hints, actions, tuner changes, dead letters.';

export function formatSinkStats(s: SinkStats): string {
  const rows = Object.entries(s.rows)
    .map(([t, n]) => `${t}=${n}`)
    .join(' ');
  return [
    `${s.records} records in ${s.blocks} blocks`,
    `rows ${rows || 'none'}`,
    `dead letters sent ${s.deadLetters}${s.badDeadLetters ? ` (${s.badDeadLetters} undecodable dead letters skipped)` : ''}`,
    `retries ${s.retries}`,
    ...(s.missingTopics.length ? [`missing topics ${s.missingTopics.join(',')}`] : []),
  ].join('; ');
}

function positiveInt(v: number | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v <= 0) throw new UsageError(`--${flag}: wants a whole number > 0, got ${v}`);
  return v;
}

/** The sink's config from defaults, then the config file, then flags. */
export function sinkConfigFromArgs(file: PageloopConfig, args: ReturnType<typeof parseArgs>): SinkConfig {
  const topics = flagList(args, 'topics');
  const ttl = positiveInt(flagNumber(args, 'raw-ttl-days'), 'raw-ttl-days');
  const maxRecords = positiveInt(flagNumber(args, 'max-block-records'), 'max-block-records');
  const maxWait = positiveInt(flagNumber(args, 'max-wait-ms'), 'max-wait-ms');
  const session = positiveInt(flagNumber(args, 'session-timeout-ms'), 'session-timeout-ms');
  return {
    ...DEFAULT_SINK_CONFIG,
    groupId: flagString(args, 'group') ?? (file.processors?.groupId ? `${file.processors.groupId}-sink` : DEFAULT_SINK_CONFIG.groupId),
    ...(topics.length ? { topics } : {}),
    ...(ttl !== undefined ? { rawTtlDays: ttl } : {}),
    ...(maxRecords !== undefined ? { maxBlockRecords: maxRecords } : {}),
    ...(maxWait !== undefined ? { fetchMaxWaitMs: maxWait } : {}),
    ...(session !== undefined ? { sessionTimeoutMs: session } : {}),
    cluster: flagString(args, 'cluster') ?? file.clickhouse?.cluster ?? DEFAULT_SINK_CONFIG.cluster,
  };
}

export const sinkCommand: Command = {
  name: 'sink',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('sink [flags]', SUMMARY, flags));
      return 0;
    }
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const configPath = flagString(args, 'config') ?? process.env.PAGELOOP_CONFIG;
    const file: PageloopConfig = configPath ? loadJsonFile(configPath, validateConfig) : {};
    const config = sinkConfigFromArgs(file, args);
    const url = flagString(args, 'clickhouse-url');
    const dataDir = flagString(args, 'clickhouse-dir');
    const database = flagString(args, 'database');
    const clickhouse = clickHouseSettingsFor(
      file.clickhouse,
      { ...(url !== undefined ? { url } : {}), ...(dataDir !== undefined ? { dataDir } : {}), ...(database !== undefined ? { database } : {}) },
      { database: DATABASE, createDatabase: true, application: 'pageloop-sink' },
    );
    const metricsPort = flagNumber(args, 'metrics-port');
    if (metricsPort === undefined && flagString(args, 'metrics-host') !== undefined) throw new UsageError('--metrics-host goes with --metrics-port');
    const metrics = metricsPort === undefined ? null : { host: flagString(args, 'metrics-host') ?? DEFAULT_HEALTH_HOST, port: metricsPort, ...metricsAuthFromEnv() };
    const log = (line: string): void => console.error(line);
    const sink = await startSink(
      { sink: config, metrics },
      { kafka: { settings: kafkaSettingsFor('sink', file.kafka, { brokers: flagList(args, 'brokers') }) }, clickhouse: { settings: clickhouse }, log },
    );
    let status: NodeJS.Timeout | undefined;
    try {
      for (const m of sink.schema.applied) log(`applied schema migration ${m.version} (${m.name})`);
      const ch = sink.clickhouse;
      log(`ClickHouse schema at version ${sink.schema.version} (${ch.mode}${ch.engine ? ` ${ch.engine.dataDir}` : ''})`);
      status = setInterval(() => log(formatSinkStats(sink.stats())), 10_000).unref();
      await Promise.race([untilStopped(duration), sink.done]);
    } finally {
      if (status) clearInterval(status);
      await sink.stop();
    }
    const final = sink.stats();
    if (flagBoolean(args, 'json')) console.log(JSON.stringify(final));
    else log(formatSinkStats(final));
    return 0;
  },
};
