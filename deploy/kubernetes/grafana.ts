/**
 * Grafana provisioning as ConfigMaps, from the same code as
 * `pageloop dashboards build --provisioning`: the ClickHouse data source,
 * the file provider, and the built dashboards (dashboards/build.ts). Mount
 * them at /etc/grafana/provisioning/datasources, .../dashboards and
 * grafana.dashboardsDir; the labels are the ones the Grafana Helm chart's
 * sidecar collects ConfigMaps by.
 */
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { buildDashboards, dashboardFileName } from '../../dashboards/build.js';
import { validateDashboardJson } from '../../dashboards/schema.js';
import { PageloopError } from '../../lib/errors.js';
import { DEFAULT_GRAFANA_PROVISIONING, dashboardsProviderYaml, datasourceYaml, type GrafanaProvisioningSettings } from '../grafana/provisioning.js';
import { clickhouseUrl, type KubernetesConfig } from './config.js';
import { meta, type ManifestObject } from './common.js';

/** The API server refuses objects past ~1 MiB (etcd's request limit); stay well under it. */
export const CONFIG_MAP_MAX_BYTES = 900 * 1024;

export function grafanaSettings(c: KubernetesConfig): GrafanaProvisioningSettings {
  const url = new URL(clickhouseUrl(c));
  const withSecret = c.clickhouse.credentialsSecret !== '';
  return {
    ...DEFAULT_GRAFANA_PROVISIONING,
    clickhouseHost: url.hostname,
    clickhousePort: url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
    secure: url.protocol === 'https:',
    database: c.clickhouse.database,
    // Grafana expands ${VAR} in provisioning files: give its pod these two from the same Secret.
    username: withSecret ? '${PAGELOOP_CLICKHOUSE_USER}' : 'default',
    ...(withSecret ? { passwordEnv: 'PAGELOOP_CLICKHOUSE_PASSWORD' } : {}),
    dashboardsDir: c.grafana.dashboardsDir,
    folder: c.grafana.folder,
  };
}

export function grafanaObjects(c: KubernetesConfig): ManifestObject[] {
  const settings = grafanaSettings(c);
  const built = buildDashboards();
  const problems = built.flatMap((d) => validateDashboardJson(d.json).map((p) => `${d.uid}: ${p}`));
  // A bug in dashboards/*.ts, not bad input: never ship what Grafana would reject.
  if (problems.length > 0) throw new PageloopError('k8s-dashboards', `the built dashboards do not validate:\n  ${problems.join('\n  ')}`);
  const dashboards: Record<string, string> = {};
  for (const d of built) dashboards[dashboardFileName(d.uid)] = JSON.stringify(d.json, null, 2) + '\n';
  const size = Object.values(dashboards).reduce((n, t) => n + Buffer.byteLength(t), 0);
  if (size > CONFIG_MAP_MAX_BYTES) throw new PageloopError('k8s-dashboards', `the dashboards are ${size} bytes, more than one ConfigMap holds (${CONFIG_MAP_MAX_BYTES}): split them over several`);
  return [
    new ConfigMap({ metadata: meta(c, 'pageloop-grafana-datasource', { grafana_datasource: '1' }), data: { 'pageloop.yaml': datasourceYaml(settings) } }),
    new ConfigMap({ metadata: meta(c, 'pageloop-grafana-dashboard-provider'), data: { 'pageloop.yaml': dashboardsProviderYaml(settings) } }),
    new ConfigMap({ metadata: meta(c, 'pageloop-grafana-dashboards', { grafana_dashboard: '1' }), data: dashboards }),
  ];
}
