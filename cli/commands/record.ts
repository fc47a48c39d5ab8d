/**
 * `pageloop record`: the collector's stream into a file instead of Kafka,
 * for a real workload to be replayed later (bench/fleet-sim.ts replays a
 * recording as many hosts). The file holds exactly the records `collect`
 * would have produced (schemas/record-file.ts).
 */
import { spawn } from 'node:child_process';
import type { Command } from '../command.js';
import { flagBoolean, flagNumber, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { untilStopped } from '../run-until.js';
import { createRecordFileWriter } from '../../schemas/record-file.js';
import { createFileEventsProducer } from '../../collectors/file-producer.js';
import { totalOf } from '../../collectors/collector.js';
import { formatStats } from '../../deploy/collector.js';
import { startCollectorOnly } from '../../deploy/pipeline.js';
import { COLLECTOR_FLAGS, collectSettingsFromArgs } from './collect.js';

const flags: FlagSpec[] = [
  { name: 'out', kind: 'string', help: 'the recording to write (required; replaced if it exists)' },
  { name: 'config', kind: 'string', help: 'a pageloop config file (JSON); flags and environment override it' },
  ...COLLECTOR_FLAGS.filter((f) => f.name !== 'metrics-port'),
  { name: 'duration', kind: 'number', help: 'stop after this many seconds' },
  { name: 'command', kind: 'string', help: 'run this shell command and record until it exits' },
  { name: 'json', kind: 'boolean', help: 'print the final stats as JSON' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'Record the kernel events of this host into a file (the records `collect` would produce), for replay.';

interface RunningCommand {
  /** Its exit status. */
  readonly finished: Promise<number>;
  /** SIGTERMs the command and everything it started, then waits for the shell. */
  stop(): Promise<void>;
}

/** Runs `sh -c command` with inherited output, in a process group of its own so it can be stopped whole. */
function runCommand(command: string): RunningCommand {
  const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  const finished = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  return {
    finished,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
      await finished.catch(() => undefined);
    },
  };
}

export const recordCommand: Command = {
  name: 'record',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('record --out FILE (--duration S | --command CMD) [flags]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`record takes no arguments, got '${args.positionals.join(' ')}'`);
    const out = flagString(args, 'out');
    if (!out) throw new UsageError('--out: the recording file is required');
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const command = flagString(args, 'command');
    if (duration === undefined && command === undefined) throw new UsageError('--duration or --command: say how long to record');
    const settings = { ...collectSettingsFromArgs(args), metrics: null };
    const writer = createRecordFileWriter(out);
    const running = await startCollectorOnly(settings, { output: { producer: createFileEventsProducer(writer), describe: out } });
    let status = 0;
    if (command !== undefined) {
      const cmd = runCommand(command);
      const ended = await (duration === undefined ? cmd.finished : Promise.race([cmd.finished, untilStopped(duration).then(() => 'stopped' as const)]));
      if (ended === 'stopped') {
        // The recording is as long as asked; the command would otherwise outlive it on our stdio.
        console.error(`record: the command was still running when the recording ended (--duration or a signal): stopped it`);
        await cmd.stop();
      } else {
        status = ended;
      }
    } else {
      await untilStopped(duration);
    }
    const final = await running.stop();
    if (flagBoolean(args, 'json')) console.log(JSON.stringify({ ...final, file: out, records: writer.records, bytes: writer.bytes }));
    else console.error(`${formatStats(final)}; ${writer.records} records (${(writer.bytes / 1024).toFixed(0)} KiB, ${totalOf(final.produced)} events) in ${out}`);
    return status === 0 ? 0 : 1;
  },
};
