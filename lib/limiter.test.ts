import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLimiter } from './limiter.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a limiter runs at most its limit at once, the rest in arrival order', async () => {
  const limiter = createLimiter(2);
  const started: number[] = [];
  const release: (() => void)[] = [];
  const runs = [0, 1, 2, 3].map((i) =>
    limiter.run(async () => {
      started.push(i);
      await new Promise<void>((r) => (release[i] = r));
      return i * 10;
    }),
  );
  await tick();
  assert.deepEqual(started, [0, 1]);
  assert.equal(limiter.active, 2);
  release[1]!();
  await tick();
  assert.deepEqual(started, [0, 1, 2]);
  release[0]!();
  await tick();
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.equal(limiter.active, 2);
  release[2]!();
  release[3]!();
  assert.deepEqual(await Promise.all(runs), [0, 10, 20, 30]);
  assert.equal(limiter.active, 0);
});

test('a task that fails frees its slot and its caller gets the error', async () => {
  const limiter = createLimiter(1);
  await assert.rejects(limiter.run(() => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(limiter.active, 0);
  assert.equal(await limiter.run(async () => 'next'), 'next');
  assert.throws(() => createLimiter(0), /limiter: limit must be a positive integer, got 0/);
});
