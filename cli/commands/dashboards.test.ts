import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../lib/errors.js';
import { dashboardsCommand } from './dashboards.js';

async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => undefined;
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}

describe('pageloop dashboards', () => {
  it('build --out DIR --provisioning PDIR writes the dashboards and provisioning that points at DIR', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pageloop-dashboards-cli-'));
    try {
      const out = join(dir, 'json');
      const prov = join(dir, 'provisioning');
      const status = await quietly(() => dashboardsCommand.run(['build', '--out', out, '--provisioning', prov, '--clickhouse-port', '18123']));
      assert.equal(status, 0);
      assert.deepEqual((await readdir(out)).sort(), ['pageloop-control.json', 'pageloop-fleet.json', 'pageloop-host.json', 'pageloop-regions.json']);
      assert.ok((await readFile(join(prov, 'dashboards', 'pageloop.yaml'), 'utf8')).includes(`path: ${JSON.stringify(out)}`));
      assert.ok((await readFile(join(prov, 'datasources', 'pageloop.yaml'), 'utf8')).includes('port: 18123'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('build --config: the data source gets the config file\'s server, user, password and TLS, as the sink would connect', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pageloop-dashboards-cli-'));
    try {
      const pem = (name: string) => `-----BEGIN ${name}-----\nAAAA\n-----END ${name}-----\n`;
      await writeFile(join(dir, 'ca.pem'), pem('CERTIFICATE'));
      await writeFile(join(dir, 'c.pem'), pem('CERTIFICATE'));
      await writeFile(join(dir, 'c.key'), pem('PRIVATE KEY'));
      const config = join(dir, 'config.json');
      const tls = { ca: join(dir, 'ca.pem'), cert: join(dir, 'c.pem'), key: join(dir, 'c.key') };
      await writeFile(config, JSON.stringify({ clickhouse: { url: 'https://ch.example.internal:9443/ch', database: 'fleet', username: 'grafana', password: 'pw', tls } }));
      const prov = join(dir, 'provisioning');
      const status = await quietly(() => dashboardsCommand.run(['build', '--out', join(dir, 'json'), '--provisioning', prov, '--config', config]));
      assert.equal(status, 0);
      const y = await readFile(join(prov, 'datasources', 'pageloop.yaml'), 'utf8');
      for (const line of ['secure: true', 'host: "ch.example.internal"', 'port: 9443', 'path: "ch"', 'username: "grafana"', 'defaultDatabase: "fleet"', 'password: "pw"', 'tlsAuth: true', `tlsClientKey: ${JSON.stringify(pem('PRIVATE KEY'))}`]) {
        assert.ok(y.includes(`      ${line}\n`), line);
      }
      await assert.rejects(dashboardsCommand.run(['build', '--out', join(dir, 'json'), '--provisioning', prov, '--config', config, '--clickhouse-url', 'http://plain:8123']), /clickhouse\.tls: given for http:\/\/plain:8123/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a build without --out, port flags without --provisioning, unknown subcommands', async () => {
    await assert.rejects(dashboardsCommand.run(['build']), UsageError);
    await assert.rejects(dashboardsCommand.run(['build', '--out', '/tmp/x', '--clickhouse-port', '1']), /--provisioning/);
    await assert.rejects(dashboardsCommand.run(['frobnicate']), /unknown subcommand/);
  });
});
