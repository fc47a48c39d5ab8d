/**
 * The sink as a child process, for the tests that kill it (SIGKILL: no
 * cleanup, no commit) and start it again. One JSON line per event on
 * stdout: started, one per committed block, stopped (with stats).
 * SIGTERM/SIGINT stop it cleanly.
 *
 *   node dist/test/sink-child.js '{"brokers":["127.0.0.1:9092"],"dataDir":"/tmp/x","sink":{"groupId":"g"}}'
 */
import kafkajs from 'kafkajs';
import { createClickHouseClient } from '../clickhouse/client.js';
import { UsageError, errorMessage } from '../lib/errors.js';
import { DATABASE } from '../schemas/clickhouse-tables.js';
import { DEFAULT_SINK_CONFIG, createSink, type SinkConfig } from '../sink/sink.js';

interface RunOptions {
  readonly brokers: string[];
  readonly dataDir: string;
  readonly sink?: Partial<SinkConfig>;
}

function parseOptions(text: string | undefined): RunOptions {
  if (text === undefined) throw new UsageError('sink-child: pass the options as one JSON argument');
  const o = JSON.parse(text) as Partial<RunOptions>;
  if (!Array.isArray(o.brokers) || o.brokers.length === 0) throw new UsageError('sink-child: brokers: must list host:port');
  if (typeof o.dataDir !== 'string') throw new UsageError('sink-child: dataDir: must be a path');
  return { brokers: o.brokers, dataDir: o.dataDir, ...(o.sink ? { sink: o.sink } : {}) };
}

const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(): Promise<void> {
  const opts = parseOptions(process.argv[2]);
  const kafka = new kafkajs.Kafka({ clientId: 'pageloop-sink', brokers: opts.brokers, logLevel: kafkajs.logLevel.NOTHING });
  const ch = await createClickHouseClient({ database: DATABASE, dataDir: opts.dataDir });
  const sink = createSink(
    { ...DEFAULT_SINK_CONFIG, ...opts.sink },
    { kafka, clickhouse: ch, log: (line) => say({ event: 'log', line }), onCommit: (b) => say({ event: 'commit', ...b }) },
  );
  const stop = async (): Promise<void> => {
    let error: string | undefined;
    try {
      await sink.stop();
    } catch (err) {
      error = errorMessage(err);
    }
    await ch.close();
    say({ event: 'stopped', stats: sink.stats(), ...(error ? { error } : {}) });
    process.exit(error ? 1 : 0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await sink.start();
  say({ event: 'started' });
  sink.done.catch(() => void stop());
}

main().catch((err) => {
  say({ event: 'failed', error: errorMessage(err) });
  process.exit(1);
});
