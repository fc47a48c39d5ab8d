import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_KINDS, faultSchedule, percentiles } from './schedule.js';

test('each round holds every fault kind exactly once', () => {
  const s = faultSchedule(7, 3);
  assert.equal(s.length, 3 * FAULT_KINDS.length);
  for (let r = 0; r < 3; r++) {
    const kinds = s.slice(r * FAULT_KINDS.length, (r + 1) * FAULT_KINDS.length).map((f) => f.kind);
    assert.deepEqual(kinds.slice().sort(), FAULT_KINDS.slice().sort());
  }
});

test('the same seed gives the same schedule, another seed another order', () => {
  assert.deepEqual(faultSchedule(1, 2), faultSchedule(1, 2));
  const orders = new Set([1, 2, 3, 4, 5].map((seed) => faultSchedule(seed, 1).map((f) => f.kind).join()));
  assert.ok(orders.size > 1, 'seeds 1-5 all gave one order');
});

test('rounds must be a positive integer', () => {
  assert.throws(() => faultSchedule(1, 0), /rounds: wants an integer >= 1, got 0/);
});

test('percentiles: p50 is the lower middle, max the largest', () => {
  assert.deepEqual(percentiles([5, 1, 3, 9]), { p50: 3, max: 9 });
  assert.equal(percentiles([]), undefined);
});
