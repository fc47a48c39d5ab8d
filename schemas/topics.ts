/**
 * The Kafka topics of the wire contract, declared once. `ensureTopics`
 * applies the declaration to a cluster: it creates missing topics and brings
 * the configs of existing ones back to the declared values, and says what it
 * did. The local broker (`pageloop kafka start`) and a production cluster
 * (`pageloop kafka topics --brokers ...`) get the same declaration; only the
 * replication factor and, for a fleet, the partition counts differ.
 */
import type { Admin, IResourceConfigEntry } from 'kafkajs';
import kafkajs from 'kafkajs';
import { PageloopError, UsageError, errorMessage, retryHelps } from '../lib/errors.js';

const { ConfigResourceTypes } = kafkajs;

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** What the record key is: the partitioner hashes it, so it fixes ordering and compaction. */
  readonly key: string;
  readonly description: string;
  /** Topic-level configs the tool owns; any other override on the topic is removed on update. */
  readonly configs: Readonly<Record<string, string>>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Why these numbers:
 * - events and actions are the source of truth and the audit trail: every
 *   projection must be rebuildable by replaying them, so they are never
 *   deleted by time or size (retention -1). Plan disk for it, or tier it.
 * - scores and phases are projections of events (rebuildable), so a week is
 *   enough for consumers that fall behind.
 * - hints are desired state: compacted, one live record per key
 *   `host|pid|startNs|regionStart` (one live hint per region of a process),
 *   so a feedback agent that starts reads its host's current plan without
 *   replaying history. The processors partition by the host part of the key
 *   only (murmur2 of the host name, as the default partitioner would for a
 *   host-name key), so all of a host's hints sit on one partition. A null
 *   value (tombstone) withdraws a region's hint.
 * - tuner changes are decisions of the closed loop: kept like the audit trail.
 * - processor state is a changelog: compacted, the latest checkpoint per
 *   (consumer group, input topic, input partition); partitioned like
 *   pageloop.events.v1 (input partition p checkpoints to partition p), and
 *   checkpoints of many regions are large, hence max.message.bytes.
 * - compression.type stays `producer` everywhere: kafkajs has no zstd/lz4/
 *   snappy codec built in, and a broker that recompressed would hand kafkajs
 *   consumers batches they cannot read.
 * - message.timestamp.type stays CreateTime: processors run on event time,
 *   which the collector sets.
 */
/** What the events topic accepts per record batch: a collector's largest batch, with room. */
export const EVENTS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** The broker's default message.max.bytes: what a topic without its own limit accepts. */
export const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/**
 * A dead letter wraps a bad record whole (its bytes, key, reason, source):
 * the largest input record plus an envelope. Smaller, a large bad record's
 * dead letter is refused by the broker (MESSAGE_TOO_LARGE) and the consumer
 * that wants to park it can never move past it: measured in the chaos run,
 * a 3 MiB malformed events record stopped the processors and the sink.
 */
/** A processor checkpoint's limit on the state topic: checkpoints of many regions are large. */
export const STATE_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const DLQ_MAX_MESSAGE_BYTES = EVENTS_MAX_MESSAGE_BYTES + 1024 * 1024;

