import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DASHBOARDS_FILE,
  DATASOURCE_FILE,
  DEFAULT_GRAFANA_PROVISIONING,
  dashboardsProviderYaml,
  datasourceYaml,
  provisioningForServer,
  writeProvisioning,
} from './provisioning.js';
import { stat } from 'node:fs/promises';

// dist/deploy/grafana -> the source tree's deploy/grafana/provisioning.
const committed = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'grafana', 'provisioning');

describe('Grafana provisioning', () => {
  it('the committed files are the defaults rendered', async () => {
    assert.equal(await readFile(join(committed, DATASOURCE_FILE), 'utf8'), datasourceYaml());
    assert.equal(await readFile(join(committed, DASHBOARDS_FILE), 'utf8'), dashboardsProviderYaml());
  });

  it('points the data source at the embedded engine endpoint over HTTP, uid pageloop-clickhouse', () => {
    const y = datasourceYaml();
    for (const line of ['uid: pageloop-clickhouse', 'type: grafana-clickhouse-datasource', 'protocol: http', 'host: "127.0.0.1"', 'port: 8123', 'defaultDatabase: "pageloop"']) {
      assert.ok(y.includes(line), line);
    }
  });

  it('writes another port and the build directory when asked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pageloop-provisioning-'));
    try {
      const settings = { ...DEFAULT_GRAFANA_PROVISIONING, clickhousePort: 18123, dashboardsDir: '/srv/pageloop/dashboards' };
      const [ds, dash] = await writeProvisioning(dir, settings);
      assert.match(await readFile(ds!, 'utf8'), /\n      port: 18123\n/);
      assert.match(await readFile(dash!, 'utf8'), /\n      path: "\/srv\/pageloop\/dashboards"\n/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad port and a relative dashboards directory', () => {
    assert.throws(() => datasourceYaml({ ...DEFAULT_GRAFANA_PROVISIONING, clickhousePort: 70000 }), /not a port/);
    assert.throws(() => dashboardsProviderYaml({ ...DEFAULT_GRAFANA_PROVISIONING, dashboardsDir: 'out' }), /must be absolute/);
  });

  it('a server by URL: host, ClickHouse default ports, https, path, user from the URL', () => {
    const plain = provisioningForServer(DEFAULT_GRAFANA_PROVISIONING, { url: 'http://ch.internal' });
    assert.deepEqual([plain.clickhouseHost, plain.clickhousePort, plain.secure, plain.path, plain.username], ['ch.internal', 8123, false, '', 'default']);
    const tls = provisioningForServer(DEFAULT_GRAFANA_PROVISIONING, { url: 'https://grafana%40ro:pw@[::1]/ch/http/', tls: { ca: Buffer.from('CA') } });
    assert.deepEqual([tls.clickhouseHost, tls.clickhousePort, tls.secure, tls.path, tls.username, tls.password], ['::1', 8443, true, 'ch/http', 'grafana@ro', 'pw']);
    const y = datasourceYaml(tls);
    for (const line of ['      secure: true', '      port: 8443', '      path: "ch/http"', '      tlsAuthWithCACert: true', '      tlsAuth: false', '      tlsCACert: "CA"']) assert.ok(y.includes(`${line}\n`), line);
    assert.ok(!y.includes('tlsClientKey'));
    assert.throws(() => provisioningForServer(DEFAULT_GRAFANA_PROVISIONING, { url: 'http://ch', tls: { ca: Buffer.from('CA') } }), /clickhouse\.tls: given for http:\/\/ch, which is not https/);
    assert.throws(() => provisioningForServer(DEFAULT_GRAFANA_PROVISIONING, { url: 'ftp://ch' }), /clickhouse\.url: 'ftp:\/\/ch' must be http/);
  });

  it("a password has its $ doubled (Grafana expands $VAR) and makes the file owner-only", async () => {
    const s = provisioningForServer(DEFAULT_GRAFANA_PROVISIONING, { url: 'https://ch:9443', password: 'a$b', tls: { ca: Buffer.from('CA'), cert: Buffer.from('C'), key: Buffer.from('K$') } });
    const y = datasourceYaml(s);
    assert.ok(y.includes('      password: "a$$b"\n'));
    assert.ok(y.includes('      tlsClientKey: "K$$"\n'));
    assert.ok(y.includes('      tlsAuth: true\n'));
    const dir = await mkdtemp(join(tmpdir(), 'pageloop-provisioning-'));
    try {
      const [ds, dash] = await writeProvisioning(dir, s);
      assert.equal((await stat(ds!)).mode & 0o777, 0o600);
      assert.equal((await stat(dash!)).mode & 0o777, 0o644);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('quotes strings so YAML reads them back exactly', () => {
    const y = dashboardsProviderYaml({ ...DEFAULT_GRAFANA_PROVISIONING, folder: 'a: "b"' });
    assert.ok(y.includes('folder: "a: \\"b\\""'));
  });
});
