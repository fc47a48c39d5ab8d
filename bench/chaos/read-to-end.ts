/**
 * Reads topics from the start to their end offsets as they are now
 * (read_committed, as the sink reads), and says where each partition's last
 * record that is not a transaction marker sits. The end of a transactional
 * topic is past its last record (a commit marker takes an offset), so
 * neither "committed = end" nor "read until quiet" tells when a reader is
 * done; the batches kafkajs reports do, with their control records counted
 * (END_BATCH_PROCESS's lastOffset). Replaces a fixed 12 s read and an 8 s
 * "offsets stayed put" wait at the end of the chaos run.
 */
import type { Admin, Kafka } from 'kafkajs';

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly value: Buffer | null;
}

export interface ReadToEnd {
  readonly records: ReadRecord[];
  /** "topic/partition" -> offset after the last data record (what a consumer that has them all commits); absent: none. */
  readonly nextAfterData: Map<string, number>;
  /** "topic/partition" -> end offset the read went to. */
  readonly ends: Map<string, number>;
  /** false: timed out before every partition was read to its end. */
  readonly complete: boolean;
}

export async function readTopicsToEnd(kafka: Kafka, admin: Admin, topics: readonly string[], timeoutMs: number): Promise<ReadToEnd> {
  const ends = new Map<string, number>();
  const remaining = new Set<string>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const key = `${topic}/${p.partition}`;
      ends.set(key, Number(p.high));
      if (Number(p.high) > Number(p.low)) remaining.add(key);
    }
  }
  const records: ReadRecord[] = [];
  const nextAfterData = new Map<string, number>();
  if (remaining.size === 0) return { records, nextAfterData, ends, complete: true };
  const consumer = kafka.consumer({ groupId: `pageloop-chaos-reader-${process.pid}-${Date.now()}`, readUncommitted: false });
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const key = `${e.payload.topic}/${e.payload.partition}`;
    if (Number(e.payload.lastOffset) + 1 >= (ends.get(key) ?? Infinity)) remaining.delete(key);
    if (remaining.size === 0) finish();
  });
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        if (Number(message.offset) >= (ends.get(`${topic}/${partition}`) ?? Infinity)) return; // written after the ends were taken
        records.push({ topic, partition, offset: message.offset, value: message.value });
        nextAfterData.set(`${topic}/${partition}`, Number(message.offset) + 1);
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return { records, nextAfterData, ends, complete: remaining.size === 0 };
}
