/**
 * The whole pipeline on one host, as `pageloop up` runs it: the local Kafka
 * broker, the embedded ClickHouse engine and its HTTP endpoint (for
 * Grafana), then the sink, the processors and the agent (collector +
 * feedback sharing one BPF object), each started by deploy/pipeline.ts over
 * the broker's client. Started in that order, stopped in reverse; a status
 * file lets `pageloop status` report from another terminal.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import kafkajs, { type Kafka } from 'kafkajs';
import { createLocalKafka, localKafkaConfig } from './kafka/local-kafka.js';
import { defaultDataDir } from '../kafka/local-state.js';
import { declaredTopics, ensureTopics } from '../schemas/topics.js';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { quietLogCreator } from '../kafka/client.js';
import { startClickHouseHttpEndpoint, type ClickHouseHttpEndpoint } from './clickhouse/http-endpoint.js';
import type { FeedbackConfig } from '../feedback/config.js';
import type { CollectSettings } from './collector.js';
import { DEFAULT_RUNNER_CONFIG } from '../processors/runner.js';
import { createProcessorConfig } from '../processors/config.js';
import { processorTopics } from '../processors/topics.js';
import { DEFAULT_SINK_CONFIG } from '../sink/sink.js';
import { startAgent, startProcessors, startSink } from './pipeline.js';
import { totalOf } from '../collectors/collector.js';
import { formatOverhead, overheadStatus, type OverheadStatus } from '../collectors/overhead.js';
import { errorMessage } from '../lib/errors.js';

const { Kafka: KafkaClient, logLevel } = kafkajs;

export interface StackConfig {
  collect: CollectSettings;
  feedback: FeedbackConfig;
  clickhouse: { url?: string; database: string; httpPort: number };
  /** Seconds between status lines (and status file updates). */
  statusIntervalS: number;
  statusFile: string;
}

export function defaultStatusFile(): string {
  return join(dirname(defaultDataDir()), 'up.json');
}

/**
 * Replaces the status file atomically. Root-only (file 0600, directory 0700):
 * it names the host's processes and the pipeline's endpoints.
 */
export function writeStackStatus(file: string, s: StackStatus): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file + '.tmp', JSON.stringify(s, null, 2), { mode: 0o600 });
  chmodSync(file + '.tmp', 0o600); // a .tmp left by a crash keeps its old mode otherwise
  renameSync(file + '.tmp', file);
}

/** What `pageloop status` reads. */
export interface StackStatus {
  pid: number;
  startedAt: string;
  updatedAt: string;
  host: string;
  kafka: string;
  clickhouseHttp: string | null;
  eventsPerSecond: number;
  drained: number;
  produced: number;
  dropped: number;
  ringBufferLost: number;
  hintsApplied: number;
  hintsRefused: number;
  hintsFailed: number;
  processor: { records: number; regions: number; outputs: Record<string, number> };
  sinkRows: number;
  /** What the probes and the agent cost this host (newest interval); null when overhead accounting is off. Absent in files of older versions. */
  overhead?: OverheadStatus | null;
}

export function formatStatusLine(s: StackStatus): string {
  return (
    `${s.eventsPerSecond.toFixed(0)} events/s; drained ${s.drained}, produced ${s.produced}, dropped ${s.dropped}, ` +
    `ring-buffer lost ${s.ringBufferLost}; processors ${s.processor.records} batches, ${s.processor.regions} regions, ` +
    `${s.processor.outputs.hints ?? 0} hints; hints applied ${s.hintsApplied}, refused ${s.hintsRefused}, failed ${s.hintsFailed}; ` +
    `sink ${s.sinkRows} rows` +
    (s.overhead ? `; ${formatOverhead(s.overhead)}` : '')
  );
}

export function readStackStatus(file = defaultStatusFile()): StackStatus | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackStatus;
  } catch {
    return undefined;
  }
}

export interface Stack {
  status(): StackStatus;
  stop(): Promise<void>;
}

