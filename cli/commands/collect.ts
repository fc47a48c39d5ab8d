import type { Command } from '../command.js';
import { flagBoolean, flagList, flagNumber, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { untilStopped } from '../run-until.js';
import { PROBE_MODE_FLAGS, parseFamilies, parseProbeModes, parsePids } from '../targets-flags.js';
import { loadJsonFile, validateConfig } from '../../schemas/validate.js';
import { collectSettings, formatStats, type CollectSettings } from '../../deploy/collector.js';
import { startCollectorOnly } from '../../deploy/pipeline.js';
import { FAMILIES } from '../../bpf/events.js';

/** The collector's own flags (shared with `agent`). */
export const COLLECTOR_FLAGS: FlagSpec[] = [
  { name: 'pid', kind: 'list', help: 'only these processes' },
  { name: 'cgroup', kind: 'list', help: 'only processes in these cgroup v2 paths' },
  { name: 'events', kind: 'list', help: `families: ${FAMILIES.join(',')} (default: all)` },
  ...PROBE_MODE_FLAGS,
  { name: 'metrics-port', kind: 'number', help: 'Prometheus /metrics port (default 9464; 0 picks a free one)' },
];

const flags: FlagSpec[] = [
  { name: 'config', kind: 'string', help: 'a pageloop config file (JSON); flags and environment override it' },
  { name: 'brokers', kind: 'list', help: 'Kafka bootstrap servers (default: the local broker of `pageloop kafka start`)' },
  ...COLLECTOR_FLAGS,
  { name: 'duration', kind: 'number', help: 'stop after this many seconds (default: until SIGINT/SIGTERM)' },
  { name: 'json', kind: 'boolean', help: 'print the final stats as JSON' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'Stream the kernel events of this host into Kafka (pageloop.events.v1).';

/** Parses the collector's flags (with --config, --brokers) into settings. */
export function collectSettingsFromArgs(args: ParsedArgs): CollectSettings {
  const configPath = flagString(args, 'config') ?? process.env.PAGELOOP_CONFIG;
  const file = configPath ? loadJsonFile(configPath, validateConfig) : {};
  const metricsPort = flagNumber(args, 'metrics-port');
  return collectSettings(file, {
    brokers: flagList(args, 'brokers'),
    pids: parsePids(flagList(args, 'pid')),
    cgroups: flagList(args, 'cgroup'),
    families: parseFamilies(flagList(args, 'events'), false),
    modes: parseProbeModes(args),
    ...(metricsPort !== undefined ? { metricsPort } : {}),
  });
}

export const collectCommand: Command = {
  name: 'collect',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('collect [flags]', SUMMARY, flags));
      return 0;
    }
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const settings = collectSettingsFromArgs(args);
    const running = await startCollectorOnly(settings, { output: { settings: settings.kafka } });
    await untilStopped(duration);
    const final = await running.stop();
    if (flagBoolean(args, 'json')) console.log(JSON.stringify(final));
    else console.error(formatStats(final));
    return 0;
  },
};
