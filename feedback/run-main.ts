#!/usr/bin/env node
/**
 * `pageloop feedback` and `pageloop profile` as the CLI runs them, for tests
 * (and use) before cli/main.ts registers them: same exit statuses and error
 * lines as cli/main.ts.
 */
import type { Command } from '../cli/command.js';
import { PageloopError, UsageError, errorMessage } from '../lib/errors.js';

const commands: Record<string, () => Promise<Command>> = {
  feedback: async () => (await import('../cli/commands/feedback.js')).feedbackCommand,
  profile: async () => (await import('../cli/commands/profile.js')).profileCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : commands[name];
  if (!load) {
    console.error(`usage: run-main.js <${Object.keys(commands).join('|')}> [flags]`);
    return 2;
  }
  return (await load()).run(rest);
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
      process.exitCode = 1;
    }
  },
);
