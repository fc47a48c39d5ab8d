/**
 * The host collector: its settings merged from the defaults, a config file,
 * the environment and flags, then the collector on loaded probes with its
 * samplers, Kafka producer and metrics endpoint. deploy/pipeline.ts loads the
 * probes and calls startCollecting, for the commands and for the stack.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { readBootId } from '../lib/procfs.js';
import type { PageloopConfig } from '../schemas/validate.js';
import type { KafkaSettings } from '../kafka/client.js';
import { kafkaSettingsFor } from '../kafka/settings.js';
import { FAULT_MODE_NAMES, type Probes, type ProbesConfig } from '../bpf/probes.js';
import { FAMILIES, type FamilyName } from '../bpf/events.js';
import { errnoOf, loadAddon } from '../bpf/native.js';
import { PageloopError, errorMessage } from '../lib/errors.js';
import { createCollector, DEFAULT_COLLECTOR_CONFIG, totalOf, type Collector, type CollectorConfig, type CollectorStats, type EventsProducer } from '../collectors/collector.js';
import { createReferencedSampler, createSamplers, DEFAULT_REFERENCED_SAMPLER_CONFIG, DEFAULT_SAMPLERS_CONFIG } from '../collectors/samplers.js';
import { createKafkaEventsProducer } from '../collectors/kafka-producer.js';
import { createCollectorMetrics, type MetricsAuth } from '../collectors/metrics.js';
import { encodeCollectorBatch } from '../collectors/encode.js';
import { createOverheadMeter, DEFAULT_OVERHEAD_CONFIG, formatOverhead, overheadStatus, type OverheadConfig, type OverheadMeter, type StatsHandle } from '../collectors/overhead.js';
import { bpfStatsSysctlOn, procOverheadReading } from '../collectors/overhead-reading.js';

export interface CollectSettings {
  kafka: KafkaSettings;
  probes: Partial<ProbesConfig>;
  collector: CollectorConfig;
  compression: 'none' | 'gzip';
  metrics: { host: string; port: number; auth?: MetricsAuth } | null;
  samplers: { vmstatIntervalMs: number; psiIntervalMs: number };
  /** Live overhead accounting; null turns it off. */
  overhead: OverheadConfig | null;
}

/** Defaults, then the config file, then the environment, then flags. */
export function collectSettings(
  file: PageloopConfig,
  cli: { brokers: string[]; pids: number[]; cgroups: string[]; families: FamilyName[]; metricsPort?: number; modes?: Pick<Partial<ProbesConfig>, 'faultMode' | 'faultSamplePeriod' | 'promotionMode' | 'ringBufferBytes'> },
  env = process.env,
): CollectSettings {
  const host = env.PAGELOOP_HOST || file.host || hostname();
  const c = file.collector ?? {};
  const { faultMode, ...p } = file.probes ?? {};
  const targets = cli.pids.length || cli.cgroups.length ? { pids: cli.pids, cgroups: cli.cgroups } : { pids: p.targets?.pids ?? [], cgroups: p.targets?.cgroups ?? [] };
  const probes: Partial<ProbesConfig> = {
    ...p,
    // The file names the modes as the user does (exact, not aggregated).
    ...(faultMode !== undefined ? { faultMode: FAULT_MODE_NAMES[faultMode] } : {}),
    targets,
    ...(cli.families.length ? { families: cli.families } : {}),
    ...cli.modes,
  };
  const port = cli.metricsPort ?? (env.PAGELOOP_METRICS_PORT ? Number(env.PAGELOOP_METRICS_PORT) : c.metrics?.port ?? 9464);
  return {
    kafka: kafkaSettingsFor('collector', file.kafka, { brokers: cli.brokers }, host),
    probes,
    collector: {
      ...DEFAULT_COLLECTOR_CONFIG,
      host,
      bootId: readBootId(),
      instance: randomUUID(),
      batch: { ...DEFAULT_COLLECTOR_CONFIG.batch, ...c.batch },
      queue: { ...DEFAULT_COLLECTOR_CONFIG.queue, ...c.queue },
    },
    compression: c.compression ?? 'gzip',
    metrics: port < 0 ? null : { host: c.metrics?.host ?? '127.0.0.1', port, ...metricsAuth(c.metrics, env) },
    samplers: {
      vmstatIntervalMs: c.samplers?.vmstat?.intervalMs ?? DEFAULT_SAMPLERS_CONFIG.vmstatIntervalMs,
      psiIntervalMs: c.samplers?.psi?.intervalMs ?? DEFAULT_SAMPLERS_CONFIG.psiIntervalMs,
    },
    overhead:
      c.overhead?.enabled === false
        ? null
        : { ...DEFAULT_OVERHEAD_CONFIG, faultPathPrograms: [...DEFAULT_OVERHEAD_CONFIG.faultPathPrograms], intervalMs: c.overhead?.intervalMs ?? DEFAULT_OVERHEAD_CONFIG.intervalMs },
  };
}

/** Credentials for the metrics endpoint: the environment's over the file's, so they need not sit in the file (a Kubernetes Secret's keys). */
function metricsAuth(m: { user?: string; password?: string } | undefined, env: NodeJS.ProcessEnv): { auth?: MetricsAuth } {
  const password = env.PAGELOOP_METRICS_PASSWORD || m?.password;
  return password ? { auth: { user: env.PAGELOOP_METRICS_USER || m?.user || 'prometheus', password } } : {};
}

