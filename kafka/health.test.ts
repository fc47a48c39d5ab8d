import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTopicHealth, topicHealth } from './health.js';

const p = (partitionId: number, leader: number, replicas: number[], isr: number[]) => ({ partitionId, leader, replicas, isr, partitionErrorCode: 0 });

test('topicHealth counts leaders per broker and finds under-replicated, leaderless and under-min-ISR partitions', () => {
  const h = topicHealth('t', [p(2, 3, [3, 1, 2], [3]), p(0, 1, [1, 2, 3], [1, 2, 3]), p(1, 1, [2, 3, 1], [1, 3]), p(3, -1, [2, 3, 1], [])], 2);
  assert.deepEqual(h, {
    topic: 't',
    partitions: 4,
    replicationFactor: 3,
    minInsyncReplicas: 2,
    leaders: [{ broker: 1, partitions: 2 }, { broker: 3, partitions: 1 }],
    leaderless: [3],
    underReplicated: [1, 2, 3],
    underMinIsr: [2, 3],
  });
  assert.equal(formatTopicHealth(h), 't: 4 partitions x 3 replicas, min ISR 2; leaders (broker:partitions) 1:2 3:1; under-replicated 3 (1, 2, 3); NO LEADER 1 (3); UNDER MIN ISR 2 (2, 3)');
  const ok = topicHealth('u', [p(0, 2, [2], [2])]);
  assert.equal(formatTopicHealth(ok), 'u: 1 partitions x 1 replicas; leaders (broker:partitions) 2:1; under-replicated 0');
});
