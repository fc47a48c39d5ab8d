/**
 * Where the processors read and write: the declared topics, or (for
 * `pageloop replay` and the tests) the same outputs under a prefix, e.g.
 * `replay-1.pageloop.scores.v1`, created with the declared partitions and
 * configs. The input is always the declared events topic unless told.
 */
import type { Admin, ICustomPartitioner } from 'kafkajs';
import kafkajs from 'kafkajs';
import { PageloopError, errorMessage, retryHelps } from '../lib/errors.js';
import { TOPIC, replicationFactorFor, topicSpec, waitForLeaders, type TopicName, type TopicOptions, type TopicSpec } from '../schemas/topics.js';
import type { OutputRole } from './engine.js';
import { hostOfHintKey } from './planner.js';

const { Partitioners } = kafkajs;

export interface ProcessorTopics {
  readonly events: string;
  readonly scores: string;
  readonly phases: string;
  readonly hints: string;
  readonly tuner: string;
  readonly dlq: string;
  readonly state: string;
}

const DECLARED_OF: Readonly<Record<keyof ProcessorTopics, TopicName>> = {
  events: TOPIC.events,
  scores: TOPIC.scores,
  phases: TOPIC.phases,
  hints: TOPIC.hints,
  tuner: TOPIC.tuner,
  dlq: TOPIC.dlq,
  state: TOPIC.processorState,
};

/** The outputs (and state) under `prefix.`; '' is the declared topics. */
export function processorTopics(prefix = '', events: string = TOPIC.events): ProcessorTopics {
  const p = prefix === '' ? '' : `${prefix}.`;
  return {
    events,
    scores: `${p}${TOPIC.scores}`,
    phases: `${p}${TOPIC.phases}`,
    hints: `${p}${TOPIC.hints}`,
    tuner: `${p}${TOPIC.tuner}`,
    dlq: `${p}${TOPIC.dlq}`,
    state: `${p}${TOPIC.processorState}`,
  };
}

export function topicOfRole(t: ProcessorTopics, role: OutputRole): string {
  return t[role];
}

/** Specs of the output and state topics: the declared ones, renamed. */
export function outputTopicSpecs(t: ProcessorTopics, options: TopicOptions = {}): TopicSpec[] {
  return (['scores', 'phases', 'hints', 'tuner', 'dlq', 'state'] as const).map((k) => ({ ...topicSpec(DECLARED_OF[k], options), name: t[k] }));
}

/**
 * Creates the topics that do not exist yet (never alters existing ones: that
 * is `pageloop kafka topics`' job) and checks the input exists.
 */
export async function createMissingTopics(admin: Admin, t: ProcessorTopics, options: TopicOptions = {}): Promise<string[]> {
  try {
    const existing = new Set(await admin.listTopics());
    if (!existing.has(t.events)) {
      throw new PageloopError('processor-topics', `input topic ${t.events} does not exist: run \`pageloop kafka topics\` (or start the collector's broker)`, { retriable: true });
    }
    // Unless told, as many replicas as `pageloop kafka topics` gives the declared topics on this cluster.
    const rf = options.replicationFactor ?? replicationFactorFor((await admin.describeCluster()).brokers.length);
    const missing = outputTopicSpecs(t, { ...options, replicationFactor: rf }).filter((s) => !existing.has(s.name));
    if (missing.length > 0) {
      await admin.createTopics({
        // kafkajs's wait gives up when a broker has not heard of the topic yet (a cluster); waitForLeaders retries that.
        waitForLeaders: false,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: s.replicationFactor,
          configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
        })),
      });
      await waitForLeaders(admin, missing);
    }
    return missing.map((s) => s.name);
  } catch (err) {
    if (err instanceof PageloopError) throw err;
    throw new PageloopError('processor-topics', `creating the processor topics failed: ${errorMessage(err)}`, { retriable: true, cause: err });
  }
}

/**
 * kafkajs partitioner: records on the hints topic go where the default
 * partitioner would put their host name (the key's first part), so a host's
 * hints share one partition; everything else is the default partitioner.
 */
export function hintPartitioner(hintsTopic: string): ICustomPartitioner {
  return () => {
    const byDefault = Partitioners.DefaultPartitioner();
    const choose: ReturnType<ICustomPartitioner> = (args) => {
      const key = args.message.key;
      if (args.topic !== hintsTopic || key === null || key === undefined || args.message.partition !== undefined) return byDefault(args);
      const host = hostOfHintKey(Buffer.isBuffer(key) ? key.toString() : key);
      return byDefault({ ...args, message: { ...args.message, key: host } });
    };
    // A string-keyed record's partition depends only on its topic, key (the
    // host, for hints) and partition count, and a window's outputs repeat a
    // few hosts thousands of times: kafkajs hashed the key and filtered the
    // metadata for every record, a few percent of a processor's CPU.
    const memo = new Map<string, { partitions: number; byKey: Map<string, number> }>();
    return (args) => {
      const key = args.message.key;
      if (typeof key !== 'string' || args.message.partition !== undefined) return choose(args);
      let m = memo.get(args.topic);
      if (!m || m.partitions !== args.partitionMetadata.length) {
        m = { partitions: args.partitionMetadata.length, byKey: new Map() };
        memo.set(args.topic, m);
      }
      const by = args.topic === hintsTopic ? hostOfHintKey(key) : key;
      let partition = m.byKey.get(by);
      if (partition === undefined) {
        partition = choose(args);
        if (m.byKey.size >= 4096) m.byKey.clear();
        m.byKey.set(by, partition);
      }
      return partition;
    };
  };
}

/**
 * Retries an admin call that kafkajs reports as retriable (a partition
 * leader not elected yet right after the topic was created, a coordinator
 * that moved): a few times with backoff, then the error.
 */
export async function retrying<T>(fn: () => Promise<T>, tries = 8): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (retryHelps(err) !== true || i >= tries) throw err;
      await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** i)));
    }
  }
}
