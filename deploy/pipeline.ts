/**
 * The pipeline's wiring: every part is created in exactly one function here,
 * and both the commands (cli/commands/: they parse flags, format output and
 * decide how long to run) and `pageloop up` (stack.ts) call these.
 *
 * - startAgent: the probes, the collector and the feedback agent of a host,
 *   sharing one BPF object and its hint map (`pageloop agent`, the stack);
 * - startCollectorOnly: the probes and the collector (`collect`, `record`);
 * - startFeedback: the feedback agent alone (`feedback`);
 * - startProcessors: the stream processors (`process`, `replay`, the stack);
 * - startSink: every topic into ClickHouse (`sink`, the stack);
 * - startClickHouseServe: the embedded engine on its data directory behind
 *   its HTTP endpoint, as a process of its own (`serve`: what Grafana and a
 *   sink by URL reach; the stack serves its in-process engine itself);
 * - loadProbes: the probes alone (`trace`), and for the parts above.
 *
 * Each takes (settings, deps), returns once its part runs, with stats() and
 * stop(); a start that fails stops what it started and rethrows.
 */
import type { Kafka } from 'kafkajs';
import { UsageError } from '../lib/errors.js';
import { slowStep } from '../lib/slow-step.js';
import { loadAddon } from '../bpf/native.js';
import { createProbes, DEFAULT_PROBES_CONFIG, type Probes, type ProbesConfig } from '../bpf/probes.js';
import type { KafkaSettings } from '../kafka/client.js';
import { createKafka } from '../kafka/settings.js';
import { createClickHouseClient, type ClickHouseClientSettings, type PageloopClickHouse } from '../clickhouse/client.js';
import type { MigrationReport } from '../clickhouse/migrations.js';
import type { CollectorStats, EventsProducer } from '../collectors/collector.js';
import { createFeedbackAgent, type FeedbackAgent, type FeedbackAgentStats } from '../feedback/agent.js';
import type { FeedbackConfig } from '../feedback/config.js';
import type { HintAction } from '../schemas/derived.js';
import type { ProcessorConfig } from '../processors/config.js';
import { createProcessor, endOffsets, waitForCommitted, type Processor, type ProcessorStats } from '../processors/runner.js';
import type { RunnerConfig } from '../processors/runner-config.js';
import { outputTopicSpecs, retrying } from '../processors/topics.js';
import { createSink, type Sink, type SinkConfig, type SinkStats } from '../sink/sink.js';
import { startCollecting, type CollectSettings, type RunningCollector } from './collector.js';
import { serveHealthEndpoint, type HealthEndpoint, type HealthEndpointConfig } from './health-endpoint.js';
import { startClickHouseHttpEndpoint, validateHttpEndpointConfig, type ClickHouseHttpEndpoint, type HttpEndpointConfig } from './clickhouse/http-endpoint.js';

/**
 * How a part reaches Kafka: settings to make its own client from (a command:
 * kafka/settings.ts kafkaSettingsFor merged them), or a client to share (the
 * stack's, on its local broker).
 */
export type KafkaSource = { readonly settings: KafkaSettings } | { readonly client: Kafka };

/** How the sink reaches ClickHouse: settings for a client it owns (and closes), or the stack's client, shared with its HTTP endpoint. */
export type ClickHouseSource = { readonly settings: ClickHouseClientSettings } | { readonly client: PageloopClickHouse };

/** What every part returns. */
export interface PartHandle<S> {
  stats(): S;
  /** Stops the part; resolves with its final stats. */
  stop(): Promise<S>;
}

type Log = (line: string) => void;

function kafkaFrom(source: KafkaSource): Kafka {
  return 'client' in source ? source.client : createKafka(source.settings);
}

/**
 * The host's probes: the defaults under these overrides (the settings' probes
 * section and its flags), loaded and attached. Every part that needs probes
 * gets them here; `pageloop trace` uses them alone.
 */
export function loadProbes(overrides: Partial<ProbesConfig>): Probes {
  return createProbes({ ...DEFAULT_PROBES_CONFIG, ...overrides }, { addon: loadAddon() });
}

// ---- the host agent -------------------------------------------------------

export interface AgentSettings {
  readonly collect: CollectSettings;
  readonly feedback: FeedbackConfig;
}

export interface AgentDeps {
  readonly kafka: KafkaSource;
  /** Progress lines of both parts (default: the collector's on stderr, the feedback agent's as `feedback: ...`). */
  readonly log?: Log;
  /** Every action record the feedback agent sent. */
  readonly onAction?: (action: HintAction) => void;
}

