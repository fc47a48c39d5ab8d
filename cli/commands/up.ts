import type { Command } from '../command.js';
import { flagBoolean, flagNumber, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { untilStopped } from '../run-until.js';
import { defaultStatusFile, formatStatusLine, readStackStatus, startStack } from '../../deploy/stack.js';
import { COLLECTOR_FLAGS, collectSettingsFromArgs } from './collect.js';
import { POLICY_FLAGS, agentFeedbackConfig, policyFromArgs } from './feedback.js';

const flags: FlagSpec[] = [
  ...POLICY_FLAGS,
  ...COLLECTOR_FLAGS,
  { name: 'clickhouse-url', kind: 'string', help: 'a ClickHouse server (default: the embedded engine)' },
  { name: 'clickhouse-http-port', kind: 'number', help: "port of the embedded engine's HTTP endpoint for Grafana (default 8123)" },
  { name: 'status-interval', kind: 'number', help: 'seconds between status lines (default 10)' },
  { name: 'duration', kind: 'number', help: 'stop after this many seconds (default: until Ctrl-C)' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'The whole pipeline on this host: local Kafka, embedded ClickHouse (+ HTTP for Grafana), agent, processors, sink.';

export const upCommand: Command = {
  name: 'up',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('up [flags]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`up takes no arguments, got '${args.positionals.join(' ')}'`);
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const statusIntervalS = flagNumber(args, 'status-interval') ?? 10;
    if (!(statusIntervalS > 0)) throw new UsageError(`--status-interval: wants seconds > 0, got ${statusIntervalS}`);
    const collect = collectSettingsFromArgs(args);
    const { settings: policy } = policyFromArgs(args);
    const url = args.flags.get('clickhouse-url')?.[0] ?? process.env.PAGELOOP_CLICKHOUSE_URL;
    const stack = await startStack(
      {
        collect,
        feedback: agentFeedbackConfig(policy, collect.collector.host),
        clickhouse: { database: 'pageloop', httpPort: flagNumber(args, 'clickhouse-http-port') ?? 8123, ...(url ? { url } : {}) },
        statusIntervalS,
        statusFile: defaultStatusFile(),
      },
      (line) => console.error(`pageloop: ${line}`),
    );
    await untilStopped(duration);
    console.error(`pageloop: ${formatStatusLine(stack.status())}`);
    await stack.stop();
    console.error('pageloop: stopped');
    return 0;
  },
};

export const statusCommand: Command = {
  name: 'status',
  summary: 'What a running `pageloop up` reports: events/s, loss, hints applied.',
  async run(argv) {
    const args = parseArgs(argv, [
      { name: 'json', kind: 'boolean', help: 'print the status as JSON' },
      { name: 'help', kind: 'boolean', help: 'this text' },
    ]);
    if (args.positionals.length > 0) throw new UsageError(`status takes no arguments, got '${args.positionals.join(' ')}'`);
    const s = readStackStatus();
    let alive = false;
    if (s) {
      try {
        process.kill(s.pid, 0);
        alive = true;
      } catch {
        alive = false;
      }
    }
    if (!s || !alive) {
      console.error('pageloop is not up (no running `pageloop up` on this host)');
      return 3;
    }
    if (flagBoolean(args, 'json')) console.log(JSON.stringify(s));
    else console.log(`pageloop up since ${s.startedAt} (pid ${s.pid}, as of ${s.updatedAt}): ${formatStatusLine(s)}`);
    return 0;
  },
};
