/** Merging a command's ClickHouse settings: flags over the file, the environment's user and password over the file's, TLS files read with errors naming the key. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UsageError } from '../lib/errors.js';
import { clientTlsOption } from './client.js';
import { clickHouseSettingsFor, readPemFile } from './settings.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('clickHouseSettingsFor', () => {
  let dir: string;
  let ca: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-settings-'));
    ca = join(dir, 'ca.pem');
    writeFileSync(ca, PEM);
    writeFileSync(join(dir, 'not.pem'), 'hello');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the embedded engine when no url anywhere; credentials of the file are not used for it', () => {
    assert.deepEqual(clickHouseSettingsFor({ username: 'u', password: 'p' }, { dataDir: '/d' }, { database: 'pageloop', createDatabase: true }, {}), { database: 'pageloop', dataDir: '/d' });
  });

  test("a server: the flag's url over the file's, the file's user, password and TLS", () => {
    const s = clickHouseSettingsFor(
      { url: 'https://a:8443', database: 'fleet', username: 'sink', password: 'secret', tls: { ca } },
      { url: 'https://b:8443' },
      { database: 'pageloop', createDatabase: true },
      {},
    );
    assert.equal(s.url, 'https://b:8443');
    assert.equal(s.database, 'fleet');
    assert.equal(s.username, 'sink');
    assert.equal(s.password, 'secret');
    assert.equal(s.createDatabase, true);
    assert.equal(s.tls?.ca.toString(), PEM);
    assert.deepEqual(clientTlsOption(s.tls!), { ca_cert: Buffer.from(PEM) });
  });

  test("PAGELOOP_CLICKHOUSE_USER/PASSWORD win over the file's (client.ts reads them)", () => {
    const s = clickHouseSettingsFor({ url: 'http://a:8123', username: 'file', password: 'file' }, {}, { database: 'pageloop' }, { PAGELOOP_CLICKHOUSE_USER: 'env', PAGELOOP_CLICKHOUSE_PASSWORD: 'env' });
    assert.equal(s.username, undefined);
    assert.equal(s.password, undefined);
  });

  test('PAGELOOP_CLICKHOUSE_URL alone makes it a server, so the file credentials apply', () => {
    const s = clickHouseSettingsFor({ username: 'sink' }, {}, { database: 'pageloop' }, { PAGELOOP_CLICKHOUSE_URL: 'http://x:8123' });
    assert.equal(s.username, 'sink');
  });

  test('bad TLS input is refused naming the key', () => {
    const refused = (f: () => unknown, re: RegExp) =>
      assert.throws(f, (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.retriable);
    refused(() => clickHouseSettingsFor({ tls: { ca } }, {}, { database: 'pageloop' }, {}), /^clickhouse\.tls: set for the embedded engine/);
    refused(() => clickHouseSettingsFor({ url: 'https://a', tls: { ca: join(dir, 'missing.pem') } }, {}, { database: 'pageloop' }, {}), /^clickhouse\.tls\.ca: cannot read .*missing\.pem/);
    refused(() => clickHouseSettingsFor({ url: 'https://a', tls: { ca, cert: ca } }, {}, { database: 'pageloop' }, {}), /^clickhouse\.tls\.key: required with clickhouse\.tls\.cert/);
    refused(() => readPemFile('clickhouse.tls.cert', join(dir, 'not.pem')), /^clickhouse\.tls\.cert: .*not\.pem is not a PEM file/);
  });
});
