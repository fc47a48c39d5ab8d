/**
 * Kafka helpers for the processors' tests and benchmark: produce a stream
 * as a collector would (idempotent, in order per key), and read a whole
 * topic back read_committed, up to its end offsets.
 */
import type { Kafka } from 'kafkajs';
import kafkajs from 'kafkajs';
import { retrying } from '../processors/topics.js';

const { Partitioners } = kafkajs;

export interface TopicRecord {
  partition: number;
  offset: number;
  key: string;
  /** null: a tombstone. */
  value: Buffer | null;
  timestamp: string;
}

/** Sends records in order (per key, and overall: one in-flight request), acks=all. */
export async function produceRecords(
  kafka: Kafka,
  topic: string,
  records: readonly { key: string; value: Uint8Array | null; timestampMs?: number }[],
  options: { chunk?: number; baseTimestampMs?: number } = {},
): Promise<void> {
  const chunk = options.chunk ?? 500;
  // Recent timestamps: outputs carry their input's, and a topic with time retention deletes old ones.
  const base = options.baseTimestampMs ?? Date.now();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += chunk) {
      await producer.send({
        topic,
        acks: -1,
        messages: records.slice(i, i + chunk).map((r, j) => ({
          key: r.key,
          value: r.value === null ? null : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
          timestamp: String(r.timestampMs ?? base + i + j),
        })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Every committed record of a topic (read_committed), up to the end offsets at call time. */
export async function readAll(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, number>;
  try {
    ends = new Map((await retrying(() => admin.fetchTopicOffsets(topic))).filter((o) => Number(o.high) > Number(o.low)).map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
  const records: TopicRecord[] = [];
  if (ends.size === 0) return records;
  const seen = new Map<number, number>();
  const consumer = kafka.consumer({
    groupId: `pageloop-read-${topic}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 16 * 1024 * 1024,
  });
  const caughtUp = (): boolean => [...ends].every(([p, end]) => (seen.get(p) ?? -1) >= end - 1);
  let resolve: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const last = Number(e.payload.lastOffset);
    if (last > (seen.get(e.payload.partition) ?? -1)) seen.set(e.payload.partition, last);
    if (caughtUp()) resolve();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          records.push({ partition: batch.partition, offset: Number(m.offset), key: m.key?.toString() ?? '', value: m.value, timestamp: m.timestamp });
        }
      },
    });
    const timer = setTimeout(resolve, timeoutMs);
    await done;
    clearTimeout(timer);
    if (!caughtUp()) throw new Error(`readAll ${topic}: not caught up within ${timeoutMs} ms (seen ${JSON.stringify([...seen])}, ends ${JSON.stringify([...ends])})`);
  } finally {
    await consumer.disconnect();
  }
  records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  return records;
}

/** Records grouped by key, in log order: what "same outputs per key" compares. */
export function byKey(records: readonly TopicRecord[]): Map<string, (Buffer | null)[]> {
  const out = new Map<string, (Buffer | null)[]>();
  for (const r of records) {
    let list = out.get(r.key);
    if (!list) {
      list = [];
      out.set(r.key, list);
    }
    list.push(r.value);
  }
  return out;
}

/**
 * '' when both topics hold the same records per key, in the same order, with
 * the same bytes (and timestamps); else what differs first.
 */
export function diffByKey(a: readonly TopicRecord[], b: readonly TopicRecord[]): string {
  const group = (rs: readonly TopicRecord[]): Map<string, TopicRecord[]> => {
    const m = new Map<string, TopicRecord[]>();
    for (const r of rs) (m.get(r.key) ?? m.set(r.key, []).get(r.key)!).push(r);
    return m;
  };
  const ka = group(a);
  const kb = group(b);
  const keys = [...new Set([...ka.keys(), ...kb.keys()])].sort();
  for (const k of keys) {
    const x = ka.get(k) ?? [];
    const y = kb.get(k) ?? [];
    if (x.length !== y.length) return `key ${k}: ${x.length} records vs ${y.length}`;
    for (let i = 0; i < x.length; i++) {
      const u = x[i]!;
      const v = y[i]!;
      if (u.value === null || v.value === null ? u.value !== v.value : !u.value.equals(v.value)) return `key ${k}: record ${i} differs`;
      if (u.timestamp !== v.timestamp) return `key ${k}: record ${i} timestamp ${u.timestamp} vs ${v.timestamp}`;
      if (u.partition !== v.partition) return `key ${k}: record ${i} on partition ${u.partition} vs ${v.partition}`;
    }
  }
  return '';
}
