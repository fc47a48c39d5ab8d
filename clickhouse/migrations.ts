/**
 * Versioned schema migrations for pageloop's ClickHouse database.
 *
 * Migrations are numbered 1, 2, 3, ... with no gaps. The versions applied
 * are recorded in `pageloop_schema_migrations` (version, name, checksum,
 * applied_at) in the client's database, each with a sha256 of its
 * statements; a run applies the missing ones in order and refuses to touch a
 * database whose history does not match the code: an applied migration
 * whose statements changed, a version the code does not have, or a missing
 * version below an applied one.
 *
 * ClickHouse has no transactional DDL: a migration that fails part way
 * leaves its earlier statements applied and its version unrecorded, and the
 * next run starts it again from the first statement. Write statements so a
 * rerun is harmless (CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT EXISTS,
 * DROP ... IF EXISTS). There is no lock: run migrations from one process.
 *
 * On a cluster (config `clickhouse.cluster`) the statements are the
 * contract's cluster form (schemas/clickhouse-cluster.ts) and the record
 * table is itself replicated to every server of the cluster (one Keeper
 * path for all shards), so whichever server the sink reaches next sees
 * the same history.
 */
import { createHash } from 'node:crypto';
import { PageloopError, UsageError } from '../lib/errors.js';
import type { PageloopClickHouse } from './client.js';
import type { Migration } from '../schemas/clickhouse-tables.js';
import { DEFAULT_TABLE_LAYOUT, migrationsFor, validateTableLayout } from '../schemas/clickhouse-cluster.js';

export const MIGRATIONS_TABLE = 'pageloop_schema_migrations';

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
}

export interface MigrationReport {
  /** Applied by this run, in order. */
  readonly applied: readonly { readonly version: number; readonly name: string }[];
  /** The database's version afterwards (0 = none). */
  readonly version: number;
}

/** What applyMigrations needs from a client. */
export type MigrationClient = Pick<PageloopClickHouse, 'command' | 'insert' | 'queryRows'>;

/** sha256 (hex) of the statements, each trimmed, so indentation from a template literal's edges does not count. */
export function migrationChecksum(statements: readonly string[]): string {
  const h = createHash('sha256');
  for (const s of statements) {
    h.update(s.trim());
    h.update('\u0000');
  }
  return h.digest('hex');
}

/** Checks the list itself: versions 1..n in order, names and statements present. */
export function validateMigrations(migrations: readonly Migration[]): void {
  const problems: string[] = [];
  migrations.forEach((m, i) => {
    const where = `migration #${i + 1}`;
    if (!Number.isInteger(m.version) || m.version < 1) problems.push(`${where}: version ${String(m.version)} is not a positive integer`);
    else if (m.version !== i + 1) {
      problems.push(`${where}: version ${m.version} where ${i + 1} was expected (versions run 1, 2, 3, ... in order, with no gaps)`);
    }
    if (typeof m.name !== 'string' || m.name.trim() === '') problems.push(`${where} (version ${m.version}): empty name`);
    if (!Array.isArray(m.statements) || m.statements.length === 0) problems.push(`${where} (version ${m.version}): no statements`);
    else if (m.statements.some((s) => typeof s !== 'string' || s.trim() === '')) problems.push(`${where} (version ${m.version}): an empty statement`);
  });
  if (problems.length > 0) throw new UsageError(`schema migrations: ${problems.join('; ')}`);
}

/**
 * The migrations still to apply, given what the database has recorded, or
 * an error that names the version at fault. Pure: the tests drive it directly.
 */
