import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ClickHouseError } from '@clickhouse/client';
import { createClickHouseClient, defaultClickHouseDataDir, resolveClickHouseTarget, type PageloopClickHouse } from './client.js';
import { ClickHouseQueryError } from './errors.js';
import { UsageError } from '../lib/errors.js';

describe('target', () => {
  test('where ClickHouse is: env URL, then settings URL, then the embedded engine', () => {
    assert.deepEqual(resolveClickHouseTarget({ url: 'http://a:8123' }, { PAGELOOP_CLICKHOUSE_URL: 'https://b:8443' }), {
      kind: 'server',
      url: 'https://b:8443',
      source: 'env',
    });
    assert.deepEqual(resolveClickHouseTarget({ url: 'http://a:8123' }, {}), { kind: 'server', url: 'http://a:8123', source: 'settings' });
    assert.deepEqual(resolveClickHouseTarget({ dataDir: '/d' }, { PAGELOOP_CLICKHOUSE_DIR: '/e' }), { kind: 'embedded', dataDir: '/d' });
    assert.deepEqual(resolveClickHouseTarget({}, { PAGELOOP_CLICKHOUSE_DIR: '/e' }), { kind: 'embedded', dataDir: '/e' });
    assert.throws(() => resolveClickHouseTarget({ url: 'tcp://a:9000' }, {}), UsageError);
    assert.equal(defaultClickHouseDataDir({ XDG_STATE_HOME: '/s' }), '/s/pageloop/clickhouse');
    assert.match(defaultClickHouseDataDir({}), /\/\.local\/state\/pageloop\/clickhouse$/);
  });
});

