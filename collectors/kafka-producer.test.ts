/**
 * Unit: which producer the next attempt uses after a failed send. The same
 * one after a broker going away (so the broker drops the re-sent batch as a
 * duplicate of its sequence), a fresh one only when the broker refuses the
 * producer's id, epoch or sequence. Kafka is an in-memory fake here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { createKafkaEventsProducer, needsFreshProducer } from './kafka-producer.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;

function fakeKafka(failures: unknown[]): { kafka: Kafka; producers: number; sends: number[] } {
  const state = { producers: 0, sends: [] as number[] };
  const kafka = {
    producer: () => {
      const id = ++state.producers;
      return {
        connect: async () => undefined,
        disconnect: async () => undefined,
        send: async () => {
          state.sends.push(id);
          const f = failures.shift();
          if (f) throw f;
          return [];
        },
      };
    },
  } as unknown as Kafka;
  return {
    kafka,
    get producers() {
      return state.producers;
    },
    get sends() {
      return state.sends;
    },
  };
}

test('a send that failed because the broker went away is retried by the same producer', async () => {
  const down = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1'), { retryCount: 2, retryTime: 1000 });
  const f = fakeKafka([down]);
  const p = createKafkaEventsProducer(f.kafka, { compression: 'none', sendTimeoutMs: 1000 });
  await assert.rejects(p.send('t', 'k', Buffer.from('x'), 1), /produce to t failed/);
  await p.send('t', 'k', Buffer.from('x'), 1);
  assert.deepEqual(f.sends, [1, 1], 'the retry went through another producer: a new producer id, so the broker cannot drop a duplicate');
  assert.equal(needsFreshProducer(down), false);
});

test('a producer whose sequence or epoch the broker refuses is replaced', async () => {
  const refused = Object.assign(new KafkaJSProtocolError('The broker received an out of order sequence number'), { type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
  const f = fakeKafka([refused]);
  const p = createKafkaEventsProducer(f.kafka, { compression: 'none', sendTimeoutMs: 1000 });
  await assert.rejects(p.send('t', 'k', Buffer.from('x'), 1));
  await p.send('t', 'k', Buffer.from('x'), 1);
  assert.deepEqual(f.sends, [1, 2]);
  assert.equal(needsFreshProducer(new KafkaJSNumberOfRetriesExceeded(Object.assign(new KafkaJSProtocolError('x'), { type: 'UNKNOWN_PRODUCER_ID' }), { retryCount: 1, retryTime: 1 })), true);
});