export function planMigrations(migrations: readonly Migration[], applied: readonly AppliedMigration[]): Migration[] {
  validateMigrations(migrations);
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  const appliedVersions = new Set(applied.map((a) => a.version));
  for (const a of [...applied].sort((x, y) => x.version - y.version)) {
    const m = byVersion.get(a.version);
    if (!m) {
      throw new PageloopError(
        'clickhouse-migration',
        `schema migration ${a.version} (${a.name}) is applied to the database but unknown to this pageloop (it knows 1..${migrations.length}): is this an older pageloop than the one that migrated it?`,
      );
    }
    const checksum = migrationChecksum(m.statements);
    if (checksum !== a.checksum) {
      throw new PageloopError(
        'clickhouse-migration',
        `schema migration ${a.version} (${m.name}) was changed after it was applied (checksum ${a.checksum.slice(0, 12)} in the database, ${checksum.slice(0, 12)} in the code): add a new migration instead of editing an applied one`,
      );
    }
  }
  const top = applied.reduce((max, a) => Math.max(max, a.version), 0);
  for (let v = 1; v < top; v++) {
    if (!appliedVersions.has(v)) {
      throw new PageloopError(
        'clickhouse-migration',
        `schema migration ${v} (${byVersion.get(v)?.name ?? '?'}) is missing from the database although ${top} is applied: the history has a gap; repair it by hand`,
      );
    }
  }
  return migrations.filter((m) => !appliedVersions.has(m.version));
}

/** Where the history is kept: the server the client talks to, or (a cluster's name) every server of that cluster. */
export interface MigrationOptions {
  /** '' (default): one server. */
  readonly cluster?: string;
}

/** The statements creating the record table (and, on a cluster, its database everywhere first). */
export function migrationsTableStatements(database: string, options: MigrationOptions = {}): string[] {
  const columns = `(
       version UInt32,
       name String,
       checksum String,
       applied_at DateTime64(3, 'UTC')
     )`;
  // ReplacingMergeTree: a version recorded twice (a retried insert) reads once with FINAL.
  if (!options.cluster) return [`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} ${columns} ENGINE = ReplacingMergeTree(applied_at) ORDER BY version`];
  validateTableLayout({ cluster: options.cluster, database });
  const on = `ON CLUSTER \`${options.cluster}\``;
  // No {shard} in the path: one history replicated to all servers; the replica name is unique across shards.
  return [
    `CREATE DATABASE IF NOT EXISTS ${database} ${on}`,
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} ${on} ${columns} ENGINE = ReplicatedReplacingMergeTree('/clickhouse/pageloop/${database}/${MIGRATIONS_TABLE}', '{shard}-{replica}', applied_at) ORDER BY version`,
  ];
}

/** What the database has recorded (creating the record table on first use). */
export async function readAppliedMigrations(client: MigrationClient & { readonly database?: string }, options: MigrationOptions = {}): Promise<AppliedMigration[]> {
  for (const s of migrationsTableStatements(client.database ?? DEFAULT_TABLE_LAYOUT.database, options)) await client.command(s);
  const rows = await client.queryRows<{ version: number | string; name: string; checksum: string }>(
    `SELECT version, name, checksum FROM ${MIGRATIONS_TABLE} FINAL ORDER BY version`,
  );
  return rows.map((r) => ({ version: Number(r.version), name: r.name, checksum: r.checksum }));
}

/** The table contract's migrations for a layout (one server or a cluster), applied with their history kept to match. */
export async function applyTableMigrations(client: MigrationClient & { readonly database: string }, cluster = ''): Promise<MigrationReport> {
  return applyMigrations(client, migrationsFor({ cluster, database: client.database }), { cluster });
}

/** Applies the missing migrations in order and records each; see the module comment. */
export async function applyMigrations(client: MigrationClient & { readonly database?: string }, migrations: readonly Migration[], options: MigrationOptions = {}): Promise<MigrationReport> {
  const applied = await readAppliedMigrations(client, options);
  const todo = planMigrations(migrations, applied);
  const done: { version: number; name: string }[] = [];
  for (const m of todo) {
    for (const [i, statement] of m.statements.entries()) {
      try {
        await client.command(statement);
      } catch (err) {
        const retriable = err instanceof PageloopError && err.retriable;
        throw new PageloopError(
          'clickhouse-migration',
          `schema migration ${m.version} (${m.name}) failed at statement ${i + 1} of ${m.statements.length}: ${err instanceof Error ? err.message : String(err)}`,
          { retriable, cause: err },
        );
      }
    }
    await client.insert(MIGRATIONS_TABLE, [
      {
        version: m.version,
        name: m.name,
        checksum: migrationChecksum(m.statements),
        applied_at: new Date().toISOString().replace('T', ' ').replace('Z', ''),
      },
    ]);
    done.push({ version: m.version, name: m.name });
  }
  const version = Math.max(0, ...applied.map((a) => a.version), ...done.map((d) => d.version));
  return { applied: done, version };
}
