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
  writeProvisioning,
} from './provisioning.js';

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

  it('quotes strings so YAML reads them back exactly', () => {
    const y = dashboardsProviderYaml({ ...DEFAULT_GRAFANA_PROVISIONING, folder: 'a: "b"' });
    assert.ok(y.includes('folder: "a: \\"b\\""'));
  });
});