export function formatStats(s: CollectorStats): string {
  const fam = (c: Record<string, number>) => FAMILIES.map((f) => `${f}=${c[f]}`).join(' ');
  return [
    `drained ${totalOf(s.drained)} (${fam(s.drained)})`,
    `produced ${totalOf(s.produced)} in ${s.batchesProduced} batches`,
    `dropped ${totalOf(s.dropped)}${s.rejectedChunks ? ` (${s.rejectedChunks} refused batches, last: ${s.lastRejectReason})` : ''}`,
    `ring-buffer lost ${s.loss.total}`,
    `queued ${s.queuedEvents} (${(s.queuedBytes / 1024).toFixed(0)} KiB)`,
    s.produceErrors ? `produce errors ${s.produceErrors} (last: ${s.lastProduceError})` : 'no produce errors',
  ].join('; ');
}

export interface RunningCollector {
  readonly collector: Collector;
  readonly probes: Probes;
  /** The overhead meter, unless settings.overhead is null. */
  readonly overhead: OverheadMeter | undefined;
  /** The metrics endpoint's port, when it serves one. */
  readonly metricsPort: number | undefined;
  stats(): CollectorStats;
  /** Stops the collector and its metrics endpoint; resolves with the final stats. */
  stop(): Promise<CollectorStats>;
}

export interface CollectingDeps {
  readonly probes: Probes;
  /** Where batches go: Kafka (the default, through this client) or another producer (a recording file). */
  readonly sink: { readonly kafka: Kafka } | { readonly producer: EventsProducer; readonly describe: string };
  readonly log?: (line: string) => void;
}

/** Starts the collector on loaded probes, with its metrics endpoint and a status line every 10 s. */
export async function startCollecting(settings: CollectSettings, deps: CollectingDeps): Promise<RunningCollector> {
  const { probes, sink } = deps;
  const log = deps.log ?? ((l: string) => console.error(l));
  const addon = loadAddon();
  let metrics: ReturnType<typeof createCollectorMetrics> | undefined;
  const pids = probes.targets.pids;
  const overhead = settings.overhead
    ? createOverheadMeter(settings.overhead, {
        read: procOverheadReading(() => probes.costReading().programs, () => addon.bootTimeNs()),
        enableStats: () => enableBpfStats(addon),
        statsOnAnyway: () => bpfStatsSysctlOn(),
        cpus: addon.possibleCpus(),
        log,
      })
    : undefined;
  const collector: Collector = createCollector(settings.collector, {
    probes,
    samplers: createSamplers(settings.samplers, { clockNs: () => addon.bootTimeNs() }),
    // Access sampling by clear_refs only for processes named explicitly.
    ...(pids.length > 0
      ? { referenced: createReferencedSampler(DEFAULT_REFERENCED_SAMPLER_CONFIG, { targets: () => collector.knownProcesses(pids), clockNs: () => addon.bootTimeNs() }) }
      : {}),
    ...(overhead ? { overhead } : {}),
    producer: 'kafka' in sink ? createKafkaEventsProducer(sink.kafka, { compression: settings.compression, sendTimeoutMs: 10_000 }) : sink.producer,
    encode: encodeCollectorBatch,
    onProduced: (i) => metrics?.observeProduce(i.latencyMs, i.bytes),
    // One line per refused batch: the BPF object and the decoder disagree, worth seeing at once.
    onRejected: (reason, counts) => log(`collector: dropped ${totalOf(counts)} events of a refused batch: ${reason}`),
  });
  metrics = createCollectorMetrics(() => collector.stats(), overhead ? () => overhead.stats() : undefined);
  const port = settings.metrics ? await metrics.serve(settings.metrics.host, settings.metrics.port, settings.metrics.auth) : undefined;
  collector.start();
  log(
    `collecting ${probes.config.families.join(',')} on ${settings.collector.host} into ${'kafka' in sink ? settings.collector.topic : sink.describe}` +
      (port !== undefined ? `; metrics on http://${settings.metrics!.host}:${port}/metrics` : ''),
  );
  const status = setInterval(() => log(formatStats(collector.stats()) + (overhead ? `; ${formatOverhead(overheadStatus(overhead.stats()))}` : '')), 10_000).unref();
  return {
    collector,
    probes,
    overhead,
    metricsPort: port,
    stats: () => collector.stats(),
    async stop() {
      clearInterval(status);
      const final = await collector.stop();
      await metrics!.close();
      return final;
    },
  };
}


/**
 * BPF stats on until the handle is closed: BPF_ENABLE_STATS through the
 * addon (mechanics only), an fd the kernel counts, so stats stay on while any
 * holder has one and the sysctl is never written.
 */
function enableBpfStats(addon: ReturnType<typeof loadAddon>): StatsHandle {
  let fd: number;
  try {
    fd = addon.enableBpfStats();
  } catch (err) {
    // The kernel asks CAP_SYS_ADMIN for it, which the agent's capability set (deploy/kubernetes/agent.ts) leaves out.
    if (errnoOf(err) === EPERM) {
      throw new PageloopError('bpf-stats', `${errorMessage(err)}: BPF_ENABLE_STATS needs CAP_SYS_ADMIN; without it, kernel.bpf_stats_enabled=1 on the host keeps run times`, { cause: err });
    }
    throw err;
  }
  return { close: () => addon.closeFd(fd) };
}

const EPERM = 1;
