/**
 * A real local Kafka broker for one test file: its own data directory and
 * free ports, pageloop's topics created, stopped (and its data removed) at
 * the end. Shared by the tests that need a broker; they fail, never skip,
 * when it cannot start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs, { type Kafka } from 'kafkajs';
import { createLocalKafka, type LocalKafka } from '../deploy/kafka/local-kafka.js';
import { declaredTopics, ensureTopics } from '../schemas/topics.js';

const { Kafka: KafkaClient, logLevel } = kafkajs;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface TestBroker {
  readonly bootstrap: string;
  readonly kafka: Kafka;
  readonly local: LocalKafka;
  /** Stops the whole broker and removes its data. */
  close(): Promise<void>;
}

export interface TestBrokerOptions {
  /** See LocalKafkaConfig; 0 unless given. */
  readonly groupInitialRebalanceDelayMs?: number;
}

export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pageloop-kafka-'));
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const local = createLocalKafka({ dataDir, port, controllerPort, groupInitialRebalanceDelayMs: options.groupInitialRebalanceDelayMs }, { progress: () => undefined });
  await local.install();
  await local.start();
  const kafka = new KafkaClient({ clientId: 'pageloop-test', brokers: [local.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, declaredTopics());
  await admin.disconnect();
  return {
    bootstrap: local.bootstrap,
    kafka,
    local,
    async close() {
      await local.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Reads every record of a topic from the start until `done` says it has enough or the time runs out. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  done: (records: Array<{ key: string | null; value: Buffer | null; partition: number; offset: string }>) => boolean,
  timeoutMs = 30_000,
): Promise<Array<{ key: string | null; value: Buffer | null; partition: number; offset: string }>> {
  const records: Array<{ key: string | null; value: Buffer | null; partition: number; offset: string }> = [];
  const consumer = kafka.consumer({ groupId: `pageloop-test-reader-${process.pid}-${Date.now()}-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let resolveDone: () => void = () => undefined;
  const finished = new Promise<void>((r) => (resolveDone = r));
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      records.push({ key: message.key ? message.key.toString() : null, value: message.value, partition, offset: message.offset });
      if (done(records)) resolveDone();
    },
  });
  const timer = setTimeout(resolveDone, timeoutMs);
  if (done(records)) resolveDone();
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  return records;
}
