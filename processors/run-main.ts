#!/usr/bin/env node
/**
 * `pageloop process` / `pageloop replay` until cli/main.ts registers them:
 * `node dist/processors/run-main.js process|replay [flags]`, the same
 * commands, flags and exit statuses. The SIGKILL tests spawn this.
 */
// First: it must run before anything loads kafkajs.
import '../lib/kafkajs-preload.js';
import { PageloopError, UsageError, errorMessage } from '../lib/errors.js';
import { processCommand } from '../cli/commands/process.js';
import { replayCommand } from '../cli/commands/replay.js';

const [name, ...rest] = process.argv.slice(2);
const command = name === 'process' ? processCommand : name === 'replay' ? replayCommand : undefined;
if (!command) {
  console.error('usage: run-main.js process|replay [flags]');
  process.exitCode = 2;
} else {
  command.run(rest).then(
    (status) => {
      process.exitCode = status;
    },
    (err: unknown) => {
      console.error(`pageloop ${name}: ${errorMessage(err)}${err instanceof PageloopError && err.retriable ? ' (temporary: trying again may help)' : ''}`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
