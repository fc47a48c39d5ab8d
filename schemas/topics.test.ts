/**
 * The topic declaration, applied to a real KRaft broker: created with the
 * declared partitions and configs, idempotent, drift repaired, and a keyed
 * record on the compacted hints topic read back exactly. Its own broker on
 * its own data directory and free ports; stopped in `after`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import type { Admin } from 'kafkajs';
import { UsageError } from '../lib/errors.js';
import { kafkaConfigFromSettings } from '../kafka/client.js';
import { createLocalKafka, localKafkaConfig, type LocalKafka } from '../deploy/kafka/local-kafka.js';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES, TOPIC, TOPIC_NAMES, declaredTopics, ensureTopics, formatEnsureReport, replicationFactorFor, topicSpec, type TopicSpec } from './topics.js';

const { ConfigResourceTypes, Kafka, Partitioners, logLevel } = kafkajs;

describe('topic declaration', () => {
  it('declares the eight v1 topics once each', () => {
    assert.deepEqual([...TOPIC_NAMES].sort(), [
      'pageloop.actions.v1',
      'pageloop.dlq.v1',
      'pageloop.events.v1',
      'pageloop.hints.v1',
      'pageloop.phases.v1',
      'pageloop.processor-state.v1',
      'pageloop.scores.v1',
      'pageloop.tuner.v1',
    ]);
    assert.equal(new Set(TOPIC_NAMES).size, TOPIC_NAMES.length);
    assert.deepEqual(Object.values(TOPIC).sort(), [...TOPIC_NAMES].sort());
  });

  it('compacts hints (keyed per region, partitioned by host) and processor state, and nothing else', () => {
    const compacted: string[] = [TOPIC.hints, TOPIC.processorState];
    for (const t of declaredTopics()) {
      assert.equal(t.configs['cleanup.policy'], compacted.includes(t.name) ? 'compact' : 'delete', t.name);
      // kafkajs cannot decode broker-recompressed zstd/lz4/snappy batches.
      assert.equal(t.configs['compression.type'], 'producer', t.name);
      assert.ok(t.partitions >= 1);
    }
    assert.match(topicSpec(TOPIC.hints).key, /host\|pid\|startNs\|regionStart/);
    assert.match(topicSpec(TOPIC.hints).key, /host part/);
    assert.match(topicSpec(TOPIC.events).key, /host name/);
    assert.match(topicSpec(TOPIC.tuner).key, /host name/);
    // Input partition p checkpoints to state partition p.
    assert.equal(topicSpec(TOPIC.processorState).partitions, topicSpec(TOPIC.events).partitions);
  });

  it('replication factor 1 by default, overridable for production', () => {
    assert.ok(declaredTopics().every((t) => t.replicationFactor === 1 && !('min.insync.replicas' in t.configs)));
    const prod = declaredTopics({ replicationFactor: 3 });
    assert.ok(prod.every((t) => t.replicationFactor === 3 && t.configs['min.insync.replicas'] === '2'));
    for (const bad of [0, 1.5, -1, 100]) {
      assert.throws(() => declaredTopics({ replicationFactor: bad }), (e: unknown) => e instanceof UsageError && e.message.includes('replicationFactor:'));
    }
  });
});

describe('topic sizing for a cluster', () => {
  it('takes partitions per topic by short or full name; processorState follows events unless given', () => {
    const count = (o: Parameters<typeof declaredTopics>[0], name: string): number => declaredTopics(o).find((t) => t.name === name)!.partitions;
    assert.equal(count({ partitions: { events: 48 } }, TOPIC.events), 48);
    assert.equal(count({ partitions: { events: 48 } }, TOPIC.processorState), 48);
    assert.equal(count({ partitions: { [TOPIC.events]: 12, processorState: 24 } }, TOPIC.processorState), 24);
    assert.equal(count({ partitions: { events: 48 } }, TOPIC.hints), count({}, TOPIC.hints));
  });

  it('refuses an unknown topic or a bad count, naming it', () => {
    const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);
    assert.throws(() => declaredTopics({ partitions: { evnts: 4 } }), usage(/partitions\.evnts: not a declared topic/));
    assert.throws(() => declaredTopics({ partitions: { events: 0 } }), usage(/partitions\.events: must be an integer 1-10000, got 0/));
    assert.throws(() => declaredTopics({ partitions: { events: 4, [TOPIC.events]: 5 } }), usage(/given twice/));
  });

  it('replicates 3 times where there are 3 brokers, once per broker below', () => {
    assert.deepEqual([1, 2, 3, 5].map(replicationFactorFor), [1, 2, 3, 3]);
  });
});

async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    servers.push(s);
    ports.push(addr.port);
  }
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** The topic-level overrides (configSource TOPIC_CONFIG) of each topic. */
async function overrides(admin: Admin, names: readonly string[]): Promise<Map<string, Record<string, string>>> {
  const res = await admin.describeConfigs({ includeSynonyms: false, resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })) });
  const out = new Map<string, Record<string, string>>();
  for (const r of res.resources) {
    assert.equal(r.errorCode, 0, `${r.resourceName}: ${r.errorMessage}`);
    out.set(r.resourceName, Object.fromEntries(r.configEntries.filter((e) => e.configSource === 1).map((e) => [e.configName, e.configValue])));
  }
  return out;
}

