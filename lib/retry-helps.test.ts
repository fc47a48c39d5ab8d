import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { PageloopError, retryHelps } from './errors.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSNonRetriableError } = kafkajs;

test('retries that ran out over a broker down: judged by the cause, so trying again helps', () => {
  const down = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:45575');
  const exhausted = new KafkaJSNumberOfRetriesExceeded(down, { retryCount: 5, retryTime: 10840 });
  assert.equal(exhausted.retriable, false, 'kafkajs itself says no');
  assert.equal(retryHelps(exhausted), true);
});

test('retries that ran out over a final error stay final', () => {
  const final = new KafkaJSNonRetriableError('Topic authorization failed');
  assert.equal(retryHelps(new KafkaJSNumberOfRetriesExceeded(final, { retryCount: 5, retryTime: 1 })), false);
});

test("an error's own verdict, a PageloopError's verdict, and no verdict", () => {
  assert.equal(retryHelps(Object.assign(new KafkaJSProtocolError('too large'), { retriable: false })), false);
  assert.equal(retryHelps(new KafkaJSConnectionError('x')), true);
  assert.equal(retryHelps(new PageloopError('x', 'y', { retriable: true })), true);
  assert.equal(retryHelps(new PageloopError('x', 'y')), false);
  assert.equal(retryHelps(new Error('plain')), 'unknown');
  assert.equal(retryHelps('a string'), 'unknown');
});
