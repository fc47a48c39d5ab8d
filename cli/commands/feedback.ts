import { hostname } from 'node:os';
import type { Command } from '../command.js';
import { flagBoolean, flagList, flagNumber, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { untilStopped } from '../run-until.js';
import { kafkaSettingsFor } from '../../kafka/settings.js';
import { loadJsonFile, validateConfig, type PageloopConfig } from '../../schemas/validate.js';
import { defaultAppliedLogPath, feedbackConfig, feedbackSettingsFromFile, type FeedbackConfig } from '../../feedback/config.js';
import { startFeedback } from '../../deploy/pipeline.js';

/** Flags shared by `feedback` and `profile load`: who may be touched, and how. */
export const POLICY_FLAGS: FlagSpec[] = [
  { name: 'config', kind: 'string', help: 'a pageloop config file (JSON): its `feedback` section and host; flags add to it' },
  { name: 'host', kind: 'string', help: 'this host as hints name it (default: config host, PAGELOOP_HOST, or the host name)' },
  { name: 'allow-comm', kind: 'list', help: 'allow processes with this command name' },
  { name: 'allow-executable', kind: 'list', help: 'allow processes running this executable (absolute path)' },
  { name: 'allow-cgroup', kind: 'list', help: 'allow processes in this cgroup (or below)' },
  { name: 'dry-run', kind: 'boolean', help: 'record what would be done, change nothing' },
  { name: 'per-process-per-minute', kind: 'number', help: 'rate limit per process' },
  { name: 'per-host-per-minute', kind: 'number', help: 'rate limit for the host' },
  { name: 'hint-map', kind: 'string', help: 'where the hint map is pinned (default /sys/fs/bpf/pageloop/pl_hints)' },
  {
    name: 'applied-log',
    kind: 'string',
    help: "agent/feedback: the file of hint ids acted on, so a restart acts on none twice (default $PAGELOOP_STATE_DIR or /var/lib/pageloop, feedback/applied-HOST.log; '' keeps them in memory only)",
  },
];

/** The agent's feedback config: the policy on this host, its applied log at the default place unless --applied-log said otherwise. */
export function agentFeedbackConfig(policy: Partial<FeedbackConfig>, host: string | undefined, env = process.env): FeedbackConfig {
  const h = policy.host ?? host ?? hostname();
  return feedbackConfig({ ...policy, host: h, appliedLogPath: policy.appliedLogPath ?? defaultAppliedLogPath(h, env) });
}

/** Defaults, then the config file, then the environment, then flags (allow-lists: the file's plus the flags'). */
export function policyFromArgs(args: ParsedArgs, env = process.env): { file: PageloopConfig; settings: Partial<FeedbackConfig> } {
  const configPath = flagString(args, 'config') ?? env.PAGELOOP_CONFIG;
  const file = configPath ? loadJsonFile(configPath, validateConfig) : {};
  const s = feedbackSettingsFromFile(file, env);
  const host = flagString(args, 'host');
  if (host !== undefined) s.host = host;
  s.allow = {
    comms: [...(s.allow?.comms ?? []), ...flagList(args, 'allow-comm')],
    executables: [...(s.allow?.executables ?? []), ...flagList(args, 'allow-executable')],
    cgroups: [...(s.allow?.cgroups ?? []), ...flagList(args, 'allow-cgroup')],
  };
  if (flagBoolean(args, 'dry-run')) s.dryRun = true;
  const pp = flagNumber(args, 'per-process-per-minute');
  const ph = flagNumber(args, 'per-host-per-minute');
  s.rateLimits = { ...s.rateLimits!, ...(pp !== undefined ? { perProcessPerMinute: pp } : {}), ...(ph !== undefined ? { perHostPerMinute: ph } : {}) };
  const pin = flagString(args, 'hint-map');
  if (pin !== undefined) s.hintMapPinPath = pin;
  const appliedLog = flagString(args, 'applied-log');
  if (appliedLog !== undefined) s.appliedLogPath = appliedLog;
  // Flag errors name the flag, not the config key.
  try {
    feedbackConfig(s);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${configPath ? `${configPath} or flags` : 'flags'}: ${err.message}`);
    throw err;
  }
  return { file, settings: s };
}

const flags: FlagSpec[] = [
  ...POLICY_FLAGS,
  { name: 'brokers', kind: 'list', help: 'Kafka bootstrap servers (default: the local broker of `pageloop kafka start`)' },
  { name: 'duration', kind: 'number', help: 'stop after this many seconds (default: until SIGINT/SIGTERM)' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = "Act on this host's hints (pageloop.hints.v1): the hint map, process_madvise and memory.reclaim, every outcome on pageloop.actions.v1.";

export const feedbackCommand: Command = {
  name: 'feedback',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('feedback [flags]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`feedback takes no arguments, got '${args.positionals.join(' ')}'`);
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const { file, settings } = policyFromArgs(args);
    const config = agentFeedbackConfig(settings, undefined);
    const feedback = await startFeedback(config, {
      kafka: { settings: kafkaSettingsFor('feedback', file.kafka, { brokers: flagList(args, 'brokers') }, config.host) },
      onAction: (a) => console.log(`${a.outcome} ${a.action} hint ${a.hintId} pid ${a.process.pid}: ${a.reason}`),
    });
    const allow = config.allow;
    console.error(
      `feedback on ${config.host}${config.dryRun ? ' (dry run)' : ''}: allow comms [${allow.comms.join(',')}] executables [${allow.executables.join(',')}] cgroups [${allow.cgroups.join(',')}]`,
    );
    await untilStopped(duration);
    const s = await feedback.stop();
    console.error(
      `feedback stopped: ${s.records} records, applied ${s.outcomes.applied}, refused ${s.outcomes.refused}, failed ${s.outcomes.failed}, dry run ${s.outcomes.dry_run}, withdrawn ${s.withdrawals}, other hosts ${s.otherHosts}`,
    );
    return 0;
  },
};
