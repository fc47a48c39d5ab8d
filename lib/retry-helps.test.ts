import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { PageloopError, isGroupMembershipError, retryHelps } from './errors.js';

const { KafkaJSBrokerNotFound, KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSNonRetriableError } = kafkajs;

test('retries that ran out over a broker down: judged by the cause, so trying again helps', () => {
  const down = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:45575');
  const exhausted = new KafkaJSNumberOfRetriesExceeded(down, { retryCount: 5, retryTime: 10840 });
  assert.equal(exhausted.retriable, false, 'kafkajs itself says no');
  assert.equal(retryHelps(exhausted), true);
});

test('a retrier wrapping an inner retrier that ran out over a leader election: judged by that cause', () => {
  // What the sink got in the chaos run while the whole cluster restarted (it stopped on it).
  const election = Object.assign(new KafkaJSProtocolError('There is no leader for this topic-partition as we are in the middle of a leadership election'), { retriable: true });
  const inner = new KafkaJSNumberOfRetriesExceeded(election, { retryCount: 5, retryTime: 9196, cause: election } as never);
  const outer = new (KafkaJSNonRetriableError as unknown as new (e: Error, o: { cause: unknown }) => Error & { retriable: boolean })(inner, { cause: election });
  assert.equal(outer.retriable, false, 'kafkajs itself says no');
  assert.equal(retryHelps(outer), true);
  // kafkajs's wrapping of a final error: the cause is that error, and it stays final.
  const auth = Object.assign(new KafkaJSProtocolError('Topic authorization failed'), { retriable: false });
  assert.equal(retryHelps(new (KafkaJSNonRetriableError as unknown as new (e: Error, o: { cause: unknown }) => Error)(auth, { cause: auth })), false);
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

test('group membership errors are told apart, also wrapped, so a batch holder hands them to kafkajs', () => {
  // Both seen by the sink while the chaos run restarted the whole cluster.
  const notCoordinator = Object.assign(new KafkaJSProtocolError('This is not the correct coordinator for this group'), { type: 'NOT_COORDINATOR_FOR_GROUP' });
  const unknownMember = Object.assign(new KafkaJSProtocolError('The coordinator is not aware of this member'), { type: 'UNKNOWN_MEMBER_ID', retriable: false });
  assert.equal(isGroupMembershipError(notCoordinator), true);
  assert.equal(isGroupMembershipError(unknownMember), true);
  assert.equal(isGroupMembershipError(new KafkaJSNumberOfRetriesExceeded(notCoordinator, { retryCount: 5, retryTime: 1 })), true);
  // The commit's coordinator gone from the metadata (a node of three killed): only a rejoin looks up another.
  const coordinatorGone = new (KafkaJSBrokerNotFound as unknown as new (message: string) => Error)('Broker 1 not found in the cached metadata') // its .d.ts omits the message;
  assert.equal(isGroupMembershipError(coordinatorGone), true);
  assert.equal(isGroupMembershipError(new KafkaJSNumberOfRetriesExceeded(coordinatorGone, { retryCount: 5, retryTime: 1 })), true);
  assert.equal(isGroupMembershipError(new KafkaJSConnectionError('x')), false);
  assert.equal(isGroupMembershipError(new Error('plain')), false);
});
