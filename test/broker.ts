/**
 * A real local Kafka broker for one test file: its own data directory and
 * free ports, pageloop's topics created, stopped (and its data removed) at
 * the end. Shared by the tests that need a broker; they fail, never skip,
 * when it cannot start. startTestCluster does the same with several nodes
 * (a KRaft quorum), the topics replicated as on a production cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs, { type Kafka } from 'kafkajs';
import { createLocalKafka, localKafkaConfig, type LocalKafka } from '../deploy/kafka/local-kafka.js';
import { declaredTopics, ensureTopics, replicationFactorFor, type TopicOptions } from '../schemas/topics.js';

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
  const local = createLocalKafka(localKafkaConfig({ dataDir, port, controllerPort, groupInitialRebalanceDelayMs: options.groupInitialRebalanceDelayMs }), { progress: () => undefined });
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

/** n distinct ports nothing listens on (all held open together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

export interface TestCluster {
  /** Every node's bootstrap, node 1 first. */
  readonly bootstraps: readonly string[];
  /** A client of the whole cluster (every node a bootstrap server). */
  readonly kafka: Kafka;
  readonly local: LocalKafka;
  /** The pid of a running node (from its status), or undefined when it is down. */
  pidOf(nodeId: number): Promise<number | undefined>;
  /** Stops every node and removes the data. */
  close(): Promise<void>;
}

export interface TestClusterOptions extends TestBrokerOptions {
  readonly brokers: number;
  /** Topic sizing; replicationFactor defaults to min(3, brokers). */
  readonly topics?: TopicOptions;
  /** Per node; default 384m: three JVMs share 2 cores and the other tests' memory. */
  readonly heap?: string;
}

/**
 * Free ports are only free when asked: another test's broker may bind one
 * before our node does. A start that failed on a bind is tried again, on
 * other ports, a few times.
 */
export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTestClusterOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/BindException|Address already in use|already in use/.test(String(err))) throw err;
    }
  }
}

async function startTestClusterOnce(options: TestClusterOptions): Promise<TestCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pageloop-kafka-cluster-'));
  const ports = await freePorts(2 * options.brokers);
  const local = createLocalKafka(
    localKafkaConfig({
      dataDir,
      brokers: options.brokers,
      port: ports[0]!,
      controllerPort: ports[1]!,
      ports: ports.filter((_, i) => i % 2 === 0),
      controllerPorts: ports.filter((_, i) => i % 2 === 1),
      heap: options.heap ?? '384m',
      groupInitialRebalanceDelayMs: options.groupInitialRebalanceDelayMs,
    }),
    { progress: () => undefined },
  );
  try {
    await local.install();
    await local.start();
    const kafka = new KafkaClient({ clientId: 'pageloop-test', brokers: [...local.bootstraps], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, declaredTopics({ replicationFactor: replicationFactorFor(options.brokers), ...options.topics }));
    } finally {
      await admin.disconnect();
    }
    return {
      bootstraps: local.bootstraps,
      kafka,
      local,
      async pidOf(nodeId) {
        return (await local.status()).nodes.find((n) => n.nodeId === nodeId && n.running)?.pid;
      },
      async close() {
        await local.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await local.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
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
