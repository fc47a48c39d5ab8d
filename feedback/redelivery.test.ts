import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRedeliveryFilter } from './redelivery.js';

test('records handed over again from the start after a consumer restart are redeliveries; later ones are fresh', () => {
  const f = createRedeliveryFilter();
  assert.deepEqual(['0', '1', '2'].map((o) => f.fresh(0, o)), [true, true, true]);
  assert.equal(f.fresh(1, '0'), true, 'partitions are apart');
  // kafkajs restarted the consumer: partition 0 from offset 0 again, then on past where it was.
  assert.deepEqual(['0', '1', '2', '3'].map((o) => f.fresh(0, o)), [false, false, false, true]);
  assert.equal(f.fresh(1, 0), false);
  assert.equal(f.fresh(1, 1), true);
});