const DECLARED: readonly Omit<TopicSpec, 'replicationFactor'>[] = [
  {
    name: 'pageloop.events.v1',
    partitions: 12,
    key: 'host name (all events of a host stay in order on one partition)',
    description: 'memory-management events from the host collectors (faults, promotions, compaction, swap, samplers)',
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
      'max.message.bytes': String(EVENTS_MAX_MESSAGE_BYTES),
    },
  },
  {
    name: 'pageloop.scores.v1',
    partitions: 6,
    key: 'host name',
    description: 'per-region benefit scores from the scorer',
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': String(7 * DAY_MS),
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
    },
  },
  {
    name: 'pageloop.phases.v1',
    partitions: 6,
    key: 'host name',
    description: 'application phase changes from the phase detector',
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': String(7 * DAY_MS),
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
    },
  },
  {
    name: 'pageloop.hints.v1',
    partitions: 6,
    key: 'host|pid|startNs|regionStart (one live hint per region; partitioned by the host part only, so a host reads one partition)',
    description: 'hints for the feedback agents (compacted: the current hint per region of a process; a tombstone withdraws it)',
    configs: {
      'cleanup.policy': 'compact',
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
      // Compact soon after a plan is superseded: agents only ever want the latest.
      'min.cleanable.dirty.ratio': '0.1',
      // The active segment is never compacted; roll hourly so superseded plans do not linger.
      'segment.ms': String(60 * 60 * 1000),
      // A tombstone must outlive an agent restart so the agent sees its plan withdrawn.
      'delete.retention.ms': String(DAY_MS),
    },
  },
  {
    name: 'pageloop.actions.v1',
    partitions: 3,
    key: 'host name',
    description: 'what the feedback agents did or refused to do, and why (audit trail)',
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
    },
  },
  {
    name: 'pageloop.tuner.v1',
    partitions: 3,
    key: 'host name',
    description: 'threshold changes of the closed-loop tuner (TunerChange), each with the objective it holds',
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
    },
  },
  {
    name: 'pageloop.processor-state.v1',
    partitions: 12,
    key: 'consumer group|input topic|input partition',
    description: 'stream processor state checkpoints, written in the same transaction as the outputs and input offsets (compacted changelog)',
    configs: {
      'cleanup.policy': 'compact',
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
      'max.message.bytes': String(STATE_MAX_MESSAGE_BYTES),
      'min.cleanable.dirty.ratio': '0.1',
      'segment.ms': String(60 * 60 * 1000),
      'delete.retention.ms': String(DAY_MS),
    },
  },
  {
    name: 'pageloop.dlq.v1',
    partitions: 3,
    key: 'source topic and partition of the bad record',
    description: 'malformed records, with the reason, from every consumer',
    configs: {
      'cleanup.policy': 'delete',
      'retention.ms': String(30 * DAY_MS),
      'compression.type': 'producer',
      'message.timestamp.type': 'CreateTime',
      // A dead letter holds its record whole: it must fit the largest record any input topic accepts.
      'max.message.bytes': String(DLQ_MAX_MESSAGE_BYTES),
    },
  },
];

export const TOPIC_NAMES = DECLARED.map((t) => t.name);
export type TopicName =
  | 'pageloop.events.v1'
  | 'pageloop.scores.v1'
  | 'pageloop.phases.v1'
  | 'pageloop.hints.v1'
  | 'pageloop.actions.v1'
  | 'pageloop.tuner.v1'
  | 'pageloop.processor-state.v1'
  | 'pageloop.dlq.v1';

export const TOPIC = {
  events: 'pageloop.events.v1',
  scores: 'pageloop.scores.v1',
  phases: 'pageloop.phases.v1',
  hints: 'pageloop.hints.v1',
  actions: 'pageloop.actions.v1',
  tuner: 'pageloop.tuner.v1',
  processorState: 'pageloop.processor-state.v1',
  dlq: 'pageloop.dlq.v1',
} as const satisfies Record<string, TopicName>;

export type TopicKey = keyof typeof TOPIC;
export const TOPIC_KEYS = Object.keys(TOPIC) as TopicKey[];

/** The most partitions a declaration may ask for: more is a typo, not a fleet. */
export const MAX_PARTITIONS = 10_000;

export interface TopicOptions {
  /** 1 on the single local broker (the default); 3 is usual in production. */
  readonly replicationFactor?: number;
  /**
   * Partitions per topic, by short name (events, hints, ...; TOPIC's keys) or
   * full name, e.g. { events: 48 } for a fleet. processorState follows
   * events unless given (input partition p checkpoints to partition p).
   */
  readonly partitions?: Readonly<Record<string, number>>;
}

function partitionsByName(given: Readonly<Record<string, number>> = {}): Map<string, number> {
  const out = new Map<string, number>();
  const problems: string[] = [];
  for (const [k, n] of Object.entries(given)) {
    const name = k in TOPIC ? TOPIC[k as TopicKey] : (TOPIC_NAMES as readonly string[]).includes(k) ? k : undefined;
    if (name === undefined) {
      problems.push(`partitions.${k}: not a declared topic (known: ${TOPIC_KEYS.join(', ')}, or their full names)`);
    } else if (!Number.isInteger(n) || n < 1 || n > MAX_PARTITIONS) {
      problems.push(`partitions.${k}: must be an integer 1-${MAX_PARTITIONS}, got ${JSON.stringify(n)}`);
    } else if (out.has(name) && out.get(name) !== n) {
      problems.push(`partitions.${k}: ${name} is given twice (${out.get(name)} and ${n})`);
    } else {
      out.set(name, n);
    }
  }
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  const events = out.get(TOPIC.events);
  if (events !== undefined && !out.has(TOPIC.processorState)) out.set(TOPIC.processorState, events);
  return out;
}

