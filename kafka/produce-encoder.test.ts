/**
 * The fast Produce encoder writes exactly kafkajs's bytes (kafkajs's own
 * encoder is the reference, loaded from node_modules), leaves what it does
 * not cover to kafkajs, plugs into kafkajs once, and a real broker stores
 * what it sends: records read back (read_committed) match what was sent.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { retrying } from '../processors/topics.js';
import { crc32c } from './crc32c.js';
import { encodeProduceRequest, fastProduceCounts, groupMessagesPerPartition, installFastProduceEncoder, type ProduceMessage, type ProduceRequestArgs } from './produce-encoder.js';
import { prng } from '../lib/prng.js';

const require = createRequire(import.meta.url);
const kafkajsRoot = dirname(require.resolve('kafkajs/package.json'));
type Encoded = { buffer: Buffer };
/** kafkajs's own v3 request builder and CRC, the reference. */
const kafkajsProduceV3 = require(join(kafkajsRoot, 'src/protocol/requests/produce/v3/request.js')) as (args: ProduceRequestArgs) => { encode: () => Promise<Encoded> };
const kafkajsCrc32c = require(join(kafkajsRoot, 'src/protocol/recordBatch/crc32C/index.js')) as (b: Buffer) => number;
const produceDefinitions = require(join(kafkajsRoot, 'src/protocol/requests/produce/index.js')) as {
  protocol: (v: { version: number }) => (args: ProduceRequestArgs) => { request: { apiVersion: number; encode: () => Promise<Encoded> } };
};

const NOW = 1_767_000_000_123;

/** kafkajs reads Date.now() for missing timestamps: pinned while the reference encodes. */
async function reference(args: ProduceRequestArgs): Promise<Buffer> {
  const realNow = Date.now;
  Date.now = () => NOW;
  try {
    return (await kafkajsProduceV3(args).encode()).buffer;
  } finally {
    Date.now = realNow;
  }
}

function randomRequest(seed: number): ProduceRequestArgs {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const bytesOf = (): string | Buffer | null | undefined => {
    const r = rnd();
    if (r < 0.1) return null;
    if (r < 0.15) return undefined;
    if (r < 0.5) return pick(['', 'host-a/1234/5678', 'région-ü-✓', 'k'.repeat(200), 'x'.repeat(70_000)]);
    return Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
  };
  const timestampOf = (): string | number | null | undefined => {
    const r = rnd();
    if (r < 0.1) return undefined;
    if (r < 0.15) return null;
    if (r < 0.2) return 0;
    if (r < 0.25) return '0';
    // Mixed digit counts: kafkajs orders them as strings.
    if (r < 0.35) return String(Math.floor(rnd() * 100_000));
    const ms = NOW - Math.floor(rnd() * 3_000_000_000);
    return rnd() < 0.5 ? ms : String(ms);
  };
  const transactional = rnd() < 0.6;
  return {
    acks: pick([-1, 0, 1]),
    timeout: pick([30_000, 5_000]),
    transactionalId: transactional ? pick(['pageloop.g.pageloop.events.v1.3', 'tx-ü']) : pick([null, undefined]),
    producerId: pick<unknown>(['4711', 12, undefined, 2 ** 40, '9223372036854775807']),
    producerEpoch: pick([0, 3, undefined]),
    topicData: Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, t) => ({
      topic: `pageloop.scores.v${t}`,
      partitions: Array.from({ length: 1 + Math.floor(rnd() * 4) }, (_, p) => ({
        partition: p * 3,
        ...(rnd() < 0.7 ? { firstSequence: Math.floor(rnd() * 1e6) } : {}),
        messages: Array.from({ length: Math.floor(rnd() * 200) }, (): ProduceMessage => {
          const m: ProduceMessage = { key: bytesOf(), value: bytesOf(), timestamp: timestampOf() };
          if (rnd() < 0.05) m.headers = {};
          return m;
        }),
      })),
    })),
  };
}

