/**
 * The sink's ClickHouse path against a server by URL, with credentials and
 * TLS checked for real. The server is this repo's ClickHouse HTTP endpoint
 * (deploy/clickhouse/http-endpoint.ts) over the embedded engine, on a free
 * port, serving HTTPS with a throwaway CA (test/tls-certs.ts), asking for a
 * client certificate and a user's password. The client is built the way
 * `pageloop sink` builds it: from a config file's clickhouse section
 * (clickhouse/settings.ts). The Grafana data source written from the same
 * section is checked by connecting with exactly its values.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { clickHouseSettingsFor } from '../clickhouse/settings.js';
import { applyMigrations } from '../clickhouse/migrations.js';
import { startClickHouseHttpEndpoint, type ClickHouseHttpEndpoint } from '../deploy/clickhouse/http-endpoint.js';
import { DEFAULT_GRAFANA_PROVISIONING, datasourceYaml, provisioningForServer } from '../deploy/grafana/provisioning.js';
import { PageloopError } from '../lib/errors.js';
import { DATABASE, MIGRATIONS } from '../schemas/clickhouse-tables.js';
import { TOPIC } from '../schemas/topics.js';
import { loadJsonFile, validateConfig, type ClickHouseConfig } from '../schemas/validate.js';
import { makeTestPki, type TestPki } from '../test/tls-certs.js';
import { eventRecord } from '../test/sink-records.js';
import { buildBlocks } from './build.js';
import { insertBlock } from './insert.js';

const USER = 'pageloop_sink';
const PASSWORD = 'p@ss $word';
const NO_ENV = {};

describe('the sink against a ClickHouse server by URL (https, client certificate, password)', () => {
  let dir: string;
  let pki: TestPki;
  let engineOwner: PageloopClickHouse;
  let endpoint: ClickHouseHttpEndpoint;
  let good: ClickHouseConfig;

  /** The config file's clickhouse section, through the file loader and validator as `pageloop sink --config` reads it. */
  const viaConfigFile = (ch: ClickHouseConfig): ClickHouseConfig => {
    const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify({ clickhouse: ch }));
    return loadJsonFile(path, validateConfig).clickhouse!;
  };
  const clientFor = (ch: ClickHouseConfig): Promise<PageloopClickHouse> =>
    createClickHouseClient(clickHouseSettingsFor(viaConfigFile(ch), {}, { database: DATABASE, createDatabase: true }, NO_ENV), NO_ENV);
  const refusal = async (ch: ClickHouseConfig): Promise<PageloopError> => {
    let client: PageloopClickHouse | undefined;
    try {
      client = await clientFor(ch);
      await client.queryRows('SELECT 1 AS x');
    } catch (err) {
      assert.ok(err instanceof PageloopError, `a PageloopError, got ${String(err)}`);
      return err;
    } finally {
      await client?.close();
    }
    assert.fail('the server accepted it');
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-sink-server-'));
    pki = makeTestPki();
    engineOwner = await createClickHouseClient({ database: DATABASE, dataDir: join(dir, 'engine') }, NO_ENV);
    endpoint = await startClickHouseHttpEndpoint({
      engine: engineOwner.engine!,
      host: '127.0.0.1',
      port: 0,
      readonly: false, // the sink writes through it, as to a server
      username: USER,
      password: PASSWORD,
      tls: { cert: pki.read(pki.serverCertPath), key: pki.read(pki.serverKeyPath), clientCa: pki.read(pki.caPath) },
    });
    good = { url: endpoint.url, database: DATABASE, username: USER, password: PASSWORD, tls: { ca: pki.caPath, cert: pki.clientCertPath, key: pki.clientKeyPath } };
  });
  after(async () => {
    await endpoint?.close();
    await engineOwner?.close();
    pki?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('migrations and the Native blocks with their tokens go in, a replay adds nothing', async () => {
    assert.match(endpoint.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ch = await clientFor(good);
    try {
      assert.equal(ch.mode, 'server');
      await applyMigrations(ch, MIGRATIONS);
      const r = eventRecord('node-tls', 3, { faults: 700, mixed: true });
      const rec = { topic: TOPIC.events, partition: 0, offset: 42, timestampMs: Date.UTC(2030, 0, 1), key: Buffer.from('node-tls'), value: r.value };
      const built = await buildBlocks([rec]);
      assert.equal(built.bad.length, 0);
      for (let i = 0; i < 2; i++) await insertBlock(ch, TOPIC.events, 0, { first: 42, last: 42 }, built.tables);
      const n = async (sql: string): Promise<number> => Number((await ch.queryRows<{ n: string }>(sql))[0]!.n);
      assert.equal(await n("SELECT count() AS n FROM events WHERE host = 'node-tls'"), r.totals.events);
      assert.equal(await n("SELECT sum(faults) AS n FROM region_minute WHERE host = 'node-tls'"), r.totals.faults);
    } finally {
      await ch.close();
    }
  });

  test('a wrong password is refused: AUTHENTICATION_FAILED, not retriable, and the message says a retry will not help', async () => {
    const err = await refusal({ ...good, password: 'wrong' });
    assert.equal(err.retriable, false);
    assert.match(err.message, /AUTHENTICATION_FAILED/);
    assert.match(err.message, /a retry will not help/);
    assert.match(err.message, /clickhouse\.username\/clickhouse\.password/);
    const unknown = await refusal({ ...good, username: 'nobody' });
    assert.equal(unknown.retriable, false);
    assert.match(unknown.message, /nobody: Authentication failed/);
  });

  test('no client certificate, or a CA that did not sign the server, fails the TLS handshake: not retriable, says what to check', async () => {
    const noCert = await refusal({ ...good, tls: { ca: pki.caPath } });
    assert.equal(noCert.retriable, false, noCert.message);
    assert.match(noCert.message, /TLS with the ClickHouse server failed .*a retry will not help: check clickhouse\.url and clickhouse\.tls/);
    const wrongCa = await refusal({ ...good, tls: { ca: pki.otherCaPath, cert: pki.clientCertPath, key: pki.clientKeyPath } });
    assert.equal(wrongCa.retriable, false, wrongCa.message);
    assert.match(wrongCa.message, /TLS with the ClickHouse server failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
  });

  test("the Grafana data source written from the same section reaches the server with its own values", async () => {
    const ch = clickHouseSettingsFor(viaConfigFile(good), {}, { database: DATABASE }, NO_ENV);
    const ds = provisioningForServer({ ...DEFAULT_GRAFANA_PROVISIONING, database: ch.database }, { url: ch.url!, username: ch.username!, password: ch.password!, tls: ch.tls! });
    assert.equal(ds.secure, true);
    assert.equal(ds.clickhouseHost, '127.0.0.1');
    assert.equal(ds.clickhousePort, endpoint.port);
    const yaml = datasourceYaml(ds);
    for (const line of ['      secure: true', `      port: ${endpoint.port}`, `      username: "${USER}"`, '      tlsAuthWithCACert: true', '      tlsAuth: true', '      password: "p@ss $$word"']) {
      assert.ok(yaml.includes(`${line}\n`), `${line} in\n${yaml}`);
    }
    assert.ok(yaml.includes(`tlsCACert: ${JSON.stringify(ds.tls!.ca)}`));
    assert.ok(yaml.includes(`tlsClientKey: ${JSON.stringify(ds.tls!.key)}`));
    // As the plugin connects over http: host, port, path, CA, client pair, X-ClickHouse-User/Key.
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: ds.clickhouseHost,
          port: ds.clickhousePort,
          path: `/${ds.path ?? ''}?query=${encodeURIComponent('SELECT currentDatabase() AS db FORMAT TSV')}&database=${ds.database}`,
          ca: ds.tls!.ca,
          cert: ds.tls!.cert!,
          key: ds.tls!.key!,
          headers: { 'X-ClickHouse-User': ds.username, 'X-ClickHouse-Key': ds.password! },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(answer, { status: 200, body: `${DATABASE}\n` });
  });
});
