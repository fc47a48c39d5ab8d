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
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
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
import { startTestBroker } from '../test/broker.js';
import { eventRecord } from '../test/sink-records.js';
import { buildBlocks } from './build.js';
import { insertBlock } from './insert.js';

const USER = 'pageloop_sink';
const PASSWORD = 'p@ss $word';
const NO_ENV = {};
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');

/** `pageloop sink ...` as a child; resolves with its exit status and stderr once it ends. */
function runSink(args: string[], env: NodeJS.ProcessEnv): { exit: Promise<{ code: number | null; stderr: string }>; stop(): void } {
  const child = spawn(process.execPath, [MAIN, 'sink', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { exit, stop: () => child.kill('SIGTERM') };
}

/** The environment without any ClickHouse target or credentials of the caller's. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('PAGELOOP_')) delete env[k];
  return { ...env, ...extra };
}

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

  test('`pageloop sink --config` consumes Kafka into the server, its password from PAGELOOP_CLICKHOUSE_PASSWORD; a wrong one ends it with the reason', async () => {
    const broker = await startTestBroker();
    const running: Array<{ stop(): void }> = [];
    try {
      const producer = broker.kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const records = [0, 1, 2].map((seq) => eventRecord('node-cli', seq, { faults: 300, mixed: seq === 1 }));
      await producer.send({ topic: TOPIC.events, acks: -1, messages: records.map((r) => ({ key: 'node-cli', value: r.value })) });
      await producer.disconnect();
      const expected = records.reduce((n, r) => n + r.totals.events, 0);
      const { password: _none, ...withoutPassword } = good;
      const config = join(dir, 'sink-config.json');
      writeFileSync(config, JSON.stringify({ clickhouse: withoutPassword }));
      const args = ['--config', config, '--brokers', broker.bootstrap, '--topics', TOPIC.events, '--max-wait-ms', '100'];

      const wrong = runSink([...args, '--group', 'sink-wrong'], cleanEnv({ PAGELOOP_CLICKHOUSE_PASSWORD: 'wrong' }));
      running.push(wrong);
      const refused = await wrong.exit;
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /AUTHENTICATION_FAILED.*a retry will not help/);
      assert.doesNotMatch(refused.stderr, /trying again may help/);

      const sink = runSink([...args, '--group', 'sink-good'], cleanEnv({ PAGELOOP_CLICKHOUSE_PASSWORD: PASSWORD }));
      running.push(sink);
      const count = async (): Promise<number> => Number((await engineOwner.queryRows<{ n: string }>("SELECT count() AS n FROM events WHERE host = 'node-cli'"))[0]!.n);
      // Waits for the rows (not a timed assertion: the limit only ends a hung run with its log).
      for (let waited = 0; (await count()) < expected; waited += 250) {
        if (waited > 120_000) assert.fail(`the sink wrote ${await count()} of ${expected} rows in 120 s; its log:\n${await Promise.race([sink.exit.then((e) => e.stderr), sleep(1000, '(still running)')])}`);
        await sleep(250);
      }
      sink.stop();
      const ended = await sink.exit;
      assert.equal(ended.code, 0, ended.stderr);
      assert.equal(await count(), expected);
      assert.match(ended.stderr, /ClickHouse schema at version \d+ \(server\)/);
    } finally {
      for (const r of running) r.stop();
      await broker.close();
    }
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
