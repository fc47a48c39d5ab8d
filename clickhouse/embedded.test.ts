import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClickHouseClient } from './client.js';
import { openEmbeddedEngine, type EmbeddedClickHouseEngine } from './embedded.js';
import { PageloopError } from '../lib/errors.js';

describe('embedded engine handles', () => {
  let dir: string;
  let engine: EmbeddedClickHouseEngine;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-test-'));
    engine = await openEmbeddedEngine({ dataDir: join(dir, 'data') });
    await engine.execute({ sql: 'CREATE DATABASE pl_test' });
    await engine.execute({ sql: 'CREATE TABLE events (pid UInt32) ENGINE = MergeTree ORDER BY pid', database: 'pl_test' });
    // The body is spooled and read back with FROM INFILE.
    await engine.execute({ sql: 'INSERT INTO events FORMAT JSONEachRow', data: '{"pid":42}\n{"pid":7}\n', database: 'pl_test' });
  });

  after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one engine per process: another data directory is refused while one is open', async () => {
    await assert.rejects(openEmbeddedEngine({ dataDir: join(dir, 'elsewhere') }), (e: unknown) => {
      assert.ok(e instanceof PageloopError);
      assert.equal(e.code, 'clickhouse-engine-busy');
      assert.match(e.message, /one data directory per process/);
      return true;
    });
    // Same directory: a second handle on the same engine.
    const again = await openEmbeddedEngine({ dataDir: join(dir, 'data') });
    const r = await again.execute({ sql: 'SELECT count() FROM events', database: 'pl_test' });
    assert.equal(r.body.toString(), '2\n');
    await again.close();
  });
});

describe('embedded engine restart', () => {
  test('data persists when the engine stops and starts again on its directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-test-'));
    try {
      const first = await createClickHouseClient({ database: 'keep', dataDir: dir }, {});
      await first.command('CREATE TABLE kept (k UInt32) ENGINE = MergeTree ORDER BY k');
      await first.insert('kept', [{ k: 1 }, { k: 2 }]);
      await first.close();
      const second = await createClickHouseClient({ database: 'keep', dataDir: dir }, {});
      try {
        assert.deepEqual(await second.queryRows('SELECT k FROM kept ORDER BY k'), [{ k: 1 }, { k: 2 }]);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
