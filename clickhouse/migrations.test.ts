import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClickHouseClient, type PageloopClickHouse } from './client.js';
import { PageloopError, UsageError } from '../lib/errors.js';
import {
  MIGRATIONS_TABLE,
  applyMigrations,
  migrationChecksum,
  planMigrations,
  readAppliedMigrations,
  validateMigrations,
} from './migrations.js';
import type { Migration } from '../schemas/clickhouse-tables.js';

const v1: Migration = {
  version: 1,
  name: 'events table',
  statements: [
    `CREATE TABLE IF NOT EXISTS events (ts DateTime64(3, 'UTC'), host String, addr UInt64)
     ENGINE = MergeTree ORDER BY (host, ts)`,
  ],
};
const v2: Migration = {
  version: 2,
  name: 'scores table and a column',
  statements: [
    'CREATE TABLE IF NOT EXISTS scores (region String, benefit Float64) ENGINE = MergeTree ORDER BY region',
    "ALTER TABLE events ADD COLUMN IF NOT EXISTS kind LowCardinality(String) DEFAULT 'minor'",
  ],
};
const v3: Migration = {
  version: 3,
  name: 'hints table',
  statements: ['CREATE TABLE IF NOT EXISTS hints (region String, size UInt32) ENGINE = MergeTree ORDER BY region'],
};

describe('migration plans', () => {
  const applied = (m: Migration): { version: number; name: string; checksum: string } => ({
    version: m.version,
    name: m.name,
    checksum: migrationChecksum(m.statements),
  });

  test('checksums cover the statements, not the whitespace at their edges', () => {
    assert.equal(migrationChecksum(['SELECT 1']), migrationChecksum(['\n  SELECT 1  \n']));
    assert.notEqual(migrationChecksum(['SELECT 1']), migrationChecksum(['SELECT 2']));
    // Statement boundaries count: two statements are not their concatenation.
    assert.notEqual(migrationChecksum(['SELECT 1', 'SELECT 2']), migrationChecksum(['SELECT 1SELECT 2']));
    assert.match(migrationChecksum(['x']), /^[0-9a-f]{64}$/);
  });

  test('the list runs 1..n with no gaps, each with a name and statements', () => {
    validateMigrations([v1, v2, v3]);
    assert.throws(() => validateMigrations([v1, v3]), (e: unknown) => e instanceof UsageError && /version 3 where 2 was expected/.test(e.message));
    assert.throws(() => validateMigrations([v2, v1]), /version 2 where 1 was expected/);
    assert.throws(() => validateMigrations([{ version: 1, name: '', statements: [] }]), /empty name.*no statements/);
  });

  test('only what is missing, in order', () => {
    assert.deepEqual(planMigrations([v1, v2, v3], []).map((m) => m.version), [1, 2, 3]);
    assert.deepEqual(planMigrations([v1, v2, v3], [applied(v1)]).map((m) => m.version), [2, 3]);
    assert.deepEqual(planMigrations([v1, v2], [applied(v1), applied(v2)]), []);
  });

  test('refuses a changed applied migration, an unknown one, and a gap in the history', () => {
    const changed = { ...applied(v2), checksum: migrationChecksum(['something else']) };
    assert.throws(
      () => planMigrations([v1, v2], [applied(v1), changed]),
      (e: unknown) => e instanceof PageloopError && /schema migration 2 \(scores table and a column\) was changed after it was applied/.test(e.message),
    );
    assert.throws(() => planMigrations([v1], [applied(v1), applied(v2)]), /schema migration 2 .* unknown to this pageloop/);
    assert.throws(() => planMigrations([v1, v2, v3], [applied(v1), applied(v3)]), /schema migration 2 .* missing from the database although 3 is applied/);
  });
});

describe('migrations against the embedded engine', () => {
  let dir: string;
  let ch: PageloopClickHouse;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-mig-'));
    ch = await createClickHouseClient({ database: 'pl_mig', dataDir: dir }, {});
  });

  after(async () => {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('applying twice applies once', async () => {
    const first = await applyMigrations(ch, [v1, v2]);
    assert.deepEqual(first, {
      applied: [
        { version: 1, name: 'events table' },
        { version: 2, name: 'scores table and a column' },
      ],
      version: 2,
    });
    const second = await applyMigrations(ch, [v1, v2]);
    assert.deepEqual(second, { applied: [], version: 2 });
    const recorded = await ch.queryRows<{ version: number; name: string; n: string }>(
      `SELECT version, name, count() OVER (PARTITION BY version) AS n FROM ${MIGRATIONS_TABLE} ORDER BY version`,
    );
    assert.deepEqual(recorded, [
      { version: 1, name: 'events table', n: '1' },
      { version: 2, name: 'scores table and a column', n: '1' },
    ]);
    const columns = await ch.queryRows<{ name: string }>("SELECT name FROM system.columns WHERE database = 'pl_mig' AND table = 'events' ORDER BY position");
    assert.deepEqual(columns.map((c) => c.name), ['ts', 'host', 'addr', 'kind']);
  });

  test('a new migration applies only the new one', async () => {
    const report = await applyMigrations(ch, [v1, v2, v3]);
    assert.deepEqual(report, { applied: [{ version: 3, name: 'hints table' }], version: 3 });
    const tables = await ch.queryRows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'pl_mig' ORDER BY name");
    assert.deepEqual(tables.map((t) => t.name), ['events', 'hints', MIGRATIONS_TABLE, 'scores'].sort());
    const applied = await readAppliedMigrations(ch);
    assert.deepEqual(applied.map((a) => a.version), [1, 2, 3]);
    assert.equal(applied[2]?.checksum, migrationChecksum(v3.statements));
  });

  test('a changed applied migration is refused, naming its version', async () => {
    const edited: Migration = { ...v2, statements: [...v2.statements, 'ALTER TABLE events ADD COLUMN IF NOT EXISTS pid UInt32'] };
    await assert.rejects(applyMigrations(ch, [v1, edited, v3]), (e: unknown) => {
      assert.ok(e instanceof PageloopError);
      assert.equal(e.code, 'clickhouse-migration');
      assert.equal(e.retriable, false);
      assert.match(e.message, /schema migration 2 \(scores table and a column\) was changed after it was applied/);
      return true;
    });
    // Nothing was touched.
    const columns = await ch.queryRows<{ name: string }>("SELECT name FROM system.columns WHERE database = 'pl_mig' AND table = 'events' AND name = 'pid'");
    assert.deepEqual(columns, []);
  });

  test('a failing statement names its migration and statement; a fixed rerun completes it', async () => {
    const broken: Migration = {
      version: 4,
      name: 'phases table',
      statements: [
        'CREATE TABLE IF NOT EXISTS phases (pid UInt32, phase UInt16) ENGINE = MergeTree ORDER BY pid',
        'ALTER TABLE no_such_table ADD COLUMN x UInt8',
      ],
    };
    await assert.rejects(applyMigrations(ch, [v1, v2, v3, broken]), (e: unknown) => {
      assert.ok(e instanceof PageloopError);
      assert.match(e.message, /schema migration 4 \(phases table\) failed at statement 2 of 2: .*no_such_table/);
      return true;
    });
    assert.deepEqual((await readAppliedMigrations(ch)).map((a) => a.version), [1, 2, 3]);
    const fixed: Migration = { ...broken, statements: [broken.statements[0]!, 'ALTER TABLE phases ADD COLUMN IF NOT EXISTS x UInt8'] };
    assert.deepEqual(await applyMigrations(ch, [v1, v2, v3, fixed]), { applied: [{ version: 4, name: 'phases table' }], version: 4 });
  });
});
