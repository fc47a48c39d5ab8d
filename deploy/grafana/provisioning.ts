/**
 * Grafana provisioning for pageloop: the ClickHouse data source (the
 * official grafana-clickhouse-datasource plugin, over ClickHouse's HTTP
 * interface) and a file provider that loads the dashboards
 * `pageloop dashboards build --out DIR` writes.
 *
 * The committed files under deploy/grafana/provisioning/ are this module's
 * output for the defaults (a test keeps them equal). For another port,
 * host or dashboards directory, either edit the copies Grafana reads or let
 * `pageloop dashboards build --out DIR --provisioning PDIR
 * [--clickhouse-port N] [--clickhouse-host H]` write them with the real
 * values; Grafana also expands `$VAR` / `${VAR}` in provisioning files, so
 * `port: ${PAGELOOP_CLICKHOUSE_HTTP_PORT}` works when that variable is set
 * in Grafana's environment.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT } from '../clickhouse/http-endpoint.js';
import { DATASOURCE_TYPE, DATASOURCE_UID } from '../../dashboards/clickhouse.js';
import { DATABASE } from '../../schemas/clickhouse-tables.js';
import { UsageError } from '../../lib/errors.js';

export interface GrafanaProvisioningSettings {
  /** Where ClickHouse's HTTP interface listens: the embedded engine's endpoint by default. */
  readonly clickhouseHost: string;
  /** The HTTP port (deploy/clickhouse/http-endpoint.ts DEFAULT_HTTP_PORT, 8123, unless changed there). */
  readonly clickhousePort: number;
  readonly database: string;
  readonly username: string;
  /** The directory the dashboard JSON was built into (absolute: Grafana resolves relative paths from its own working directory). */
  readonly dashboardsDir: string;
  /** The Grafana folder the dashboards appear in. */
  readonly folder: string;
  /** https: the plugin's `secure`. Default false. */
  readonly secure?: boolean;
  /** The HTTP interface's path on the server, without the leading slash ('' for /). */
  readonly path?: string;
  /** The user's password, written into secureJsonData (default '': none). */
  readonly password?: string;
  /**
   * Instead of the password, the environment variable Grafana expands into it
   * at start (provisioning files expand $VAR): for a Secret mounted as env,
   * so the ConfigMap holds no secret.
   */
  readonly passwordEnv?: string;
  /** PEM text: the CA that signed the server's certificate; with cert and key, mutual TLS. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string };
}

/**
 * The data source's connection for a ClickHouse server by URL, as the sink
 * reaches it: host, port (ClickHouse's 8123/8443 when the URL has none),
 * https, path, user, password and TLS. The TLS files' text goes in whole,
 * so Grafana need not read pageloop's files.
 */