describe('crc32c', () => {
  it('gives the check value of the CRC-32C catalogue for "123456789"', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  it('agrees with kafkajs on every length and offset', () => {
    const rnd = prng(7);
    const data = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rnd() * 256)));
    for (let len = 0; len < 300; len++) {
      const from = Math.floor(rnd() * 100);
      assert.equal(crc32c(data, from, from + len), kafkajsCrc32c(data.subarray(from, from + len)) >>> 0, `length ${len} at ${from}`);
    }
  });
});

describe('encodeProduceRequest', () => {
  it('writes the bytes kafkajs writes, for 300 random requests', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const args = randomRequest(seed);
      const ours = encodeProduceRequest(args, NOW);
      assert.ok(ours, `seed ${seed}: in scope`);
      assert.deepEqual(ours, await reference(args), `seed ${seed}`);
    }
  });

  it('writes an empty partition as kafkajs does', async () => {
    const args: ProduceRequestArgs = { acks: -1, timeout: 1000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [] }] }] };
    assert.deepEqual(encodeProduceRequest(args, NOW), await reference(args));
  });

  it('leaves to kafkajs what it does not cover', () => {
    const one = (m: ProduceMessage, extra: Partial<ProduceRequestArgs> = {}): ProduceRequestArgs => ({
      acks: -1,
      timeout: 1000,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [m] }] }],
      ...extra,
    });
    const ok: ProduceMessage = { key: 'k', value: Buffer.from('v'), timestamp: '1700000000000' };
    assert.ok(encodeProduceRequest(one(ok)));
    const outOfScope: [string, ProduceRequestArgs][] = [
      ['gzip', one(ok, { compression: 1 })],
      ['headers', one({ ...ok, headers: { trace: 'x' } })],
      ['null headers', one({ ...ok, headers: null })],
      ['a Uint8Array value', one({ ...ok, value: new Uint8Array([1]) as unknown as Buffer })],
      ['a fractional timestamp', one({ ...ok, timestamp: 1.5 })],
      ['a timestamp that is not decimal', one({ ...ok, timestamp: '1e3' })],
      ['an empty timestamp', one({ ...ok, timestamp: '' })],
      ['a producer id that is not an integer', one(ok, { producerId: 'abc' })],
    ];
    for (const [what, args] of outOfScope) assert.equal(encodeProduceRequest(args), undefined, what);
  });
});

describe('installFastProduceEncoder', () => {
  it('plugs into kafkajs once, for Produce v3 to v7, and hands back what it does not cover', async () => {
    assert.deepEqual(installFastProduceEncoder(), { installed: true });
    assert.deepEqual(installFastProduceEncoder(), { installed: true });
    const args = randomRequest(99);
    const expected = await reference(args);
    for (let version = 3; version <= 7; version++) {
      const { request } = produceDefinitions.protocol({ version })(args);
      assert.equal(request.apiVersion, version);
      const realNow = Date.now;
      Date.now = () => NOW;
      try {
        assert.deepEqual((await request.encode()).buffer, expected, `v${version}`);
      } finally {
        Date.now = realNow;
      }
    }
    const gzip: ProduceRequestArgs = { ...args, compression: kafkajs.CompressionTypes.GZIP };
    const before = fastProduceCounts().byKafkajs;
    const viaKafkajs = await produceDefinitions.protocol({ version: 3 })(gzip).request.encode();
    assert.ok(viaKafkajs.buffer.length > 0);
    assert.equal(fastProduceCounts().byKafkajs, before + 1);
  });
});

