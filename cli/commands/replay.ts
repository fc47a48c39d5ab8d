import type { Command } from '../command.js';
import { flagBoolean, flagNumber, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { DEFAULT_RUNNER_CONFIG, createProcessor, endOffsets, waitForCommitted, type RunnerConfig } from '../../processors/runner.js';
import { outputTopicSpecs, processorTopics, retrying } from '../../processors/topics.js';
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

    // Fresh means fresh: a group with offsets would resume, and topics with records would mix two runs.
    const admin = kafka.admin();
    await admin.connect();
    let ends: Map<number, number>;
    try {
      const existing = new Set(await admin.listTopics());
      for (const spec of outputTopicSpecs(topics)) {
        if (!existing.has(spec.name)) continue;
        const nonEmpty = (await retrying(() => admin.fetchTopicOffsets(spec.name))).some((o) => Number(o.high) > 0);
        if (nonEmpty) throw new UsageError(`replay: ${spec.name} already has records; choose a new --to-prefix`);
      }
      const committed = (await retrying(() => admin.fetchOffsets({ groupId, topics: [topics.events] }))).flatMap((t) => t.partitions).some((p) => Number(p.offset) >= 0);
      if (committed) throw new UsageError(`replay: consumer group ${groupId} already has offsets; choose a new --to-prefix`);
      ends = await endOffsets(admin, topics.events);
    } finally {
      await admin.disconnect();
    }

    const runner: RunnerConfig = { ...DEFAULT_RUNNER_CONFIG, ...runnerOverrides(args), groupId, instanceId, topics };
    const processor = createProcessor({ model, runner }, { kafka, log });
    const signal = untilSignal();
    let failure: unknown;
    let interrupted = false;
    try {
      await processor.start();
      log(`replaying ${topics.events} (${[...ends.values()].reduce((a, b) => a + b, 0)} records in ${ends.size} partitions) into ${prefix}.*`);
      const waiter = kafka.admin();
      await waiter.connect();
      let done = false;
      const caughtUp = waitForCommitted(waiter, groupId, topics.events, ends, { timeoutMs: timeoutS * 1000, failed: processor.failed, cancelled: () => done });
      try {
        await Promise.race([caughtUp, signal.done.then(() => (interrupted = true))]);
      } finally {
        // Let the poller see it is over before its admin client goes.
        done = true;
        await caughtUp.catch(() => undefined);
        await waiter.disconnect().catch(() => undefined);
      }
    } catch (err) {
      failure = err;
    } finally {
      signal.cancel();
      await processor.stop();
    }
    const stats = processor.stats();
    if (flagBoolean(args, 'json')) console.log(JSON.stringify({ prefix, topics, interrupted, ...stats }));
    else log(`${interrupted ? 'interrupted' : 'done'}: ${formatProcessorStats(stats)}`);
    if (failure !== undefined) throw failure;
    return interrupted ? 130 : 0;
  },
};
