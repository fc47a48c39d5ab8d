import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { applyMigrations, validateMigrations } from '../clickhouse/migrations.js';
import { DATABASE, DEFAULT_RAW_TTL_DAYS, MIGRATIONS, TABLE, rawTtlStatement } from './clickhouse-tables.js';
import { applyRawTtl } from '../sink/sink.js';

describe('sink schema on the embedded engine', () => {
  let dir: string;
  let ch: PageloopClickHouse;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-sink-schema-'));
    ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
  });
  after(async () => {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the migrations are a valid list and apply, then apply again as a no-op', async () => {
    validateMigrations(MIGRATIONS);
    const first = await applyMigrations(ch, MIGRATIONS);
    assert.equal(first.version, MIGRATIONS.length);
    const again = await applyMigrations(ch, MIGRATIONS);
    assert.deepEqual(again.applied, []);
    const rows = await ch.queryRows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DATABASE}'`);
    const names = new Set(rows.map((r) => r.name));
    for (const t of Object.values(TABLE)) assert.ok(names.has(t), `table ${t} exists`);
  });

  test('the raw TTL can be moved off its default', async () => {
    await ch.command(rawTtlStatement(TABLE.events, 7));
    const rows = await ch.queryRows<{ q: string }>(`SELECT create_table_query AS q FROM system.tables WHERE database = '${DATABASE}' AND name = 'events'`);
    assert.match(rows[0]!.q, /toIntervalDay\(7\)/);
  });

  test('the sink moves the raw TTL to its config, and leaves it when it is there', async () => {
    await applyRawTtl(ch, 12);
    await applyRawTtl(ch, 12);
    const ttl = async (t: string): Promise<string> =>
      (await ch.queryRows<{ q: string }>(`SELECT create_table_query AS q FROM system.tables WHERE database = '${DATABASE}' AND name = '${t}'`))[0]!.q;
    assert.match(await ttl('events'), /toIntervalDay\(12\)/);
    assert.match(await ttl('damon_regions'), /toIntervalDay\(12\)/);
    await applyRawTtl(ch, DEFAULT_RAW_TTL_DAYS);
    assert.match(await ttl('events'), new RegExp(`toIntervalDay\\(${DEFAULT_RAW_TTL_DAYS}\\)`));
  });

  test('region names are materialized from the mapping columns', async () => {
    await ch.command(
      `INSERT INTO scores (time, host, mapping_kind, mapping_path, mapping_ordinal, region_offset, size_kb, benefit, cost, net) VALUES
       (now64(3), 'h', 'anon', '', 3, 2097152, [4, 2048], [1, 2], [0.5, 1], [0.5, 1]),
       (now64(3), 'h', 'file', '/lib/x.so', 0, 0, [], [], [], [])`,
    );
    const rows = await ch.queryRows<{ region: string }>('SELECT region FROM scores ORDER BY region');
    assert.deepEqual(rows.map((r) => r.region), ['anon:3+0x200000', 'file:/lib/x.so+0x0']);
    const sizes = await ch.queryRows<{ n: string; region: string }>('SELECT count() AS n, any(region) AS region FROM score_sizes');
    assert.equal(sizes[0]!.n, '2');
    assert.equal(sizes[0]!.region, 'anon:3+0x200000');
  });
});
