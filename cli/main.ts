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
  if (!load) {
    console.error(`pageloop: unknown command '${name}'\n${help()}`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
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
  },
);
