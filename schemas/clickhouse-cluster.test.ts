import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { MIGRATIONS_TABLE, applyTableMigrations, migrationChecksum, migrationsTableStatements, readAppliedMigrations, validateMigrations } from '../clickhouse/migrations.js';
import { DEFAULT_SINK_CONFIG, insertSettingsFor, validateSinkConfig } from '../sink/sink.js';
import { buildBlocks } from '../sink/build.js';
import { insertBlock } from '../sink/insert.js';
import { TOPIC } from './topics.js';
import { eventRecord } from '../test/sink-records.js';
import { DATABASE, DEDUP_WINDOW_BLOCKS, MIGRATIONS, TABLE, rawTtlStatement } from './clickhouse-tables.js';
import { LOCAL_SUFFIX, SHARDING_KEY, clusterStatement, migrationsFor, renderTableDdl } from './clickhouse-cluster.js';

const FLEET = { cluster: 'fleet', database: DATABASE };
const one = MIGRATIONS[0]!.statements;
const clustered = migrationsFor(FLEET)[0]!.statements;

/** The column list of a CREATE TABLE: from its first '(' to the ') ENGINE' closing it. */
function columnsOf(statement: string): string {
  return statement.slice(statement.indexOf('(') + 1, statement.indexOf(') ENGINE'));
}

/** Column names of a column list (the first word of each top-level entry). */
function columnNames(columns: string): string[] {
  return columns
    .split(/,\s*\n/)
    .map((c) => c.trim().split(/\s+/)[0]!)
    .filter((n) => n !== '');
}

const createdTables = (statements: readonly string[]) => statements.map((s) => /^CREATE TABLE IF NOT EXISTS (\w+)/.exec(s)?.[1]).filter((n): n is string => n !== undefined);

test('one server: the migrations are the contract itself, so applied checksums do not move', () => {
  assert.equal(migrationsFor(), MIGRATIONS);
  assert.equal(migrationsFor({ cluster: '', database: DATABASE }), MIGRATIONS);
});

test('a cluster: every table becomes a replicated _local table on the cluster plus a Distributed table of the same name', () => {
  validateMigrations(migrationsFor(FLEET));
  const tables = createdTables(one);
  const views = one.filter((s) => s.startsWith('CREATE MATERIALIZED VIEW')).length;
  assert.deepEqual(new Set(tables), new Set(Object.values(TABLE)));
  assert.equal(clustered.length, 1 + 2 * tables.length + views, 'the database, two statements per table, one per view');
  assert.equal(clustered[0], `CREATE DATABASE IF NOT EXISTS ${DATABASE} ON CLUSTER \`fleet\``);
  for (const t of tables) {
    const single = one.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${t} (`))!;
    const local = clustered.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${t}${LOCAL_SUFFIX} ON CLUSTER \`fleet\` (`));
    assert.ok(local, `${t}${LOCAL_SUFFIX}`);
    assert.equal(columnsOf(local), columnsOf(single), `${t}: the same columns`);
    const engine = /ENGINE = (\w+)/.exec(single)![1];
    assert.match(local, new RegExp(`ENGINE = Replicated${engine}\\('/clickhouse/tables/\\{shard\\}/${DATABASE}/${t}_local', '\\{replica\\}'\\)`));
    assert.match(local, new RegExp(`replicated_deduplication_window = ${DEDUP_WINDOW_BLOCKS}\\b`));
    assert.doesNotMatch(local, /non_replicated/);
    // Keys, partitioning and TTL are the one-server ones.
    for (const clause of ['PARTITION BY', 'ORDER BY', 'TTL']) {
      const line = (s: string) => s.split('\n').find((l) => l.trim().startsWith(clause))?.trim();
      assert.equal(line(local), line(single), `${t}: ${clause}`);
    }
    const dist = clustered.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${t} ON CLUSTER`));
    assert.equal(dist, `CREATE TABLE IF NOT EXISTS ${t} ON CLUSTER \`fleet\` AS ${t}_local\n  ENGINE = Distributed('fleet', '${DATABASE}', '${t}_local', ${SHARDING_KEY[t as keyof typeof SHARDING_KEY]})`);
    // The sharding key reads columns the table has.
    const keyColumns = /cityHash64\(([^)]*)\)/.exec(SHARDING_KEY[t as keyof typeof SHARDING_KEY])![1]!.split(',').map((c) => c.trim());
    for (const c of keyColumns) assert.ok(columnNames(columnsOf(single)).includes(c), `${t}: sharding column ${c}`);
  }
});

test('a cluster: materialized views run on the cluster, from and into the _local tables', () => {
  const views = clustered.filter((s) => s.startsWith('CREATE MATERIALIZED VIEW'));
  assert.equal(views.length, 3);
  for (const v of views) {
    assert.match(v, /^CREATE MATERIALIZED VIEW IF NOT EXISTS \w+_mv ON CLUSTER `fleet` TO \w+_local AS/);
    assert.match(v, /\bFROM \w+_local\b/);
  }
  const rm = views.find((v) => v.includes('region_minute_mv'))!;
  assert.match(rm, /TO region_minute_local AS/);
  assert.match(rm, /FROM events_local\n/);
});

