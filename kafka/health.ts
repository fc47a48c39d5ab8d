/**
 * How a cluster's topics stand, from its metadata: per topic the leaders
 * (how many partitions each broker leads), the partitions without a leader,
 * the under-replicated ones (fewer replicas in sync than assigned) and those
 * under min.insync.replicas, which refuse acks=all writes. For `pageloop
 * kafka status`, on the local cluster or any other.
 */
import type { Admin, PartitionMetadata } from 'kafkajs';
import kafkajs from 'kafkajs';
import { PageloopError, errorMessage, retryHelps } from '../lib/errors.js';

const { ConfigResourceTypes } = kafkajs;

export interface TopicHealth {
  readonly topic: string;
  readonly partitions: number;
  /** Replicas assigned to partition 0 (all partitions of a declared topic have as many). */
  readonly replicationFactor: number;
  readonly minInsyncReplicas?: number;
  /** Broker id -> partitions it leads, brokers in id order. */
  readonly leaders: ReadonlyArray<{ readonly broker: number; readonly partitions: number }>;
  /** Partitions with no leader: unreadable and unwritable until one is elected. */
  readonly leaderless: readonly number[];
  /** Partitions with fewer in-sync replicas than assigned ones. */
  readonly underReplicated: readonly number[];
  /** Partitions with fewer in-sync replicas than min.insync.replicas: acks=all writes fail. */
  readonly underMinIsr: readonly number[];
}

/** The health of one topic's partitions (pure: metadata in, summary out). */
export function topicHealth(topic: string, partitions: readonly PartitionMetadata[], minInsyncReplicas?: number): TopicHealth {
  const led = new Map<number, number>();
  const leaderless: number[] = [];
  const underReplicated: number[] = [];
  const underMinIsr: number[] = [];
  for (const p of [...partitions].sort((a, b) => a.partitionId - b.partitionId)) {
    if (p.leader < 0) leaderless.push(p.partitionId);
    else led.set(p.leader, (led.get(p.leader) ?? 0) + 1);
    if (p.isr.length < p.replicas.length) underReplicated.push(p.partitionId);
    if (minInsyncReplicas !== undefined && p.isr.length < minInsyncReplicas) underMinIsr.push(p.partitionId);
  }
  const first = partitions.find((p) => p.partitionId === 0) ?? partitions[0];
  return {
    topic,
    partitions: partitions.length,
    replicationFactor: first?.replicas.length ?? 0,
    ...(minInsyncReplicas === undefined ? {} : { minInsyncReplicas }),
    leaders: [...led].sort((a, b) => a[0] - b[0]).map(([broker, n]) => ({ broker, partitions: n })),
    leaderless,
    underReplicated,
    underMinIsr,
  };
}

export interface ClusterHealth {
  /** Brokers the metadata lists (registered and not fenced), by id. */
  readonly brokers: ReadonlyArray<{ readonly nodeId: number; readonly host: string; readonly port: number }>;
  readonly topics: readonly TopicHealth[];
  /** Asked for, but not on the cluster. */
  readonly missing: readonly string[];
}

/** The health of `topics` on the cluster `admin` is connected to. */
export async function clusterHealth(admin: Admin, topics: readonly string[]): Promise<ClusterHealth> {
  try {
    const cluster = await admin.describeCluster();
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    const missing = topics.filter((t) => !existing.has(t));
    if (present.length === 0) return { brokers: sortBrokers(cluster.brokers), topics: [], missing };
    const meta = await admin.fetchTopicMetadata({ topics: present });
    const minIsr = new Map<string, number>();
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['min.insync.replicas'] })),
    });
    for (const r of configs.resources) {
      const v = r.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
      if (r.errorCode === 0 && v !== undefined) minIsr.set(r.resourceName, Number(v));
    }
    const health = present.map((t) => topicHealth(t, meta.topics.find((m) => m.name === t)?.partitions ?? [], minIsr.get(t)));
    return { brokers: sortBrokers(cluster.brokers), topics: health, missing };
  } catch (err) {
    throw new PageloopError('kafka-health', `reading the cluster's metadata failed: ${errorMessage(err)}`, { retriable: retryHelps(err) !== false, cause: err });
  }
}

function sortBrokers<T extends { nodeId: number }>(brokers: readonly T[]): T[] {
  return [...brokers].sort((a, b) => a.nodeId - b.nodeId);
}

/** One line per topic, for the command line. */
export function formatTopicHealth(t: TopicHealth): string {
  const leaders = t.leaders.map((l) => `${l.broker}:${l.partitions}`).join(' ') || 'none';
  const list = (ps: readonly number[]): string => (ps.length === 0 ? '0' : `${ps.length} (${ps.slice(0, 12).join(', ')}${ps.length > 12 ? ', ...' : ''})`);
  const parts = [
    `${t.topic}: ${t.partitions} partitions x ${t.replicationFactor} replicas${t.minInsyncReplicas !== undefined ? `, min ISR ${t.minInsyncReplicas}` : ''}`,
    `leaders (broker:partitions) ${leaders}`,
    `under-replicated ${list(t.underReplicated)}`,
  ];
  if (t.leaderless.length > 0) parts.push(`NO LEADER ${list(t.leaderless)}`);
  if (t.underMinIsr.length > 0) parts.push(`UNDER MIN ISR ${list(t.underMinIsr)}`);
  return parts.join('; ');
}