describe('groupMessagesPerPartition', () => {
  it('groups as kafkajs does: the same partitions, messages in the same order', () => {
    // This file loaded kafkajs before any preload: the cache holds kafkajs's own grouping.
    const kafkajsGrouping = require(join(kafkajsRoot, 'src/producer/groupMessagesPerPartition.js')) as typeof groupMessagesPerPartition;
    assert.notEqual(kafkajsGrouping, groupMessagesPerPartition);
    const rnd = prng(11);
    for (let round = 0; round < 50; round++) {
      const partitions = Math.floor(rnd() * 13);
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i }));
      const messages = Array.from({ length: Math.floor(rnd() * 400) }, (_, i) => ({ key: `k${i}`, at: Math.floor(rnd() * 1000) }));
      const partitioner = ({ message }: { message: unknown }): number => (message as { at: number }).at % Math.max(1, partitions);
      const args = { topic: 't', partitionMetadata, messages, partitioner };
      assert.deepEqual(groupMessagesPerPartition(args), kafkajsGrouping(args), `round ${round}`);
    }
  });

  it('is what kafkajs loads when kafka/preload.js comes first, and says why not when kafkajs came first', () => {
    const dist = dirname(new URL(import.meta.url).pathname);
    const check = (first: string, second: string): string =>
      execFileSync(process.execPath, ['--input-type=module', '-e', `${first}\n${second}`], { cwd: dist, encoding: 'utf8' }).trim();
    const probe = `
      import { createRequire } from 'node:module';
      import { groupMessagesPerPartition, installLinearGrouping } from './produce-encoder.js';
      const require = createRequire(import.meta.url);
      const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
      console.log(JSON.stringify({ ours: require.cache[path]?.exports === groupMessagesPerPartition, again: installLinearGrouping() }));`;
    assert.deepEqual(JSON.parse(check(`import './preload.js'; import 'kafkajs';`, probe)), { ours: true, again: { installed: true } });
    assert.deepEqual(JSON.parse(check(`import 'kafkajs';`, probe)), {
      ours: false,
      again: { installed: false, reason: 'kafkajs was loaded before: its producer keeps its own grouping' },
    });
  });
});

describe('on a real broker', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    await broker?.close();
  });

  it('stores what a transactional producer sends through it, record for record', async () => {
    assert.deepEqual(installFastProduceEncoder(), { installed: true });
    const topic = 'fast-produce-check';
    const admin = broker.kafka.admin();
    await admin.connect();
    try {
      // kafkajs's waitForLeaders gives up on this broker's first "unknown partition": poll instead.
      await admin.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
      await retrying(() => admin.fetchTopicMetadata({ topics: [topic] }), 12);
    } finally {
      await admin.disconnect();
    }

    const rnd = prng(5);
    const sent = Array.from({ length: 3000 }, (_, i) => ({
      partition: i % 3,
      key: i % 17 === 0 ? null : `host-${i % 5}/région/${i}`,
      value: i % 23 === 0 ? null : Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 120) }, () => Math.floor(rnd() * 256))),
      timestamp: String(NOW + (i % 7) * 1000),
    }));
    const before = fastProduceCounts();
    const producer = broker.kafka.producer({ transactionalId: 'fast-produce-check', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const txn = await producer.transaction();
      for (let i = 0; i < sent.length; i += 1000) await txn.send({ topic, acks: -1, messages: sent.slice(i, i + 1000) });
      await txn.commit();
    } finally {
      await producer.disconnect();
    }
    const counted = fastProduceCounts();
    assert.ok(counted.fast - before.fast >= 3, `the three requests went through the fast encoder (${JSON.stringify({ before, counted })})`);
    assert.equal(counted.byKafkajs, before.byKafkajs);

    const got = new Map<number, { key: string | null; value: Buffer | null; timestamp: string }[]>();
    const consumer = broker.kafka.consumer({ groupId: `fast-produce-check-${Date.now()}`, readUncommitted: false, maxWaitTimeInMs: 100 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let done: () => void = () => undefined;
      const all = new Promise<void>((r) => (done = r));
      let n = 0;
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          const list = got.get(partition) ?? got.set(partition, []).get(partition)!;
          list.push({ key: message.key === null ? null : message.key.toString(), value: message.value, timestamp: message.timestamp });
          if (++n === sent.length) done();
        },
      });
      const timer = setTimeout(done, 60_000);
      await all;
      clearTimeout(timer);
    } finally {
      await consumer.disconnect();
    }
    for (let p = 0; p < 3; p++) {
      const expected = sent.filter((m) => m.partition === p).map(({ key, value, timestamp }) => ({ key, value, timestamp }));
      assert.deepEqual(got.get(p), expected, `partition ${p}`);
    }
  });
});
