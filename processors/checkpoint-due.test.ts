import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RUNNER_CONFIG, validateRunnerConfig } from './runner-config.js';
import { checkpointDue } from './runner.js';
import { processorTopics } from './topics.js';

const c = { checkpointEveryRecords: 500, checkpointIntervalMs: 10_000, checkpointInputRatio: 2 };
const fresh = { sinceCheckpoint: 0, lastCheckpointAt: 0, bytesSinceCheckpoint: 0, lastCheckpointBytes: 0 };

test('a checkpoint is due after the records or the interval, as before, while the state is small against the input', () => {
  assert.equal(checkpointDue(c, { ...fresh, sinceCheckpoint: 499 }, 9_999), false);
  assert.equal(checkpointDue(c, { ...fresh, sinceCheckpoint: 500 }, 0), true);
  assert.equal(checkpointDue(c, fresh, 10_000), true);
  assert.equal(checkpointDue(c, { ...fresh, lastCheckpointBytes: 1000, bytesSinceCheckpoint: 2000 }, 10_000), true);
});

test('a state large against its input waits for ratio times its size of input', () => {
  const big = { ...fresh, sinceCheckpoint: 5000, lastCheckpointBytes: 40e6 };
  assert.equal(checkpointDue(c, { ...big, bytesSinceCheckpoint: 79_999_999 }, 60_000), false);
  assert.equal(checkpointDue(c, { ...big, bytesSinceCheckpoint: 80e6 }, 60_000), true);
  assert.equal(checkpointDue({ ...c, checkpointInputRatio: 0 }, { ...big, bytesSinceCheckpoint: 0 }, 60_000), true);
});

test('checkpointInputRatio is validated by name', () => {
  const base = { ...DEFAULT_RUNNER_CONFIG, groupId: 'g', instanceId: 'i', topics: processorTopics('g', 'e') };
  validateRunnerConfig(base);
  for (const bad of [-1, Number.NaN, 1001]) assert.throws(() => validateRunnerConfig({ ...base, checkpointInputRatio: bad }), /runner\.checkpointInputRatio/);
});
