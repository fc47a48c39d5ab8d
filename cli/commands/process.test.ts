import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../../lib/args.js';
import { UsageError } from '../../lib/errors.js';
import { commonFlags, runnerOverrides } from './process.js';

const overrides = (...argv: string[]): ReturnType<typeof runnerOverrides> => runnerOverrides(parseArgs(argv, commonFlags));

describe('process/replay runner flags', () => {
  it('set only the runner knobs given', () => {
    assert.deepEqual(overrides(), {});
    assert.deepEqual(overrides('--partitions-concurrently', '6', '--max-bytes-per-partition', '16777216', '--engine-worker'), {
      partitionsConcurrently: 6,
      maxBytesPerPartition: 16777216,
      engineWorker: true,
    });
  });

  it('refuse a count that is not a positive integer, naming the flag', () => {
    assert.throws(() => overrides('--max-bytes-per-partition', '0'), (e: unknown) => e instanceof UsageError && /--max-bytes-per-partition: wants a positive integer, got 0/.test(e.message));
    assert.throws(() => overrides('--partitions-concurrently', '1.5'), (e: unknown) => e instanceof UsageError && /--partitions-concurrently/.test(e.message));
  });
});
