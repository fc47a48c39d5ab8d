import type { Command } from '../command.js';
import { flagBoolean, flagNumber, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { untilStopped } from '../run-until.js';
import { COLLECTOR_FLAGS, collectSettingsFromArgs } from './collect.js';
import { formatStats } from '../../deploy/collector.js';
import { startAgent } from '../../deploy/pipeline.js';
import { POLICY_FLAGS, agentFeedbackConfig, policyFromArgs } from './feedback.js';

const flags: FlagSpec[] = [
  ...POLICY_FLAGS,
  { name: 'brokers', kind: 'list', help: 'Kafka bootstrap servers (default: the local broker of `pageloop kafka start`)' },
  ...COLLECTOR_FLAGS,
  { name: 'duration', kind: 'number', help: 'stop after this many seconds (default: until SIGINT/SIGTERM)' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'The host agent: the collector and the feedback agent in one process, sharing the loaded BPF objects and their hint map.';

export const agentCommand: Command = {
  name: 'agent',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('agent [flags]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`agent takes no arguments, got '${args.positionals.join(' ')}'`);
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const collect = collectSettingsFromArgs(args);
    const { settings: policy } = policyFromArgs(args);
    const feedback = agentFeedbackConfig(policy, collect.collector.host);
    const agent = await startAgent(
      { collect, feedback },
      {
        kafka: { settings: collect.kafka },
        onAction: (a) => console.error(`${a.outcome} ${a.action} hint ${a.hintId} pid ${a.process.pid}: ${a.reason}`),
      },
    );
    await untilStopped(duration);
    const final = await agent.stop();
    const s = final.feedback;
    console.error(formatStats(final.collector));
    console.error(`feedback: applied ${s.outcomes.applied}, refused ${s.outcomes.refused}, failed ${s.outcomes.failed}, dry run ${s.outcomes.dry_run}`);
    return 0;
  },
};
