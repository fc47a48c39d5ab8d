import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorMessage } from './errors.js';

test('errorMessage: the message; an aggregate lists its errors, each after the topic it names', () => {
  assert.equal(errorMessage(new Error('broker down')), 'broker down');
  assert.equal(errorMessage('plain'), 'plain');
  // The shape of kafkajs's KafkaJSAggregateError of KafkaJSCreateTopicErrors.
  const createTopic = Object.assign(new Error('Configuration is invalid'), { topic: 'pageloop.scores.v1' });
  const aggregate = Object.assign(new Error('Topic creation errors'), { errors: [createTopic, new Error('Topic with this name already exists')] });
  assert.equal(errorMessage(aggregate), 'Topic creation errors: pageloop.scores.v1: Configuration is invalid; Topic with this name already exists');
  assert.equal(errorMessage(new AggregateError([new Error('a'), 'b'], 'two')), 'two: a; b');
});