/**
 * Waits until the topics' overrides satisfy ok: in KRaft a config change is a
 * metadata record the broker applies after the controller commits it, so a
 * describe right after an alter may still show the old value.
 */
async function settled(admin: Admin, names: readonly string[], ok: (have: Map<string, Record<string, string>>) => boolean): Promise<Map<string, Record<string, string>>> {
  const until = Date.now() + 15_000;
  for (;;) {
    const have = await overrides(admin, names);
    if (ok(have) || Date.now() > until) return have;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('ensureTopics on a real broker', { timeout: 10 * 60_000 }, () => {
  let dataDir = '';
  let local: LocalKafka | undefined;
  let admin: Admin | undefined;
  let kafka: InstanceType<typeof Kafka> | undefined;
  const topics: TopicSpec[] = declaredTopics();

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pageloop-topics-test-'));
    const [port, controllerPort] = (await freePorts(2)) as [number, number];
    local = createLocalKafka(localKafkaConfig({ dataDir, port, controllerPort }), { progress: (l) => process.stderr.write(`  [kafka] ${l}\n`) });
    // A failure here (no mvn, no Java, Maven Central unreachable) fails every test below with its reason.
    await local.start();
    kafka = new Kafka({ ...kafkaConfigFromSettings({ clientId: 'pageloop-topics-test', localDataDir: dataDir }, {}), logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  });

  after(async () => {
    await admin?.disconnect().catch(() => undefined);
    if (local) {
      const stopped = await local.stop();
      const s = await local.status();
      assert.equal(s.running, false, `broker still running after stop (pid ${stopped.pid})`);
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates every declared topic with its partitions and configs', async () => {
    const report = await ensureTopics(admin!, topics);
    assert.deepEqual([...report.created].sort(), [...TOPIC_NAMES].sort());
    assert.deepEqual(report.updated, []);
    assert.deepEqual(report.warnings, []);

    const meta = await admin!.fetchTopicMetadata({ topics: topics.map((t) => t.name) });
    for (const t of topics) {
      const m = meta.topics.find((x) => x.name === t.name);
      assert.ok(m, `${t.name} missing`);
      assert.equal(m.partitions.length, t.partitions, `${t.name} partitions`);
      assert.ok(m.partitions.every((p) => p.replicas.length === 1), `${t.name} replication factor`);
    }
    const have = await overrides(admin!, topics.map((t) => t.name));
    for (const t of topics) assert.deepEqual(have.get(t.name), t.configs, `${t.name} configs`);
    assert.equal(have.get(TOPIC.hints)?.['cleanup.policy'], 'compact');
  });

  it('is idempotent', async () => {
    const report = await ensureTopics(admin!, topics);
    assert.deepEqual(report.created, []);
    assert.deepEqual(report.updated, []);
    assert.deepEqual([...report.unchanged].sort(), [...TOPIC_NAMES].sort());
  });

  it('puts drifted configs back and reports it; leaves partition counts alone with a warning', async () => {
    await admin!.alterConfigs({
      validateOnly: false,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: TOPIC.hints, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] },
        {
          type: ConfigResourceTypes.TOPIC,
          name: TOPIC.scores,
          configEntries: [...Object.entries(topicSpec(TOPIC.scores).configs).map(([name, value]) => ({ name, value })), { name: 'segment.bytes', value: '1048576' }],
        },
      ],
    });
    await admin!.createPartitions({ topicPartitions: [{ topic: TOPIC.dlq, count: topicSpec(TOPIC.dlq).partitions + 1 }] });
    const drifted = await settled(admin!, [TOPIC.hints, TOPIC.scores], (h) => h.get(TOPIC.hints)?.['cleanup.policy'] === 'delete' && h.get(TOPIC.scores)?.['segment.bytes'] === '1048576');
    assert.equal(drifted.get(TOPIC.hints)?.['cleanup.policy'], 'delete', 'the drift never showed up');

    const report = await ensureTopics(admin!, topics);
    const byTopic = new Map(report.updated.map((u) => [u.topic, u.changes]));
    assert.deepEqual([...byTopic.keys()].sort(), [TOPIC.hints, TOPIC.scores].sort());
    assert.ok(byTopic.get(TOPIC.hints)!.some((c) => c.name === 'cleanup.policy' && c.from === 'delete' && c.to === 'compact'));
    assert.deepEqual(byTopic.get(TOPIC.scores), [{ name: 'segment.bytes', from: '1048576', to: undefined }]);
    assert.equal(report.warnings.length, 1);
    assert.match(report.warnings[0]!, /pageloop\.dlq\.v1: has 4 partitions, declared 3/);
    assert.ok(formatEnsureReport(report).some((l) => l.startsWith('updated pageloop.hints.v1')));

    const have = await settled(
      admin!,
      [TOPIC.hints, TOPIC.scores],
      (h) => h.get(TOPIC.hints)?.['cleanup.policy'] === 'compact' && h.get(TOPIC.scores)?.['segment.bytes'] === undefined,
    );
    assert.deepEqual(have.get(TOPIC.hints), topicSpec(TOPIC.hints).configs);
    assert.deepEqual(have.get(TOPIC.scores), topicSpec(TOPIC.scores).configs);
  });

  it('carries a host-keyed hint plan through the compacted topic exactly', async () => {
    const producer = kafka!.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const plan = JSON.stringify({ host: 'node-7', regions: [{ start: '0x7f0000000000', pageSize: '2M' }] });
    const [sent] = await producer.send({ topic: TOPIC.hints, acks: -1, messages: [{ key: 'node-7', value: plan }] });
    await producer.disconnect();
    assert.ok(sent);

    const consumer = kafka!.consumer({ groupId: `pageloop-topics-test-${process.pid}-${Date.now()}` });
    const got: { key: string; value: string; partition: number }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: TOPIC.hints, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no hint consumed within 60 s')), 60_000);
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            got.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', partition });
            clearTimeout(timer);
            resolve();
          },
        });
      });
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual(got, [{ key: 'node-7', value: plan, partition: sent.partition }]);
  });
});

it('the dead-letter topic takes the dead letter of the largest record any consumed topic accepts', () => {
  const limit = (t: TopicSpec) => Number(t.configs['max.message.bytes'] ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES);
  const dlq = declaredTopics().find((t) => t.name === TOPIC.dlq)!;
  // The envelope: source topic, partition, offset, key, reason, consumer, timestamp; 64 KiB is far more than any.
  const envelope = 64 * 1024;
  for (const t of declaredTopics()) {
    if (t.name === TOPIC.dlq || t.name === TOPIC.processorState) continue; // the state topic is read by its writer only, never dead-lettered
    assert.ok(limit(t) + envelope <= limit(dlq), `${t.name}: records up to ${limit(t)} bytes, dead letters only up to ${limit(dlq)}`);
  }
});