export interface AgentStats {
  readonly collector: CollectorStats;
  readonly feedback: FeedbackAgentStats;
}

export interface AgentHandle extends PartHandle<AgentStats> {
  readonly collector: RunningCollector;
  readonly feedback: FeedbackAgent;
}

/**
 * The collector and the feedback agent on one BPF object: the probes pin the
 * hint map the feedback agent writes. The collector starts first; if the
 * feedback agent does not start, the collector is stopped and the error
 * rethrown. stop() stops the feedback agent first (it writes the probes'
 * hint map), then the collector, which closes the probes.
 */
export async function startAgent(settings: AgentSettings, deps: AgentDeps): Promise<AgentHandle> {
  const kafka = kafkaFrom(deps.kafka);
  const probes = loadProbes({ ...settings.collect.probes, hintMapPinPath: settings.feedback.hintMapPinPath });
  const collector = await startCollecting(settings.collect, { probes, sink: { kafka }, ...(deps.log ? { log: deps.log } : {}) });
  let feedback: FeedbackAgent;
  try {
    feedback = createFeedbackAgent(settings.feedback, {
      kafka,
      hintMap: probes.hints(),
      ...(deps.log ? { log: deps.log } : {}),
      ...(deps.onAction ? { onAction: deps.onAction } : {}),
    });
    await feedback.start();
  } catch (err) {
    // The stack's progress says what it stops; a command's output stays as it was.
    deps.log?.('stopping collector');
    await collector.stop();
    throw err;
  }
  const stats = (): AgentStats => ({ collector: collector.stats(), feedback: feedback.stats() });
  return {
    collector,
    feedback,
    stats,
    async stop() {
      const say = deps.log ?? ((line: string) => console.error(line));
      await slowStep(say, 'stopping the feedback agent', () => feedback.stop());
      const final = await slowStep(say, 'stopping the collector (its last batches to Kafka)', () => collector.stop());
      return { collector: final, feedback: feedback.stats() };
    },
  };
}

// ---- the collector alone --------------------------------------------------

/** Where the collector's batches go: Kafka, or another producer (a recording file). */
export type CollectorOutput = KafkaSource | { readonly producer: EventsProducer; readonly describe: string };

export interface CollectorOnlyDeps {
  readonly output: CollectorOutput;
  readonly log?: Log;
}

/** The probes and the collector, without a feedback agent (the hint map is the probes' own). */
export async function startCollectorOnly(settings: CollectSettings, deps: CollectorOnlyDeps): Promise<RunningCollector> {
  const { output } = deps;
  const sink = 'producer' in output ? output : { kafka: kafkaFrom(output) };
  return startCollecting(settings, { probes: loadProbes(settings.probes), sink, ...(deps.log ? { log: deps.log } : {}) });
}

// ---- the feedback agent alone ---------------------------------------------

export interface FeedbackDeps {
  readonly kafka: KafkaSource;
  readonly log?: Log;
  readonly onAction?: (action: HintAction) => void;
}

export interface FeedbackHandle extends PartHandle<FeedbackAgentStats> {
  readonly agent: FeedbackAgent;
}

/** The feedback agent on the hint map pinned at config.hintMapPinPath (opened, or created and pinned). */
export async function startFeedback(config: FeedbackConfig, deps: FeedbackDeps): Promise<FeedbackHandle> {
  const agent = createFeedbackAgent(config, {
    kafka: kafkaFrom(deps.kafka),
    ...(deps.log ? { log: deps.log } : {}),
    ...(deps.onAction ? { onAction: deps.onAction } : {}),
  });
  await agent.start();
  return {
    agent,
    stats: () => agent.stats(),
    async stop() {
      await agent.stop();
      return agent.stats();
    },
  };
}

// ---- the processors -------------------------------------------------------

export interface ProcessorsSettings {
  readonly model: ProcessorConfig;
  readonly runner: RunnerConfig;
  /** /metrics, /healthz and /readyz; null: none. */
  readonly metrics: HealthEndpointConfig | null;
  /** Read the input's end offsets before starting, for caughtUp(). */
  readonly readEnds: boolean;
  /**
   * Replay: refuse output topics that already have records and a group that
   * already has offsets (a group with offsets would resume, and topics with
   * records would mix two runs), before anything is created.
   */
  readonly fresh: boolean;
}

export interface ProcessorsDeps {
  readonly kafka: KafkaSource;
  readonly log?: Log;
  /** The final stats, once: after stop(), or after a start that failed (the command prints them either way). */
  readonly onStopped?: (stats: ProcessorStats) => void;
}