export function provisioningForServer(
  base: GrafanaProvisioningSettings,
  server: { readonly url: string; readonly username?: string; readonly password?: string; readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer } },
): GrafanaProvisioningSettings {
  let u: URL;
  try {
    u = new URL(server.url);
  } catch {
    throw new UsageError(`clickhouse.url: '${server.url}' is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`clickhouse.url: '${server.url}' must be http:// or https://`);
  const secure = u.protocol === 'https:';
  if (server.tls && !secure) throw new UsageError(`clickhouse.tls: given for ${server.url}, which is not https://`);
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  return {
    ...base,
    clickhouseHost: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    clickhousePort: u.port !== '' ? Number(u.port) : secure ? 8443 : 8123,
    secure,
    path: u.pathname.replace(/^\/+/, '').replace(/\/+$/, ''),
    username: server.username ?? (user !== '' ? user : base.username),
    password: server.password ?? password,
    ...(server.tls
      ? {
          tls: {
            ca: server.tls.ca.toString('utf8'),
            ...(server.tls.cert ? { cert: server.tls.cert.toString('utf8') } : {}),
            ...(server.tls.key ? { key: server.tls.key.toString('utf8') } : {}),
          },
        }
      : {}),
  };
}

/** True when the data source file holds a secret (a password or a client key): written 0600. */
export function holdsSecrets(s: GrafanaProvisioningSettings): boolean {
  return (s.password ?? '') !== '' || s.tls?.key !== undefined;
}

export const DEFAULT_DASHBOARDS_DIR = '/var/lib/pageloop/grafana/dashboards';

export const DEFAULT_GRAFANA_PROVISIONING: GrafanaProvisioningSettings = {
  clickhouseHost: DEFAULT_HTTP_HOST,
  clickhousePort: DEFAULT_HTTP_PORT,
  database: DATABASE,
  username: 'default',
  dashboardsDir: DEFAULT_DASHBOARDS_DIR,
  folder: 'pageloop',
};

/** Relative paths of the two files inside a provisioning directory (Grafana's layout). */
export const DATASOURCE_FILE = join('datasources', 'pageloop.yaml');
export const DASHBOARDS_FILE = join('dashboards', 'pageloop.yaml');

/** A YAML scalar that reads back as exactly `s` (double-quoted, JSON escapes are valid YAML). */
function yamlString(s: string): string {
  return JSON.stringify(s);
}

/** A secret as a YAML scalar Grafana reads back as exactly `s`: `$` doubled, or Grafana would expand it as a variable. */
function yamlSecret(s: string): string {
  return yamlString(s.replace(/\$/g, '$$$$'));
}

export function checkProvisioningSettings(s: GrafanaProvisioningSettings): void {
  if (!Number.isInteger(s.clickhousePort) || s.clickhousePort < 1 || s.clickhousePort > 65535) {
    throw new UsageError(`clickhouse port: ${s.clickhousePort} is not a port`);
  }
  if (s.clickhouseHost.trim() === '') throw new UsageError('clickhouse host: empty');
  if (s.tls && !s.secure) throw new UsageError('clickhouse tls: only over https (secure)');
  if (s.tls && (s.tls.cert === undefined) !== (s.tls.key === undefined)) throw new UsageError('clickhouse tls: a client certificate and its key go together');
  if (!s.dashboardsDir.startsWith('/') && !s.dashboardsDir.startsWith('$')) {
    throw new UsageError(`dashboards directory: '${s.dashboardsDir}' must be absolute (Grafana resolves relative paths from its own working directory)`);
  }
}

export function datasourceYaml(s: GrafanaProvisioningSettings = DEFAULT_GRAFANA_PROVISIONING): string {
  checkProvisioningSettings(s);
  return [
    '# pageloop: the ClickHouse data source every pageloop dashboard uses (uid',
    `# ${DATASOURCE_UID}). It speaks ClickHouse's HTTP interface, which the embedded`,
    '# engine serves (deploy/clickhouse/http-endpoint.ts) and any ClickHouse server',
    '# has. Settings:',
    `#   host  where the HTTP interface listens (default ${DEFAULT_HTTP_HOST})`,
    `#   port  its port: the endpoint's port, default ${DEFAULT_HTTP_PORT}; to use another, change it`,
    '#         here, or write this file with `pageloop dashboards build --out DIR',
    '#         --provisioning PDIR --clickhouse-port N`, or make it a reference to an',
    "#         environment variable of Grafana's (Grafana expands them in these values)",
    '# Generated by deploy/grafana/provisioning.ts; keep the two in step.',
    'apiVersion: 1',
    '',
    'datasources:',
    '  - name: pageloop ClickHouse',
    `    uid: ${DATASOURCE_UID}`,
    `    type: ${DATASOURCE_TYPE}`,
    '    access: proxy',
    '    editable: false',
    '    isDefault: false',
    '    jsonData:',
    '      protocol: http',
    `      secure: ${s.secure === true}`,
    `      host: ${yamlString(s.clickhouseHost)}`,
    `      port: ${s.clickhousePort}`,
    ...(s.path ? [`      path: ${yamlString(s.path)}`] : []),
    `      username: ${yamlString(s.username)}`,
    `      defaultDatabase: ${yamlString(s.database)}`,
    '      dialTimeout: "10"',
    '      queryTimeout: "60"',
    ...(s.tls ? ['      tlsAuthWithCACert: true', `      tlsAuth: ${s.tls.cert !== undefined}`] : []),
    '    secureJsonData:',
    ...(s.passwordEnv !== undefined
      ? [`      password: ${yamlString('$' + `{${s.passwordEnv}}`)}`]
      : (s.password ?? '') === ''
      ? ["      # The embedded engine's endpoint on loopback has no password.", "      password: ''"]
      : ['      # A secret: this file is written readable by its owner only (give it to the user Grafana runs as).', `      password: ${yamlSecret(s.password!)}`]),
    ...(s.tls
      ? [
          `      tlsCACert: ${yamlString(s.tls.ca)}`,
          ...(s.tls.cert !== undefined ? [`      tlsClientCert: ${yamlString(s.tls.cert)}`] : []),
          ...(s.tls.key !== undefined ? [`      tlsClientKey: ${yamlSecret(s.tls.key)}`] : []),
        ]
      : []),
    '',
  ].join('\n');
}

export function dashboardsProviderYaml(s: GrafanaProvisioningSettings = DEFAULT_GRAFANA_PROVISIONING): string {
  checkProvisioningSettings(s);
  return [
    '# pageloop: load the dashboards `pageloop dashboards build --out DIR` writes.',
    '# path must be that DIR (absolute). Dashboards are code: edits in the UI are',
    '# not kept (allowUiUpdates: false); change dashboards/*.ts and rebuild.',
    '# Generated by deploy/grafana/provisioning.ts; keep the two in step.',
    'apiVersion: 1',
    '',
    'providers:',
    '  - name: pageloop',
    '    orgId: 1',
    `    folder: ${yamlString(s.folder)}`,
    '    type: file',
    '    disableDeletion: false',
    '    allowUiUpdates: false',
    '    updateIntervalSeconds: 30',
    '    options:',
    `      path: ${yamlString(s.dashboardsDir)}`,
    '      foldersFromFilesStructure: false',
    '',
  ].join('\n');
}

/** Writes datasources/pageloop.yaml and dashboards/pageloop.yaml under `dir`; returns their paths. */
export async function writeProvisioning(dir: string, s: GrafanaProvisioningSettings): Promise<string[]> {
  const files: [string, string, number][] = [
    [join(dir, DATASOURCE_FILE), datasourceYaml(s), holdsSecrets(s) ? 0o600 : 0o644],
    [join(dir, DASHBOARDS_FILE), dashboardsProviderYaml(s), 0o644],
  ];
  for (const [path, text, mode] of files) {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text, { mode });
    await chmod(path, mode); // an existing file keeps its old mode otherwise
  }
  return files.map(([path]) => path);
}
