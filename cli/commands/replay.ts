import type { Command } from '../command.js';
import { flagBoolean, flagNumber, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { DEFAULT_RUNNER_CONFIG, type ProcessorStats, type RunnerConfig } from '../../processors/runner.js';
import { processorTopics } from '../../processors/topics.js';
import { startProcessors, type ProcessorsHandle } from '../../deploy/pipeline.js';
import { commonFlags, formatProcessorStats, runnerOverrides, setupFromArgs } from './process.js';
import { untilSignal } from '../run-until.js';

const flags: FlagSpec[] = [
  { name: 'from-start', kind: 'boolean', help: 'replay pageloop.events.v1 from its first record (required: the only mode)' },
  { name: 'to-prefix', kind: 'string', help: 'write to fresh topics PREFIX.pageloop.scores.v1 etc. (required)' },
  { name: 'timeout-s', kind: 'number', help: 'give up after this many seconds (default 3600)' },
  ...commonFlags,
];

const SUMMARY = [
  'Reprocess the events topic from the start, with fresh state, into fresh output topics PREFIX.<topic>,',
  'up to its end offsets at start, then exit. The processors are deterministic (event time only), so the',
  'outputs are byte for byte those of the live topics for the same input and model.',
].join('\n');

const PREFIX = /^[A-Za-z0-9._-]+$/;

export const replayCommand: Command = {
  name: 'replay',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('replay --from-start --to-prefix PREFIX [flags]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`replay: unexpected argument '${args.positionals[0]}'`);
    if (!flagBoolean(args, 'from-start')) throw new UsageError('replay: --from-start is required (a replay always starts from the first record, with fresh state)');
    const prefix = flagString(args, 'to-prefix');
    if (!prefix) throw new UsageError('replay: --to-prefix PREFIX is required (outputs go to fresh topics PREFIX.<topic>)');
    if (!PREFIX.test(prefix) || prefix.startsWith('pageloop.')) throw new UsageError(`--to-prefix: '${prefix}' must be letters, digits, '.', '_' or '-', and not start with 'pageloop.'`);
    const timeoutS = flagNumber(args, 'timeout-s') ?? 3600;
    const quiet = flagBoolean(args, 'quiet');
    const log = (line: string): void => {
      if (!quiet) process.stderr.write(`replay: ${line}\n`);
    };

    const instanceId = `replay-${process.pid}`;
    const { kafka, model } = setupFromArgs(args, 'replay', prefix);
    const topics = processorTopics(prefix, flagString(args, 'events-topic'));
    const groupId = `${prefix}.${model.name}`;

    const runner: RunnerConfig = { ...DEFAULT_RUNNER_CONFIG, ...runnerOverrides(args), groupId, instanceId, topics };
    let interrupted = false;
    const printStats = (stats: ProcessorStats): void => {
      if (flagBoolean(args, 'json')) console.log(JSON.stringify({ prefix, topics, interrupted, ...stats }));
      else log(`${interrupted ? 'interrupted' : 'done'}: ${formatProcessorStats(stats)}`);
    };
    const signal = untilSignal();
    let processors: ProcessorsHandle | undefined;
    let failure: unknown;
    try {
      // fresh: output topics with records or a group with offsets are refused before anything is created.
      processors = await startProcessors({ model, runner, metrics: null, readEnds: true, fresh: true }, { kafka: { settings: kafka }, log, onStopped: printStats });
      const ends = processors.ends!;
      log(`replaying ${topics.events} (${[...ends.values()].reduce((a, b) => a + b, 0)} records in ${ends.size} partitions) into ${prefix}.*`);
      const caughtUp = processors.caughtUp(timeoutS * 1000);
      try {
        await Promise.race([caughtUp.done, signal.done.then(() => (interrupted = true))]);
      } finally {
        await caughtUp.cancel();
      }
    } catch (err) {
      failure = err;
    } finally {
      signal.cancel();
      await processors?.stop();
    }
    if (failure !== undefined) throw failure;
    return interrupted ? 130 : 0;
  },
};
