import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Command } from '../command.js';
import { flagBoolean, flagList, flagNumber, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError, errorMessage } from '../../lib/errors.js';
import { kafkaSettingsFor } from '../../kafka/settings.js';
import type { KafkaSettings } from '../../kafka/client.js';
import { loadJsonFile, validateConfig, type PageloopConfig } from '../../schemas/validate.js';
import { createProcessorConfig, processorConfigFromFile, processorConfigFromJson, type ProcessorConfig, type ProcessorConfigInput } from '../../processors/config.js';
import { DEFAULT_RUNNER_CONFIG, MAX_ENGINE_WORKERS, type ProcessorStats, type RunnerConfig } from '../../processors/runner.js';
import { processorTopics } from '../../processors/topics.js';
import { DEFAULT_HEALTH_HOST, DEFAULT_PROCESSORS_METRICS_PORT, metricsAuthFromEnv } from '../../deploy/health-endpoint.js';
import { startProcessors, type CaughtUpWait, type ProcessorsHandle } from '../../deploy/pipeline.js';
import { untilSignal } from '../run-until.js';

/** Flags shared by `process` and `replay`. */
export const commonFlags: FlagSpec[] = [
  { name: 'brokers', kind: 'list', help: 'Kafka bootstrap servers (default: env PAGELOOP_KAFKA_BROKERS, the config file, else the local broker)' },
  { name: 'config', kind: 'string', help: 'a pageloop config file (JSON): its kafka and processors sections' },
  { name: 'model', kind: 'string', help: 'a JSON file with any subset of the processors\' typed config (every constant of the model), over --config' },
  { name: 'events-topic', kind: 'string', help: 'input topic (default pageloop.events.v1)' },
  { name: 'checkpoint-every', kind: 'number', help: `checkpoint a partition's state every N input records (default ${DEFAULT_RUNNER_CONFIG.checkpointEveryRecords})` },
  { name: 'checkpoint-input-ratio', kind: 'number', help: `a checkpoint also waits for this many times the last one's size of input (default ${DEFAULT_RUNNER_CONFIG.checkpointInputRatio}; 0: no wait)` },
  { name: 'max-records-per-txn', kind: 'number', help: `input records per transaction at most (default ${DEFAULT_RUNNER_CONFIG.maxRecordsPerTransaction})` },
  { name: 'partitions-concurrently', kind: 'number', help: `input partitions processed at once: one computes while others wait for their commits (default ${DEFAULT_RUNNER_CONFIG.partitionsConcurrently})` },
  { name: 'max-bytes-per-partition', kind: 'number', help: `bytes fetched per input partition per fetch at most (default ${DEFAULT_RUNNER_CONFIG.maxBytesPerPartition})` },
  { name: 'engine-workers', kind: 'number', help: `worker threads for the partition engines, 0 for none (same outputs; faster when the instance has spare cores; default ${DEFAULT_RUNNER_CONFIG.engineWorkers})` },
  { name: 'engine-worker', kind: 'boolean', help: 'the same as --engine-workers 1' },
  { name: 'no-read-ahead', kind: 'boolean', help: 'fetch a partition\'s next batch only once its current one is committed (same outputs; slower)' },
  { name: 'session-timeout-ms', kind: 'number', help: `consumer group session timeout (default ${DEFAULT_RUNNER_CONFIG.sessionTimeoutMs})` },
  { name: 'json', kind: 'boolean', help: 'print the final stats as one JSON object on stdout' },
  { name: 'quiet', kind: 'boolean', help: 'no progress lines on stderr' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const flags: FlagSpec[] = [
  { name: 'group', kind: 'string', help: 'consumer group (default: processors.groupId of the config, else pageloop-processor); instances of one group share the partitions' },
  { name: 'instance', kind: 'string', help: 'this instance\'s name, for logs and client ids (default host-pid)' },
  { name: 'output-prefix', kind: 'string', help: 'write to PREFIX.pageloop.scores.v1 etc. instead of the declared topics' },
  { name: 'until-caught-up', kind: 'boolean', help: 'exit once the group has processed the input up to its end offsets at start' },
  { name: 'timeout-s', kind: 'number', help: 'with --until-caught-up: give up after this many seconds (default 3600)' },
  { name: 'metrics-port', kind: 'number', help: `serve /metrics, /healthz and /readyz on this port (beyond loopback /metrics needs PAGELOOP_METRICS_PASSWORD; e.g. ${DEFAULT_PROCESSORS_METRICS_PORT}; 0 picks a free one; default: none)` },
  { name: 'metrics-host', kind: 'string', help: `address for --metrics-port (default ${DEFAULT_HEALTH_HOST})` },
  ...commonFlags,
];

const SUMMARY = [
  'Run the stream processors: pageloop.events.v1 in; region scores, phase changes, hints, tuner changes and dead letters out,',
  'exactly once (Kafka transactions: outputs, state checkpoint and input offsets commit together). Runs until SIGINT/SIGTERM.',
].join('\n');

export interface Setup {
  kafka: KafkaSettings;
  model: ProcessorConfig;
  file: PageloopConfig;
}

/** Kafka settings and model from flags, config file and environment (flags win). */
export function setupFromArgs(args: ParsedArgs, role: 'processors' | 'replay', instance: string): Setup {
  const configPath = flagString(args, 'config') ?? process.env.PAGELOOP_CONFIG;
  const file: PageloopConfig = configPath ? loadJsonFile(configPath, validateConfig) : {};
  let input: ProcessorConfigInput = processorConfigFromFile(file.processors);
  const modelPath = flagString(args, 'model');
  if (modelPath) {
    let obj: unknown;
    try {
      obj = JSON.parse(readFileSync(modelPath, 'utf8'));
    } catch (err) {
      throw new UsageError(`--model ${modelPath}: ${errorMessage(err)}`);
    }
    const m = processorConfigFromJson(obj);
    input = {
      ...input,
      ...m,
      scorer: { ...input.scorer, ...m.scorer },
      phases: { ...input.phases, ...m.phases },
      planner: { ...input.planner, ...m.planner },
      tuner: { ...input.tuner, ...m.tuner },
    };
  }
  const model = createProcessorConfig(input);
  const kafka = kafkaSettingsFor(role, file.kafka, { brokers: flagList(args, 'brokers') }, instance);
  return { kafka, model, file };
}

function positiveFlag(args: ParsedArgs, name: string): number | undefined {
  const v = flagNumber(args, name);
  if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) throw new UsageError(`--${name}: wants a positive integer, got ${v}`);
  return v;
}

/** Runner knobs from the shared flags. */
export function runnerOverrides(args: ParsedArgs): Partial<RunnerConfig> {
  const o: { -readonly [K in keyof RunnerConfig]?: RunnerConfig[K] } = {};
  const every = positiveFlag(args, 'checkpoint-every');
  if (every !== undefined) o.checkpointEveryRecords = every;
  const ratio = flagNumber(args, 'checkpoint-input-ratio');
  if (ratio !== undefined) {
    if (!(Number.isFinite(ratio) && ratio >= 0 && ratio <= 1000)) throw new UsageError(`--checkpoint-input-ratio: wants a number from 0 (no wait) to 1000, got ${ratio}`);
    o.checkpointInputRatio = ratio;
  }
  const perTxn = positiveFlag(args, 'max-records-per-txn');
  if (perTxn !== undefined) o.maxRecordsPerTransaction = perTxn;
  const concurrently = positiveFlag(args, 'partitions-concurrently');
  if (concurrently !== undefined) o.partitionsConcurrently = concurrently;
  const fetchBytes = positiveFlag(args, 'max-bytes-per-partition');
  if (fetchBytes !== undefined) o.maxBytesPerPartition = fetchBytes;
  const workers = flagNumber(args, 'engine-workers');
  if (workers !== undefined) {
    if (!Number.isSafeInteger(workers) || workers < 0 || workers > MAX_ENGINE_WORKERS) throw new UsageError(`--engine-workers: wants an integer from 0 to ${MAX_ENGINE_WORKERS}, got ${workers}`);
    if (flagBoolean(args, 'engine-worker') && workers !== 1) throw new UsageError(`--engine-worker means --engine-workers 1; it contradicts --engine-workers ${workers}`);
    o.engineWorkers = workers;
  } else if (flagBoolean(args, 'engine-worker')) o.engineWorkers = 1;
  if (flagBoolean(args, 'no-read-ahead')) o.readAhead = false;
  const session = positiveFlag(args, 'session-timeout-ms');
  if (session !== undefined) {
    o.sessionTimeoutMs = session;
    o.heartbeatIntervalMs = Math.max(100, Math.floor(session / 10));
  }
  return o;
}

export function formatProcessorStats(s: ProcessorStats): string {
  const o = s.outputs;
  return [
    `instance ${s.instanceId} partitions [${s.partitions.join(',')}]`,
    `records ${s.records} (replayed ${s.replayed})`,
    `transactions ${s.transactions}, checkpoints ${s.checkpoints}, restores ${s.restores}`,
    `out scores ${o.scores} phases ${o.phases} hints ${o.hints} tuner ${o.tuner} dlq ${o.dlq}`,
    `tracking ${s.hosts.hosts} hosts ${s.hosts.processes} processes ${s.hosts.regions} regions`,
    `duplicates ${s.hosts.duplicates} gaps ${s.hosts.gaps} late ${s.hosts.lateEvents}`,
    ...(s.lastError ? [`last error: ${s.lastError}`] : []),
  ].join('; ');
}

export const processCommand: Command = {
  name: 'process',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('process [flags]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`process: unexpected argument '${args.positionals[0]}'`);
    const instanceId = flagString(args, 'instance') ?? `${hostname()}-${process.pid}`;
    const { kafka, model, file } = setupFromArgs(args, 'processors', instanceId);
    const groupId = flagString(args, 'group') ?? file.processors?.groupId ?? model.name;
    const topics = processorTopics(flagString(args, 'output-prefix') ?? '', flagString(args, 'events-topic'));
    const quiet = flagBoolean(args, 'quiet');
    const log = (line: string): void => {
      if (!quiet) process.stderr.write(`process: ${line}\n`);
    };
    const runner: RunnerConfig = { ...DEFAULT_RUNNER_CONFIG, ...runnerOverrides(args), groupId, instanceId, topics };
    const untilCaughtUp = flagBoolean(args, 'until-caught-up');
    const timeoutS = flagNumber(args, 'timeout-s') ?? 3600;

    const metricsPort = flagNumber(args, 'metrics-port');
    if (metricsPort === undefined && flagString(args, 'metrics-host') !== undefined) throw new UsageError('--metrics-host goes with --metrics-port');
    const metrics = metricsPort === undefined ? null : { host: flagString(args, 'metrics-host') ?? DEFAULT_HEALTH_HOST, port: metricsPort, ...metricsAuthFromEnv() };
    const printStats = (stats: ProcessorStats): void => {
      if (flagBoolean(args, 'json')) console.log(JSON.stringify(stats));
      else log(formatProcessorStats(stats));
    };
    const signal = untilSignal();
    let processors: ProcessorsHandle | undefined;
    let failure: unknown;
    try {
      // The final stats are printed on a failed start too (onStopped).
      processors = await startProcessors({ model, runner, metrics, readEnds: untilCaughtUp, fresh: false }, { kafka: { settings: kafka }, log, onStopped: printStats });
      const p = processors;
      log(`started: group ${groupId}, ${topics.events} -> ${topics.scores}, ${topics.phases}, ${topics.hints}, ${topics.tuner}, ${topics.dlq}`);
      const progress = setInterval(() => log(formatProcessorStats(p.stats())), 10_000).unref();
      let caughtUp: CaughtUpWait | undefined;
      try {
        const work: Promise<unknown>[] = [signal.done, p.failed];
        if (untilCaughtUp) {
          caughtUp = p.caughtUp(timeoutS * 1000);
          work.push(caughtUp.done);
        }
        await Promise.race(work);
      } finally {
        clearInterval(progress);
        await caughtUp?.cancel();
      }
    } catch (err) {
      failure = err;
    } finally {
      signal.cancel();
      await processors?.stop();
    }
    if (failure !== undefined) throw failure;
    return 0;
  },
};