/** Starts everything, saying what it does; on a failure, stops what it started and rethrows. */
export async function startStack(config: StackConfig, progress: (line: string) => void): Promise<Stack> {
  const stops: Array<{ what: string; stop: () => Promise<unknown> }> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) {
      try {
        progress(`stopping ${s.what}`);
        await s.stop();
      } catch (err) {
        progress(`stopping ${s.what} failed: ${errorMessage(err)}`);
      }
    }
    stops.length = 0;
  };
  try {
    progress('starting Kafka (local broker, KRaft)');
    const local = createLocalKafka(localKafkaConfig(), { progress });
    await local.install();
    const started = await local.start();
    if (!started.alreadyRunning) stops.push({ what: 'Kafka', stop: () => local.stop() });
    const kafka: Kafka = new KafkaClient({ clientId: 'pageloop-up', brokers: [started.bootstrap], logLevel: logLevel.ERROR, logCreator: quietLogCreator });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, declaredTopics());
    await admin.disconnect();
    progress(`Kafka ready on ${started.bootstrap}`);

    progress(config.clickhouse.url ? `connecting to ClickHouse at ${config.clickhouse.url}` : 'starting ClickHouse (embedded engine)');
    const ch: PageloopClickHouse = await createClickHouseClient({ database: config.clickhouse.database, ...(config.clickhouse.url ? { url: config.clickhouse.url } : {}) });
    stops.push({ what: 'ClickHouse client', stop: () => ch.close() });
    let http: ClickHouseHttpEndpoint | undefined;
    if (ch.engine) {
      http = await startClickHouseHttpEndpoint({ engine: ch.engine, port: config.clickhouse.httpPort, readonly: true });
      stops.push({ what: 'ClickHouse HTTP endpoint', stop: () => http!.close() });
      progress(`ClickHouse HTTP endpoint for Grafana on ${http.url}`);
    }

    progress('starting the sink (every topic into ClickHouse)');
    const sink = await startSink({ sink: DEFAULT_SINK_CONFIG, metrics: null }, { kafka: { client: kafka }, clickhouse: { client: ch }, log: progress });
    stops.push({ what: 'sink', stop: () => sink.stop() });
    progress(`sink running (schema: ${JSON.stringify(sink.schema)})`);

    progress('starting the processors (scores, phases, hints)');
    const processor = await startProcessors(
      {
        model: createProcessorConfig(),
        runner: { ...DEFAULT_RUNNER_CONFIG, groupId: 'pageloop-processors', instanceId: `up-${randomUUID().slice(0, 8)}`, topics: processorTopics() },
        metrics: null,
        readEnds: false,
        fresh: false,
      },
      { kafka: { client: kafka }, log: progress },
    );
    stops.push({ what: 'processors', stop: () => processor.stop() });

    progress('starting the agent (probes, collector, feedback)');
    const agent = await startAgent({ collect: config.collect, feedback: config.feedback }, { kafka: { client: kafka }, log: progress });
    // Stopped in reverse: the feedback agent first, then the collector, as agent.stop() does; one step each, so progress names both.
    stops.push({ what: 'collector', stop: () => agent.collector.stop() });
    stops.push({ what: 'feedback agent', stop: () => agent.feedback.stop() });
    const { collector, feedback } = agent;
    if (config.feedback.allow.comms.length + config.feedback.allow.executables.length + config.feedback.allow.cgroups.length === 0) {
      progress('feedback allow-list is empty: hints are recorded but no process is touched (see --allow-comm and friends)');
    }

    const startedAt = new Date().toISOString();
    let lastDrained = 0;
    let lastAt = performance.now();
    const status = (): StackStatus => {
      const c = collector.collector.stats();
      const f = feedback.stats();
      const p = processor.stats();
      const drained = totalOf(c.drained);
      const now = performance.now();
      const rate = ((drained - lastDrained) * 1000) / Math.max(1, now - lastAt);
      lastDrained = drained;
      lastAt = now;
      return {
        pid: process.pid,
        startedAt,
        updatedAt: new Date().toISOString(),
        host: config.collect.collector.host,
        kafka: started.bootstrap,
        clickhouseHttp: http?.url ?? null,
        eventsPerSecond: rate,
        drained,
        produced: totalOf(c.produced),
        dropped: totalOf(c.dropped),
        ringBufferLost: c.loss.total,
        hintsApplied: f.outcomes.applied,
        hintsRefused: f.outcomes.refused,
        hintsFailed: f.outcomes.failed,
        processor: { records: p.records, regions: p.hosts.regions, outputs: p.outputs },
        sinkRows: Object.values(sink.stats().rows).reduce((a, b) => a + b, 0),
        overhead: collector.overhead ? overheadStatus(collector.overhead.stats()) : null,
      };
    };
    const writeStatus = (s: StackStatus) => writeStackStatus(config.statusFile, s);
    const timer = setInterval(() => {
      const s = status();
      writeStatus(s);
      progress(formatStatusLine(s));
    }, config.statusIntervalS * 1000);
    writeStatus(status());
    stops.push({
      what: 'status',
      stop: async () => {
        clearInterval(timer);
        rmSync(config.statusFile, { force: true });
      },
    });
    progress('pageloop is up; Ctrl-C stops everything');
    return { status, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