export interface CaughtUpWait {
  readonly done: Promise<void>;
  /** Ends the wait (the poller sees it is over) and disconnects its admin client. */
  cancel(): Promise<void>;
}

export interface ProcessorsHandle extends PartHandle<ProcessorStats> {
  readonly processor: Processor;
  /** Rejects when the processor has failed for good. */
  readonly failed: Promise<never>;
  /** The input's end offsets per partition, read before the start (settings.readEnds). */
  readonly ends: ReadonlyMap<number, number> | undefined;
  /** Waits until the group has committed the input up to `ends`. */
  caughtUp(timeoutMs: number): CaughtUpWait;
}

export async function startProcessors(settings: ProcessorsSettings, deps: ProcessorsDeps): Promise<ProcessorsHandle> {
  const { runner } = settings;
  const topics = runner.topics;
  const kafka = kafkaFrom(deps.kafka);
  const log = deps.log ?? (() => undefined);
  let ends: Map<number, number> | undefined;
  if (settings.fresh) ends = await checkFresh(kafka, runner, settings.readEnds);
  const processor = createProcessor({ model: settings.model, runner }, { kafka, log });
  let started = false;
  let health: HealthEndpoint | undefined;
  const stop = async (): Promise<ProcessorStats> => {
    started = false;
    try {
      await processor.stop();
    } finally {
      await health?.close();
    }
    const final = processor.stats();
    deps.onStopped?.(final);
    return final;
  };
  // Served before the try: nothing has started yet if it cannot bind.
  if (settings.metrics) {
    health = await serveHealthEndpoint(settings.metrics, 'processors', {
      ready: () => started,
      counters: {
        records_total: { help: 'Input records applied (replays included)', value: () => processor.stats().records },
        transactions_total: { help: 'Kafka transactions committed', value: () => processor.stats().transactions },
        checkpoints_total: { help: 'State checkpoints written', value: () => processor.stats().checkpoints },
        restores_total: { help: 'Partition restores from a checkpoint', value: () => processor.stats().restores },
      },
    });
    log(`metrics on http://${settings.metrics.host}:${health.port}/metrics`);
  }
  try {
    if (settings.readEnds && !ends) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        ends = await endOffsets(admin, topics.events);
      } finally {
        await admin.disconnect();
      }
    }
    await processor.start();
    started = true;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    processor,
    failed: processor.failed,
    ends,
    stats: () => processor.stats(),
    stop,
    caughtUp(timeoutMs) {
      if (!ends) throw new Error('caughtUp() needs settings.readEnds');
      const until = ends;
      const admin = kafka.admin();
      let cancelled = false;
      const done = admin.connect().then(() => waitForCommitted(admin, runner.groupId, topics.events, until, { timeoutMs, failed: processor.failed, cancelled: () => cancelled }));
      return {
        done,
        async cancel() {
          cancelled = true;
          await done.catch(() => undefined);
          await admin.disconnect().catch(() => undefined);
        },
      };
    },
  };
}

/** Replay's precondition (see ProcessorsSettings.fresh); returns the input's end offsets when asked, read in the same admin session. */
async function checkFresh(kafka: Kafka, runner: RunnerConfig, readEnds: boolean): Promise<Map<number, number> | undefined> {
  const { groupId, topics } = runner;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    for (const spec of outputTopicSpecs(topics)) {
      if (!existing.has(spec.name)) continue;
      const nonEmpty = (await retrying(() => admin.fetchTopicOffsets(spec.name))).some((o) => Number(o.high) > 0);
      if (nonEmpty) throw new UsageError(`replay: ${spec.name} already has records; choose a new --to-prefix`);
    }
    const committed = (await retrying(() => admin.fetchOffsets({ groupId, topics: [topics.events] }))).flatMap((t) => t.partitions).some((p) => Number(p.offset) >= 0);
    if (committed) throw new UsageError(`replay: consumer group ${groupId} already has offsets; choose a new --to-prefix`);
    return readEnds ? await endOffsets(admin, topics.events) : undefined;
  } finally {
    await admin.disconnect();
  }
}

// ---- the sink -------------------------------------------------------------

export interface SinkSettings {
  readonly sink: SinkConfig;
  /** /metrics, /healthz and /readyz; null: none. */
  readonly metrics: HealthEndpointConfig | null;
}

export interface SinkPartDeps {
  readonly kafka: KafkaSource;
  readonly clickhouse: ClickHouseSource;
  readonly log?: Log;
}

