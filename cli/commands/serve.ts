/**
 * `pageloop serve`: the embedded ClickHouse engine on its data directory,
 * behind the ClickHouse-compatible HTTP endpoint, as a process of its own.
 * Grafana's data source and `pageloop sink --clickhouse-url` point at it as
 * at a ClickHouse server; restarting it restarts the engine without touching
 * the sink's process (which retries its inserts until it is back).
 */
import type { Command } from '../command.js';
import { flagBoolean, flagNumber, flagString, parseArgs, usage, type FlagSpec } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { untilStopped } from '../run-until.js';
import { startClickHouseServe } from '../../deploy/pipeline.js';
import { DEFAULT_HTTP_ENDPOINT_CONFIG, type HttpEndpointConfig } from '../../deploy/clickhouse/http-endpoint.js';
import { DATABASE } from '../../schemas/clickhouse-tables.js';

const flags: FlagSpec[] = [
  { name: 'clickhouse-dir', kind: 'string', help: 'data directory of the embedded engine (default: $PAGELOOP_CLICKHOUSE_DIR or ~/.local/state/pageloop/clickhouse)' },
  { name: 'database', kind: 'string', help: `database created if missing (default ${DATABASE})` },
  { name: 'host', kind: 'string', help: `address to listen on (default ${DEFAULT_HTTP_ENDPOINT_CONFIG.host}; beyond loopback needs PAGELOOP_CLICKHOUSE_PASSWORD)` },
  { name: 'port', kind: 'number', help: `port (default ${DEFAULT_HTTP_ENDPOINT_CONFIG.port}; 0 picks a free one)` },
  { name: 'user', kind: 'string', help: `the one user it knows (default $PAGELOOP_CLICKHOUSE_USER or ${DEFAULT_HTTP_ENDPOINT_CONFIG.username}); its password is $PAGELOOP_CLICKHOUSE_PASSWORD (default none)` },
  { name: 'writable', kind: 'boolean', help: 'let POSTed statements write (for a sink by --clickhouse-url); GET stays read-only. Default: read-only, as Grafana needs' },
  { name: 'duration', kind: 'number', help: 'stop after this many seconds (default: until SIGINT/SIGTERM)' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = 'Serve the embedded ClickHouse engine over its HTTP interface (for Grafana, or a sink by URL).';

export const serveCommand: Command = {
  name: 'serve',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage('serve [flags]', SUMMARY, flags));
      return 0;
    }
    if (args.positionals.length > 0) throw new UsageError(`serve takes no arguments, got '${args.positionals.join(' ')}'`);
    const duration = flagNumber(args, 'duration');
    if (duration !== undefined && !(duration > 0)) throw new UsageError(`--duration: wants seconds > 0, got ${duration}`);
    const port = flagNumber(args, 'port');
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new UsageError(`--port: wants an integer from 0 to 65535, got ${port}`);
    const host = flagString(args, 'host');
    const user = flagString(args, 'user') ?? process.env.PAGELOOP_CLICKHOUSE_USER;
    const endpoint: HttpEndpointConfig = {
      ...DEFAULT_HTTP_ENDPOINT_CONFIG,
      ...(host !== undefined ? { host } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(user ? { username: user } : {}),
      password: process.env.PAGELOOP_CLICKHOUSE_PASSWORD ?? '',
      readonly: !flagBoolean(args, 'writable'),
    };
    const dataDir = flagString(args, 'clickhouse-dir');
    const log = (line: string): void => console.error(line);
    const served = await startClickHouseServe(
      { clickhouse: { database: flagString(args, 'database') ?? DATABASE, ...(dataDir !== undefined ? { dataDir } : {}) }, endpoint },
      { log },
    );
    try {
      await untilStopped(duration);
    } finally {
      await served.stop();
    }
    log('stopped');
    return 0;
  },
};