/** The declared topics, with the replication factor and partitions for the cluster they go to. */
export function declaredTopics(options: TopicOptions = {}): TopicSpec[] {
  const rf = options.replicationFactor ?? 1;
  if (!Number.isInteger(rf) || rf < 1 || rf > 32) {
    throw new UsageError(`replicationFactor: must be an integer 1-32, got ${JSON.stringify(options.replicationFactor)}`);
  }
  const partitions = partitionsByName(options.partitions);
  // With 3+ replicas, acks=all survives one broker down; below that the broker default (1) is all there is.
  const minIsr: Record<string, string> = rf >= 3 ? { 'min.insync.replicas': String(rf - 1) } : {};
  return DECLARED.map((t) => ({ ...t, partitions: partitions.get(t.name) ?? t.partitions, replicationFactor: rf, configs: { ...t.configs, ...minIsr } }));
}

/** The replication factor for a cluster of `brokers`: 3 copies where there are 3, else one per broker. */
export function replicationFactorFor(brokers: number): number {
  return Math.max(1, Math.min(3, brokers));
}

export function topicSpec(name: TopicName, options: TopicOptions = {}): TopicSpec {
  const spec = declaredTopics(options).find((t) => t.name === name);
  if (!spec) throw new UsageError(`unknown topic ${name}`);
  return spec;
}

export interface ConfigChange {
  readonly name: string;
  /** undefined: the topic had no override (broker default). */
  readonly from: string | undefined;
  /** undefined: an override the declaration does not make, removed. */
  readonly to: string | undefined;
}

export interface PartitionsRaise {
  readonly topic: string;
  readonly from: number;
  readonly to: number;
}

export interface EnsureTopicsOptions {
  /** Report what would be done (the drift), change nothing. */
  readonly dryRun?: boolean;
}

export interface EnsureTopicsReport {
  /** True when nothing was changed: created/raised/updated say what would be. */
  readonly dryRun: boolean;
  readonly created: string[];
  /** Topics with fewer partitions than declared, raised to the declaration. */
  readonly raised: PartitionsRaise[];
  readonly updated: { readonly topic: string; readonly changes: ConfigChange[] }[];
  readonly unchanged: string[];
  /**
   * Differences the tool does not change by itself: fewer partitions than a
   * topic has cannot be had (Kafka only adds them), and replication changes
   * need a reassignment plan.
   */
  readonly warnings: string[];
}

/** Only TOPIC_CONFIG entries are overrides on the topic; the rest are broker or built-in defaults. */
const TOPIC_CONFIG_SOURCE = 1;

async function topicOverrides(admin: Admin, names: readonly string[]): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  if (names.length === 0) return out;
  const res = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
  });
  for (const r of res.resources) {
    if (r.errorCode !== 0) throw new PageloopError('kafka-topics', `describeConfigs ${r.resourceName}: ${r.errorMessage} (code ${r.errorCode})`, { retriable: true });
    const overrides = new Map<string, string>();
    for (const e of r.configEntries) if (e.configSource === TOPIC_CONFIG_SOURCE) overrides.set(e.configName, e.configValue);
    out.set(r.resourceName, overrides);
  }
  return out;
}

function entries(configs: Readonly<Record<string, string>>): IResourceConfigEntry[] {
  return Object.entries(configs).map(([name, value]) => ({ name, value }));
}

/** How long new partitions may take to get leaders before ensureTopics gives up (retriable). */
const LEADERS_TIMEOUT_MS = 60_000;

/**
 * Waits until every partition of `topics` has a leader, asking the cluster's
 * metadata again and again: right after a create, a broker may not know the
 * topic yet (UNKNOWN_TOPIC_OR_PARTITION) or have no leader for it.
 */
