import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { commonFlags, runnerOverrides } from './process.js';

const overrides = (...argv: string[]): ReturnType<typeof runnerOverrides> => runnerOverrides(parseArgs(argv, commonFlags));

describe('process/replay runner flags', () => {
  it('set only the runner knobs given', () => {
    assert.deepEqual(overrides(), {});
    assert.deepEqual(overrides('--partitions-concurrently', '6', '--max-bytes-per-partition', '16777216', '--engine-worker'), {
      partitionsConcurrently: 6,
      maxBytesPerPartition: 16777216,
      engineWorkers: 1,
    });
    assert.deepEqual(overrides('--engine-workers', '3'), { engineWorkers: 3 });
    assert.deepEqual(overrides('--engine-workers', '0'), { engineWorkers: 0 });
    assert.deepEqual(overrides('--engine-workers', '1', '--engine-worker'), { engineWorkers: 1 });
    assert.deepEqual(overrides('--no-read-ahead'), { readAhead: false });
  });

  it('refuse an engine worker count out of range, or one --engine-worker contradicts', () => {
    assert.throws(() => overrides('--engine-workers', '-1'), (e: unknown) => e instanceof UsageError && /--engine-workers: wants an integer from 0 to 64, got -1/.test(e.message));
    assert.throws(() => overrides('--engine-workers', '65'), (e: unknown) => e instanceof UsageError && /--engine-workers: .* got 65/.test(e.message));
    assert.throws(() => overrides('--engine-workers', '2', '--engine-worker'), (e: unknown) => e instanceof UsageError && /--engine-worker means --engine-workers 1; it contradicts --engine-workers 2/.test(e.message));
  });

  it('refuse a count that is not a positive integer, naming the flag', () => {
    assert.throws(() => overrides('--max-bytes-per-partition', '0'), (e: unknown) => e instanceof UsageError && /--max-bytes-per-partition: wants a positive integer, got 0/.test(e.message));
    assert.throws(() => overrides('--partitions-concurrently', '1.5'), (e: unknown) => e instanceof UsageError && /--partitions-concurrently/.test(e.message));
  });
});