export interface SinkHandle extends PartHandle<SinkStats> {
  readonly sink: Sink;
  readonly clickhouse: PageloopClickHouse;
  /** The migrations the start applied, and the schema version. */
  readonly schema: MigrationReport;
  /** Settles when the sink stops: rejects with the error that stopped it, if any. */
  readonly done: Promise<void>;
}

/** The sink, with its schema migrations applied on start; a ClickHouse client it made is closed by stop(). */
export async function startSink(settings: SinkSettings, deps: SinkPartDeps): Promise<SinkHandle> {
  const config = settings.sink;
  const kafka = kafkaFrom(deps.kafka);
  const source = deps.clickhouse;
  if ('settings' in source && config.cluster !== '' && source.settings.url === undefined && !process.env.PAGELOOP_CLICKHOUSE_URL?.trim()) {
    throw new UsageError(`clickhouse.cluster: '${config.cluster}' needs a ClickHouse server (--clickhouse-url or clickhouse.url); the embedded engine is one server`);
  }
  const ch = 'client' in source ? source.client : await createClickHouseClient(source.settings);
  const log = deps.log ?? (() => undefined);
  let sink: Sink | undefined;
  let health: HealthEndpoint | undefined;
  let started = false;
  const close = async (): Promise<void> => {
    started = false;
    try {
      await sink?.stop();
    } finally {
      await health?.close();
      if ('settings' in source) await ch.close();
    }
  };
  let schema: MigrationReport;
  try {
    const s = createSink(config, { kafka, clickhouse: ch, log });
    sink = s;
    if (settings.metrics) {
      health = await serveHealthEndpoint(settings.metrics, 'sink', {
        ready: () => started,
        counters: {
          records_total: { help: 'Kafka records written into ClickHouse', value: () => s.stats().records },
          blocks_total: { help: 'Insert blocks written', value: () => s.stats().blocks },
          retries_total: { help: 'Retried ClickHouse or Kafka operations', value: () => s.stats().retries },
          dead_letters_total: { help: 'Undecodable records sent to the dead-letter topic', value: () => s.stats().deadLetters },
        },
      });
      log(`metrics on http://${settings.metrics.host}:${health.port}/metrics`);
    }
    schema = await s.start();
    started = true;
  } catch (err) {
    await close();
    throw err;
  }
  const running = sink;
  return {
    sink: running,
    clickhouse: ch,
    schema,
    done: running.done,
    stats: () => running.stats(),
    async stop() {
      await close();
      return running.stats();
    },
  };
}

export interface ClickHouseServeSettings {
  /** The embedded engine's: database and data directory (no url: this process is the server). */
  readonly clickhouse: Omit<ClickHouseClientSettings, 'url'>;
  readonly endpoint: HttpEndpointConfig;
}

export interface ClickHouseServeStats {
  readonly url: string;
  readonly dataDir: string;
}

export interface ClickHouseServeHandle extends PartHandle<ClickHouseServeStats> {
  readonly url: string;
}

/** The embedded engine opened on its data directory and served over HTTP until stop(), which closes both. */
export async function startClickHouseServe(settings: ClickHouseServeSettings, deps: { readonly log?: Log } = {}): Promise<ClickHouseServeHandle> {
  validateHttpEndpointConfig(settings.endpoint);
  // The client would follow the variable to a server; this process is meant to be one.
  if (process.env.PAGELOOP_CLICKHOUSE_URL?.trim()) throw new UsageError('PAGELOOP_CLICKHOUSE_URL: set, but serve runs the embedded engine; unset it');
  const ch = await createClickHouseClient({ ...settings.clickhouse, createDatabase: settings.clickhouse.createDatabase ?? true });
  let http: ClickHouseHttpEndpoint;
  try {
    http = await startClickHouseHttpEndpoint({ engine: ch.engine!, ...settings.endpoint });
  } catch (err) {
    await ch.close();
    throw err;
  }
  const stats = (): ClickHouseServeStats => ({ url: http.url, dataDir: ch.engine!.dataDir });
  deps.log?.(`ClickHouse HTTP endpoint on ${http.url} (engine ${ch.engine!.dataDir}${settings.endpoint.readonly ? ', read-only' : ', writable'})`);
  let stopped: Promise<void> | undefined;
  return {
    url: http.url,
    stats,
    async stop() {
      stopped ??= (async () => {
        try {
          await slowStep(deps.log ?? (() => undefined), 'closing the HTTP endpoint', () => http.close());
        } finally {
          await ch.close();
        }
      })();
      await stopped;
      return stats();
    },
  };
}