export async function waitForLeaders(admin: Admin, topics: readonly { readonly name: string; readonly partitions: number }[]): Promise<void> {
  const deadline = Date.now() + LEADERS_TIMEOUT_MS;
  let last = '';
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.name) });
      const waiting = topics.filter((t) => {
        const m = meta.topics.find((x) => x.name === t.name);
        return !m || m.partitions.length < t.partitions || m.partitions.some((p) => p.leader < 0);
      });
      if (waiting.length === 0) return;
      last = `no leader yet for ${waiting.map((t) => t.name).join(', ')}`;
    } catch (err) {
      last = errorMessage(err);
    }
    if (Date.now() > deadline) {
      throw new PageloopError('kafka-topics', `the new partitions got no leaders within ${LEADERS_TIMEOUT_MS / 1000} s (${last})`, { retriable: true });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Creates the missing topics, raises partition counts below the declaration
 * and updates the configs of existing ones to it, then reports what it did
 * (with dryRun: what it would do). Safe to run again and again.
 *
 * Raising partitions moves keys: a host's new records go to another
 * partition than its old ones, so its order across the change is only per
 * partition, and a compacted topic (hints) keeps the old live record on the
 * old partition until the key is written again. Declaring more partitions is
 * a decision for a quiet moment, and the report says it happened.
 *
 * Config updates use AlterConfigs (kafkajs has no incremental variant),
 * which replaces the topic's whole set of overrides: the declaration is the
 * only source of a topic's configs, and an override made by hand is undone.
 */
export async function ensureTopics(admin: Admin, topics: readonly TopicSpec[] = declaredTopics(), options: EnsureTopicsOptions = {}): Promise<EnsureTopicsReport> {
  const dryRun = options.dryRun ?? false;
  const report: EnsureTopicsReport = { dryRun, created: [], raised: [], updated: [], unchanged: [], warnings: [] };
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0 && dryRun) {
      report.created.push(...missing.map((t) => t.name));
    } else if (missing.length > 0) {
      await admin.createTopics({
        // kafkajs's own wait gives up when a broker has not heard of the topic yet (a cluster); ours retries that.
        waitForLeaders: false,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: t.replicationFactor,
          configEntries: entries(t.configs),
        })),
      });
      report.created.push(...missing.map((t) => t.name));
      await waitForLeaders(admin, missing);
    }

    const present = topics.filter((t) => existing.has(t.name));
    if (present.length === 0) return report;
    const metadata = await admin.fetchTopicMetadata({ topics: present.map((t) => t.name) });
    const overrides = await topicOverrides(admin, present.map((t) => t.name));
    const toAlter: TopicSpec[] = [];
    for (const t of present) {
      const meta = metadata.topics.find((m) => m.name === t.name);
      const partitions = meta?.partitions.length ?? 0;
      if (partitions < t.partitions) {
        report.raised.push({ topic: t.name, from: partitions, to: t.partitions });
      } else if (partitions > t.partitions) {
        report.warnings.push(`${t.name}: has ${partitions} partitions, declared ${t.partitions}; not changed (Kafka cannot remove partitions)`);
      }
      const rf = meta?.partitions[0]?.replicas.length ?? 0;
      if (rf !== t.replicationFactor) {
        report.warnings.push(`${t.name}: replication factor ${rf}, declared ${t.replicationFactor}; not changed (needs a partition reassignment)`);
      }
      const have = overrides.get(t.name) ?? new Map<string, string>();
      const changes: ConfigChange[] = [];
      for (const [name, value] of Object.entries(t.configs)) {
        if (have.get(name) !== value) changes.push({ name, from: have.get(name), to: value });
      }
      for (const [name, value] of have) {
        if (!(name in t.configs)) changes.push({ name, from: value, to: undefined });
      }
      if (changes.length === 0) {
        if (partitions >= t.partitions) report.unchanged.push(t.name);
      } else {
        toAlter.push(t);
        report.updated.push({ topic: t.name, changes });
      }
    }
    if (report.raised.length > 0 && !dryRun) {
      await admin.createPartitions({ validateOnly: false, topicPartitions: report.raised.map((r) => ({ topic: r.topic, count: r.to })) });
      await waitForLeaders(admin, report.raised.map((r) => ({ name: r.topic, partitions: r.to })));
    }
    if (toAlter.length > 0 && !dryRun) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: toAlter.map((t) => ({ type: ConfigResourceTypes.TOPIC, name: t.name, configEntries: entries(t.configs) })),
      });
    }
    return report;
  } catch (err) {
    if (err instanceof PageloopError) throw err;
    throw new PageloopError('kafka-topics', `applying the topic declaration failed: ${errorMessage(err)}`, { retriable: retryHelps(err) !== false, cause: err });
  }
}

/** One line per thing done, for the command line. */
export function formatEnsureReport(r: EnsureTopicsReport): string[] {
  const lines: string[] = [];
  const would = r.dryRun ? 'would be ' : '';
  for (const t of r.created) lines.push(`${would}created ${t}`);
  for (const p of r.raised) lines.push(`${would}raised ${p.topic}: ${p.from} -> ${p.to} partitions (new records of a key may land on another partition)`);
  for (const u of r.updated) {
    const what = u.changes.map((c) => `${c.name}: ${c.from ?? '(default)'} -> ${c.to ?? '(default)'}`).join(', ');
    lines.push(`${r.dryRun ? 'config drift, would update' : 'updated'} ${u.topic} (${what})`);
  }
  if (r.unchanged.length > 0) lines.push(`unchanged ${r.unchanged.join(', ')}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines;
}
