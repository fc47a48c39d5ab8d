import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { quietLogCreator } from './client.js';

test('quietLogCreator drops the error responses kafkajs retries as a matter of course, and writes the rest as JSON lines', () => {
  const lines: string[] = [];
  const realWrite = process.stderr.write;
  process.stderr.write = ((chunk: string) => lines.push(chunk) > 0) as typeof process.stderr.write;
  try {
    const log = quietLogCreator(kafkajs.logLevel.ERROR);
    const entry = (message: string, error: string) => ({
      namespace: 'Connection',
      level: kafkajs.logLevel.ERROR,
      label: 'ERROR',
      log: { timestamp: '2026-12-02T00:00:00.000Z', message, error },
    });
    log(entry('Response ListOffsets(key: 2, version: 3)', 'This server is not the leader for that topic-partition'));
    log(entry('Response AddOffsetsToTxn(key: 25, version: 1)', 'There is a newer producer with the same transactionalId which fences the current one'));
    log(entry('Response FindCoordinator(key: 10, version: 2)', 'The coordinator is loading and hence can\'t process requests'));
    log(entry('Response CreateTopics(key: 19, version: 3)', 'Topic creation errors'));
  } finally {
    process.stderr.write = realWrite;
  }
  assert.equal(lines.length, 1);
  const written = JSON.parse(lines[0]!) as { level: string; logger: string; message: string; error: string };
  assert.deepEqual([written.level, written.logger, written.message], ['ERROR', 'kafkajs', 'Response AddOffsetsToTxn(key: 25, version: 1)']);
  assert.match(written.error, /fences the current one/);
});
