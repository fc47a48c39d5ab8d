/**
 * The table contract (clickhouse-tables.ts) for a ClickHouse cluster: the
 * same migrations, rendered so that every server of the cluster gets them.
 * Config key `clickhouse.cluster`; '' (the default) is one server, and
 * then the migrations are clickhouse-tables.ts's, unchanged, so their
 * checksums never move.
 *
 * The cluster form of a statement, derived from the one-server form (so a
 * new migration needs no second copy; a shape this does not know is an
 * error, and the tests render every statement):
 *   - a table T becomes T_local ON CLUSTER c, engine Replicated<Engine>
 *     with its Keeper path by shard and its replica macro, same columns,
 *     keys, TTL; plus T itself as a Distributed table over T_local, sharded
 *     by host (a host's rows on one shard: its panels read one shard).
 *     Readers and the sink keep using T.
 *   - non_replicated_deduplication_window becomes the replicated window of
 *     the same DEDUP_WINDOW_BLOCKS (the sink's exactly-once horizon), kept
 *     at most REPLICATED_DEDUP_WINDOW_SECONDS in Keeper.
 *   - a materialized view runs where the rows land: ON CLUSTER, reading
 *     and writing the _local tables.
 *   - ALTER TABLE T becomes ALTER TABLE T_local ON CLUSTER c.
 * The servers need `{shard}` and `{replica}` macros and the cluster in
 * remote_servers (what ClickHouse operators set up).
 */
import { UsageError } from '../lib/errors.js';
import { DATABASE, MIGRATIONS, TABLE, type Migration, type TableName } from './clickhouse-tables.js';

export interface TableLayout {
  /** The cluster's name in the servers' remote_servers; '' for one server. */
  readonly cluster: string;
  readonly database: string;
}

export const DEFAULT_TABLE_LAYOUT: TableLayout = Object.freeze({ cluster: '', database: DATABASE });

export const LOCAL_SUFFIX = '_local';

/** How long a replicated table keeps an insert's hash in Keeper (ClickHouse's default, stated): past it, a replay is not recognised. */
export const REPLICATED_DEDUP_WINDOW_SECONDS = 7 * 24 * 3600;

/** The Distributed tables' sharding key: by host, except the sink's ledger (it has none). */
export const SHARDING_KEY: Readonly<Record<TableName, string>> = Object.freeze(
  Object.fromEntries(Object.values(TABLE).map((t) => [t, t === TABLE.sinkBlocks ? 'cityHash64(topic, partition)' : 'cityHash64(host)'])) as Record<TableName, string>,
);

const CLUSTER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function validateTableLayout(l: TableLayout): void {
  if (typeof l.cluster !== 'string' || (l.cluster !== '' && !CLUSTER_NAME.test(l.cluster))) {
    throw new UsageError(`clickhouse.cluster: wants '' (one server) or a cluster name of remote_servers (letters, digits, _ . -), got ${JSON.stringify(l.cluster)}`);
  }
  if (typeof l.database !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(l.database)) {
    throw new UsageError(`clickhouse.database: wants an identifier (letters, digits, _), got ${JSON.stringify(l.database)}`);
  }
}

const TABLES = new Set<string>(Object.values(TABLE));
const tableOf = (name: string): TableName => {
  if (!TABLES.has(name)) throw new UsageError(`clickhouse cluster DDL: '${name}' is not a table of the contract`);
  return name as TableName;
};

function unknownShape(statement: string): never {
  throw new UsageError(`clickhouse cluster DDL: no cluster form for a statement starting '${statement.trim().slice(0, 60)}'`);
}

/** The cluster form of one statement of the one-server contract (one or two statements). */
export function clusterStatement(statement: string, l: TableLayout): string[] {
  const on = `ON CLUSTER \`${l.cluster}\``;
  const table = /^CREATE TABLE IF NOT EXISTS (\w+) \(/.exec(statement);
  if (table) {
    const name = tableOf(table[1]!);
    const local = `${name}${LOCAL_SUFFIX}`;
    const engines = [...statement.matchAll(/ENGINE = (MergeTree|SummingMergeTree|ReplacingMergeTree)(?![\w(])/g)];
    if (engines.length !== 1) unknownShape(statement);
    const replicated = statement
      .replace(table[0], `CREATE TABLE IF NOT EXISTS ${local} ${on} (`)
      .replace(engines[0]![0], `ENGINE = Replicated${engines[0]![1]}('/clickhouse/tables/{shard}/${l.database}/${local}', '{replica}')`)
      .replace(/non_replicated_deduplication_window = (\d+)/, `replicated_deduplication_window = $1, replicated_deduplication_window_seconds = ${REPLICATED_DEDUP_WINDOW_SECONDS}`);
    const distributed = `CREATE TABLE IF NOT EXISTS ${name} ${on} AS ${local}\n  ENGINE = Distributed('${l.cluster}', '${l.database}', '${local}', ${SHARDING_KEY[name]})`;
    return [replicated, distributed];
  }
  const view = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS/.exec(statement);
  if (view) {
    const from = [...statement.matchAll(/\bFROM (\w+)/g)];
    if (from.length !== 1) unknownShape(statement);
    return [
      statement
        .replace(view[0], `CREATE MATERIALIZED VIEW IF NOT EXISTS ${view[1]} ${on} TO ${tableOf(view[2]!)}${LOCAL_SUFFIX} AS`)
        .replace(from[0]![0], `FROM ${tableOf(from[0]![1]!)}${LOCAL_SUFFIX}`),
    ];
  }
  const alter = /^ALTER TABLE (\w+) /.exec(statement);
  if (alter) return [statement.replace(alter[0], `ALTER TABLE ${tableOf(alter[1]!)}${LOCAL_SUFFIX} ${on} `)];
  return unknownShape(statement);
}

/** The migrations for a layout: the contract's own for one server, their cluster form otherwise (same versions and names). */
export function migrationsFor(layout: TableLayout = DEFAULT_TABLE_LAYOUT): readonly Migration[] {
  validateTableLayout(layout);
  if (layout.cluster === '') return MIGRATIONS;
  return MIGRATIONS.map((m) => ({
    ...m,
    statements: [
      // The sink's client creates the database on the server it talks to; a cluster needs it on every one, first.
      ...(m.version === 1 ? [`CREATE DATABASE IF NOT EXISTS ${layout.database} ON CLUSTER \`${layout.cluster}\``] : []),
      ...m.statements.flatMap((s) => clusterStatement(s, layout)),
    ],
  }));
}

/** Every statement of the layout, in order, as one SQL script (`pageloop deploy clickhouse-sql`). */
export function renderTableDdl(layout: TableLayout = DEFAULT_TABLE_LAYOUT): string {
  return migrationsFor(layout)
    .map((m) => [`-- migration ${m.version}: ${m.name}`, ...m.statements.map((s) => `${s.trim()};`)].join('\n\n'))
    .join('\n\n') + '\n';
}
