#!/usr/bin/env node
// First: it must run before anything loads kafkajs.
import '../kafka/preload.js';
import type { Command } from './command.js';
import { PageloopError, UsageError, errorMessage } from '../lib/errors.js';

/** Subcommands load lazily so that `pageloop doctor` does not load the BPF addon. */
const commands: Record<string, () => Promise<Command>> = {
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  trace: async () => (await import('./commands/trace.js')).traceCommand,
  kafka: async () => (await import('./commands/kafka.js')).kafkaCommand,
  collect: async () => (await import('./commands/collect.js')).collectCommand,
  record: async () => (await import('./commands/record.js')).recordCommand,
  feedback: async () => (await import('./commands/feedback.js')).feedbackCommand,
  agent: async () => (await import('./commands/agent.js')).agentCommand,
  up: async () => (await import('./commands/up.js')).upCommand,
  status: async () => (await import('./commands/up.js')).statusCommand,
  profile: async () => (await import('./commands/profile.js')).profileCommand,
  process: async () => (await import('./commands/process.js')).processCommand,
  replay: async () => (await import('./commands/replay.js')).replayCommand,
  sink: async () => (await import('./commands/sink.js')).sinkCommand,
  serve: async () => (await import('./commands/serve.js')).serveCommand,
  dashboards: async () => (await import('./commands/dashboards.js')).dashboardsCommand,
  deploy: async () => (await import('./commands/deploy.js')).deployCommand,
};

function help(): string {
  return ['usage: pageloop <command> [flags]', '', 'commands:', ...Object.keys(commands).map((c) => `  ${c}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  // Through the one error path below, like every other bad input: one line, exit 2.
  if (!load) throw new UsageError(`unknown command '${name}' (known: ${Object.keys(commands).join(', ')}; pageloop --help)`);
  const command = await load();
  return command.run(rest);
}

/**
 * Once the command has returned, whatever still holds the event loop is a
 * leftover: kafkajs can revive a stopped consumer's connections (see
 * kafka/consumer-stop.ts), and a service that printed its final stats and
 * then lingered until the supervisor's SIGKILL was seen in the chaos run.
 * The process exits with its status after this long, naming what was left;
 * unref'd, so a process whose loop drains exits at once as usual.
 */
const LINGER_AFTER_RETURN_MS = 5_000;

function exitIfLingering(): void {
  setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
    process.stderr.write(`pageloop: still running ${LINGER_AFTER_RETURN_MS / 1000} s after the command ended (${left.join(', ') || 'timers'}): exiting\n`);
    process.exit();
  }, LINGER_AFTER_RETURN_MS).unref();
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
    exitIfLingering();
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`pageloop: ${err.message}`);
      process.exitCode = 2;
    } else if (err instanceof PageloopError) {
      console.error(`pageloop: ${err.message}${err.retriable ? ' (temporary: trying again may help)' : ''}`);
      process.exitCode = 1;
    } else {
      console.error(`pageloop: ${errorMessage(err)}`);
      if (err instanceof Error && err.stack) console.error(err.stack);
      process.exitCode = 1;
    }
    exitIfLingering();
  },
);