test('a cluster: ALTERs go to the _local tables; unknown shapes and bad names are errors naming the key', () => {
  assert.deepEqual(clusterStatement(rawTtlStatement(TABLE.events, 7), FLEET), ['ALTER TABLE events_local ON CLUSTER `fleet` MODIFY TTL toDateTime(time) + INTERVAL 7 DAY']);
  assert.throws(() => clusterStatement('DROP TABLE events', FLEET), /no cluster form for a statement starting 'DROP TABLE events'/);
  assert.throws(() => clusterStatement('CREATE TABLE IF NOT EXISTS other (a UInt8) ENGINE = MergeTree ORDER BY a', FLEET), /'other' is not a table of the contract/);
  assert.throws(() => migrationsFor({ cluster: 'a b', database: DATABASE }), /^UsageError: clickhouse\.cluster: /);
  assert.throws(() => migrationsFor({ cluster: 'x`; DROP', database: DATABASE }), /clickhouse\.cluster/);
  assert.throws(() => migrationsFor({ cluster: 'fleet', database: 'a-b' }), /clickhouse\.database/);
});

test('the rendered script holds every statement once, and the forms have different checksums (a switch is refused)', () => {
  const sql = renderTableDdl(FLEET);
  assert.equal(sql.split(';\n').length - 1, clustered.length);
  assert.notEqual(migrationChecksum(clustered), migrationChecksum(one));
  assert.equal(renderTableDdl().split(';\n').length - 1, one.length);
});

test('a cluster: the migrations record is one replicated table for every server; one server keeps its plain table', () => {
  assert.deepEqual(migrationsTableStatements(DATABASE).length, 1);
  assert.match(migrationsTableStatements(DATABASE)[0]!, new RegExp(`^CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} \\(`));
  assert.match(migrationsTableStatements(DATABASE)[0]!, /ENGINE = ReplacingMergeTree\(applied_at\) ORDER BY version$/);
  const [db, table] = migrationsTableStatements(DATABASE, { cluster: 'fleet' });
  assert.equal(db, `CREATE DATABASE IF NOT EXISTS ${DATABASE} ON CLUSTER \`fleet\``);
  // No {shard} in the Keeper path: every shard's replicas share one history.
  assert.match(table!, new RegExp(`^CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} ON CLUSTER \`fleet\` \\(`));
  assert.match(table!, new RegExp(`ENGINE = ReplicatedReplacingMergeTree\\('/clickhouse/pageloop/${DATABASE}/${MIGRATIONS_TABLE}', '\\{shard\\}-\\{replica\\}', applied_at\\) ORDER BY version$`));
  assert.throws(() => migrationsTableStatements(DATABASE, { cluster: 'a b' }), /^UsageError: clickhouse\.cluster: /);
});

test('the sink: a cluster inserts into the Distributed tables in the foreground; a bad cluster name is refused naming the key', () => {
  assert.deepEqual(insertSettingsFor(''), {});
  assert.deepEqual(insertSettingsFor('fleet'), { insert_distributed_sync: 1 });
  assert.equal(validateSinkConfig({ ...DEFAULT_SINK_CONFIG, cluster: 'fleet' }).cluster, 'fleet');
  assert.throws(() => validateSinkConfig({ ...DEFAULT_SINK_CONFIG, cluster: 'two words' }), /^UsageError: clickhouse\.cluster: .*"two words"/);
});

describe('the cluster DDL against the real parser (embedded engine)', () => {
  let dir: string;
  let ch: PageloopClickHouse;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-cluster-ddl-'));
    ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
  });
  after(async () => {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

  // The embedded engine has no Keeper and no remote_servers, so the statements cannot run here;
  // formatQuery runs ClickHouse's own parser over each, which a malformed one fails.
  test('the one-server form runs: migrations, the rendered script again (idempotent), and an insert with the cluster insert settings', async () => {
    const report = await applyTableMigrations(ch, '');
    assert.deepEqual(report.applied.map((m) => m.version), MIGRATIONS.map((m) => m.version));
    assert.deepEqual((await readAppliedMigrations(ch)).map((a) => a.checksum), MIGRATIONS.map((m) => migrationChecksum(m.statements)));
    // `pageloop deploy clickhouse-sql` output, statement by statement, over the migrated database: every statement is IF NOT EXISTS.
    const script = renderTableDdl().split(';\n').map((s) => s.replace(/^(--[^\n]*\n|\s)+/g, '').trim()).filter((s) => s !== '');
    assert.equal(script.length, one.length);
    for (const s of script) await ch.command(s);
    const tables = await ch.queryRows<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()');
    const views = one.map((st) => /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)/.exec(st)?.[1]).filter((v): v is string => v !== undefined);
    assert.deepEqual(new Set(tables.map((t) => t.name)), new Set([...Object.values(TABLE), ...views, MIGRATIONS_TABLE]));
    // The setting a cluster adds is one the engine knows (an unknown setting fails the insert); on a MergeTree table it changes nothing.
    // Timestamped now: rows past the raw tables' TTL are dropped on insert.
    const { value, totals } = eventRecord('node-a', 0, { faults: 50, mixed: false });
    const { tables: blocks } = await buildBlocks([{ topic: TOPIC.events, partition: 0, offset: 0, timestampMs: Date.now(), key: Buffer.from('node-a'), value }]);
    for (let i = 0; i < 2; i++) await insertBlock(ch, TOPIC.events, 0, { first: 0, last: 0 }, blocks, insertSettingsFor('fleet'));
    const [{ n }] = (await ch.queryRows<{ n: string }>(`SELECT count() AS n FROM ${TABLE.events}`)) as [{ n: string }];
    assert.equal(Number(n), totals.events, 'the replayed block is dropped by its token');
  });

  test('every cluster statement parses; a malformed one does not', async () => {
    for (const s of clustered) {
      const rows = await ch.queryRows<{ f: string }>(`SELECT formatQuery(${literal(s)}) AS f`);
      assert.ok(rows[0]!.f.length > 0, s.slice(0, 60));
    }
    await assert.rejects(ch.queryRows(`SELECT formatQuery(${literal(clustered[1]!.replace(') ENGINE', ' ENGINE'))}) AS f`));
  });
});