describe('embedded engine through @clickhouse/client', () => {
  let dir: string;
  let ch: PageloopClickHouse;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-test-'));
    ch = await createClickHouseClient({ database: 'pl_test', dataDir: join(dir, 'data') }, {});
  });

  after(async () => {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('create a table, insert JSONEachRow, read back the exact rows', async () => {
    assert.equal(ch.mode, 'embedded');
    await ch.command(`CREATE TABLE events (
        ts DateTime64(3, 'UTC'), host LowCardinality(String), pid UInt32, addr UInt64,
        kind Enum8('minor' = 1, 'major' = 2), gain Float64, tags Array(String), hint Nullable(String)
      ) ENGINE = MergeTree ORDER BY (host, ts)`);
    const rows = [
      { ts: '2024-05-01 10:00:00.001', host: 'h1', pid: 42, addr: '18446744073709551615', kind: 'major', gain: 0.25, tags: ['a', "b'c"], hint: null },
      { ts: '2024-05-01 10:00:00.002', host: 'h2', pid: 7, addr: '140737488355328', kind: 'minor', gain: -1.5, tags: [], hint: '2M' },
    ];
    await ch.insert('events', rows);
    // 64-bit integers come back as strings (exact), as the client pins.
    assert.deepEqual(await ch.queryRows('SELECT * FROM events ORDER BY ts'), rows);
    assert.deepEqual(await ch.queryRows<{ c: string }>('SELECT count() AS c FROM events'), [{ c: '2' }]);
  });

  test('query_params bind like the HTTP interface binds them', async () => {
    const [row] = await ch.queryRows<Record<string, unknown>>(
      'SELECT {s:String} AS s, {a:Array(String)} AS a, {d:DateTime} AS d, {n:UInt64} AS n, {m:Map(String, UInt8)} AS m',
      { params: { s: "quote ' tab \t backslash \\", a: ["x'y", 'z'], d: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), n: 18446744073709551615n, m: { k: 1 } } },
    );
    assert.deepEqual(row, { s: "quote ' tab \t backslash \\", a: ["x'y", 'z'], d: '2024-01-02 03:04:05', n: '18446744073709551615', m: { k: 1 } });
    const filtered = await ch.queryRows<{ host: string }>('SELECT host FROM events WHERE pid = {pid:UInt32}', { params: { pid: 7 } });
    assert.deepEqual(filtered, [{ host: 'h2' }]);
  });

  test('settings, database and parameters belong to one call only', async () => {
    const [a] = await ch.queryRows<{ t: string }>("SELECT toString(getSetting('max_block_size')) AS t", { settings: { max_block_size: '1234' } });
    const [b] = await ch.queryRows<{ t: string }>("SELECT toString(getSetting('max_block_size')) AS t");
    assert.equal(a?.t, '1234');
    assert.notEqual(b?.t, '1234');
    // A second database on the same engine: unqualified names resolve per client.
    const other = await createClickHouseClient({ database: 'pl_other', dataDir: join(dir, 'data') }, {});
    try {
      await other.command('CREATE TABLE events (x UInt8) ENGINE = Memory');
      await other.insert('events', [{ x: 1 }]);
      assert.deepEqual(await other.queryRows('SELECT currentDatabase() AS db, count() AS c FROM events'), [{ db: 'pl_other', c: '1' }]);
      assert.deepEqual(await ch.queryRows('SELECT currentDatabase() AS db, count() AS c FROM events'), [{ db: 'pl_test', c: '2' }]);
    } finally {
      await other.close();
    }
  });

  test('the same block with the same insert_deduplication_token lands once; another token lands again', async () => {
    await ch.command(`CREATE TABLE dedup (topic String, partition UInt32, offset UInt64, v String)
      ENGINE = MergeTree ORDER BY (topic, partition, offset) SETTINGS non_replicated_deduplication_window = 1000`);
    const block = [
      { topic: 'pageloop.events.v1', partition: 0, offset: '100', v: 'a' },
      { topic: 'pageloop.events.v1', partition: 0, offset: '101', v: 'b' },
    ];
    const count = async (table: string): Promise<string> => (await ch.queryRows<{ c: string }>(`SELECT count() AS c FROM ${table}`))[0]!.c;
    await ch.insert('dedup', block, { deduplicationToken: 'pageloop.events.v1/0/100-101' });
    await ch.insert('dedup', block, { deduplicationToken: 'pageloop.events.v1/0/100-101' });
    assert.equal(await count('dedup'), '2', 'replay with the same token: one copy');
    await ch.insert('dedup', block, { deduplicationToken: 'pageloop.events.v1/0/100-101#2' });
    assert.equal(await count('dedup'), '4', 'a different token: a second copy');
    // The token is scoped to its call: a later insert without one is not dropped.
    await ch.insert('dedup', [{ topic: 't', partition: 1, offset: '1', v: 'c' }]);
    assert.equal(await count('dedup'), '5');

    // ReplacingMergeTree too (before any merge, so the count shows insert-time deduplication).
    await ch.command(`CREATE TABLE dedup_r (k UInt64, v String) ENGINE = ReplacingMergeTree ORDER BY k
      SETTINGS non_replicated_deduplication_window = 1000`);
    await ch.insert('dedup_r', [{ k: '1', v: 'x' }], { deduplicationToken: 'tok' });
    await ch.insert('dedup_r', [{ k: '1', v: 'x' }], { deduplicationToken: 'tok' });
    assert.equal(await count('dedup_r'), '1');
    await ch.insert('dedup_r', [{ k: '1', v: 'x' }], { deduplicationToken: 'tok2' });
    assert.equal(await count('dedup_r'), '2');

    // Without the window a MergeTree keeps no insert history: the token does nothing.
    await ch.command('CREATE TABLE no_window (k UInt64) ENGINE = MergeTree ORDER BY k');
    await ch.insert('no_window', [{ k: '1' }], { deduplicationToken: 'tok' });
    await ch.insert('no_window', [{ k: '1' }], { deduplicationToken: 'tok' });
    assert.equal(await count('no_window'), '2');
  });

  test('the raw client: streamed insert, JSON query, response headers, parallel calls', async () => {
    await ch.command('CREATE TABLE stream_in (n UInt32, s String) ENGINE = MergeTree ORDER BY n');
    const source = Readable.from(Array.from({ length: 1000 }, (_, i) => ({ n: i, s: `row ${i}` })));
    await ch.client.insert({ table: 'stream_in', values: source, format: 'JSONEachRow' });
    const rs = await ch.client.query({ query: 'SELECT sum(n) AS total, count() AS c FROM stream_in', format: 'JSON' });
    assert.equal(rs.response_headers['x-clickhouse-format'], 'JSON');
    const json = await rs.json<{ total: string; c: string }>();
    assert.deepEqual(json.data, [{ total: '499500', c: '1000' }]);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => ch.queryRows<{ n: number }>('SELECT n FROM stream_in WHERE n = {i:UInt32}', { params: { i } })),
    );
    assert.deepEqual(results.map((r) => r[0]?.n), [0, 1, 2, 3, 4, 5]);
  });

  test('errors carry ClickHouse code, name and the operation, and say whether to retry', async () => {
    await assert.rejects(ch.queryRows('SELECT * FROM no_such_table'), (e: unknown) => {
      assert.ok(e instanceof ClickHouseQueryError);
      assert.equal(e.clickhouseCode, 60);
      assert.equal(e.clickhouseName, 'UNKNOWN_TABLE');
      assert.equal(e.retriable, false);
      assert.match(e.message, /clickhouse query 'SELECT \* FROM no_such_table'.*no_such_table/);
      return true;
    });
    await assert.rejects(ch.command('CREATE TABLE'), (e: unknown) => e instanceof ClickHouseQueryError && e.clickhouseName === 'SYNTAX_ERROR');
    await assert.rejects(ch.insert('events', [{ pid: 'not a number' }]), (e: unknown) => {
      assert.ok(e instanceof ClickHouseQueryError);
      assert.match(e.message, /clickhouse insert into events \(1 rows\)/);
      return true;
    });
    await assert.rejects(ch.queryRows('SELECT 1', { settings: { no_such_setting: 1 } as Record<string, number> }), /UNKNOWN_SETTING|Unknown setting/);
    // Through the raw client: clickhouse-js's own ClickHouseError, as over HTTP.
    await assert.rejects(ch.client.query({ query: 'SELECT * FROM no_such_table' }), (e: unknown) => {
      assert.ok(e instanceof ClickHouseError);
      assert.equal(e.code, '60');
      assert.equal(e.type, 'UNKNOWN_TABLE');
      return true;
    });
  });
});
