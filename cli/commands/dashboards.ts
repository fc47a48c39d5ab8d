import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { flagBoolean, flagNumber, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { buildDashboards, queryRegistry, writeDashboards } from '../../dashboards/build.js';
import { validateDashboardJson } from '../../dashboards/schema.js';
import { DEFAULT_GRAFANA_PROVISIONING, holdsSecrets, provisioningForServer, writeProvisioning, type GrafanaProvisioningSettings } from '../../deploy/grafana/provisioning.js';
import { clickHouseSettingsFor } from '../../clickhouse/settings.js';
import { loadJsonFile, validateConfig, type PageloopConfig } from '../../schemas/validate.js';
import { DATABASE } from '../../schemas/clickhouse-tables.js';

const flags: FlagSpec[] = [
  { name: 'out', kind: 'string', help: 'build: directory for the dashboard JSON files (created if needed)' },
  { name: 'provisioning', kind: 'string', help: 'build: also write Grafana provisioning (datasources/, dashboards/) into this directory, pointing at --out' },
  { name: 'config', kind: 'string', help: "build: a pageloop config file (JSON) whose clickhouse section (url, username, password, tls) the data source uses, as the sink does" },
  { name: 'clickhouse-url', kind: 'string', help: 'build: a ClickHouse server (http(s)://host:port[/path]) for the data source (default: the embedded engine endpoint, or PAGELOOP_CLICKHOUSE_URL)' },
  { name: 'clickhouse-host', kind: 'string', help: `build: ClickHouse HTTP host for the data source (default ${DEFAULT_GRAFANA_PROVISIONING.clickhouseHost})` },
  { name: 'clickhouse-port', kind: 'number', help: `build: ClickHouse HTTP port for the data source (default ${DEFAULT_GRAFANA_PROVISIONING.clickhousePort})` },
  { name: 'folder', kind: 'string', help: `build: Grafana folder of the dashboards (default ${DEFAULT_GRAFANA_PROVISIONING.folder})` },
  { name: 'json', kind: 'boolean', help: 'print one JSON object on stdout instead of text' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = [
  'Grafana dashboards as code (ClickHouse data source grafana-clickhouse-datasource).',
  '  build    write one JSON file per dashboard into --out, checked against the dashboard schema;',
  '           with --provisioning, the data source and file-provider YAML as well',
  '  queries  list every query the dashboards run (panel, annotation, variable) with its columns',
].join('\n');

const COMMAND = 'dashboards build --out DIR [--provisioning DIR] | dashboards queries';

/**
 * The data source as the sink would connect: the server of --clickhouse-url,
 * the config file or PAGELOOP_CLICKHOUSE_URL with the file's user, password
 * and TLS; else the embedded engine's endpoint. --clickhouse-host/port win.
 */
export function provisioningSettingsFromArgs(args: ParsedArgs, dashboardsDir: string, env: Readonly<Record<string, string | undefined>> = process.env): GrafanaProvisioningSettings {
  const configPath = flagString(args, 'config') ?? env.PAGELOOP_CONFIG;
  const file: PageloopConfig = configPath ? loadJsonFile(configPath, validateConfig) : {};
  const flagUrl = flagString(args, 'clickhouse-url');
  const ch = clickHouseSettingsFor(file.clickhouse, flagUrl !== undefined ? { url: flagUrl } : {}, { database: DATABASE }, env);
  const url = env.PAGELOOP_CLICKHOUSE_URL?.trim() || ch.url;
  const base: GrafanaProvisioningSettings = { ...DEFAULT_GRAFANA_PROVISIONING, dashboardsDir, database: ch.database, folder: flagString(args, 'folder') ?? DEFAULT_GRAFANA_PROVISIONING.folder };
  const username = ch.username ?? env.PAGELOOP_CLICKHOUSE_USER;
  const password = ch.password ?? env.PAGELOOP_CLICKHOUSE_PASSWORD;
  const server = url
    ? provisioningForServer(base, { url, ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), ...(ch.tls ? { tls: ch.tls } : {}) })
    : base;
  return {
    ...server,
    clickhouseHost: flagString(args, 'clickhouse-host') ?? server.clickhouseHost,
    clickhousePort: flagNumber(args, 'clickhouse-port') ?? server.clickhousePort,
  };
}

async function build(outFlag: string | undefined, args: ParsedArgs, json: boolean): Promise<number> {
  if (!outFlag) throw new UsageError('dashboards build needs --out DIR');
  const out = resolve(outFlag);
  const built = buildDashboards();
  const problems = built.flatMap((d) => validateDashboardJson(d.json).map((p) => `${d.uid}: ${p}`));
  if (problems.length > 0) {
    // A bug in dashboards/*.ts, not bad input: refuse to write what Grafana would reject.
    console.error(`pageloop: the built dashboards do not validate:\n  ${problems.join('\n  ')}`);
    return 1;
  }
  const files = await writeDashboards(out, built);
  const provisioningDir = flagString(args, 'provisioning');
  let provisioning: string[] = [];
  if (provisioningDir !== undefined) {
    const settings = provisioningSettingsFromArgs(args, out);
    provisioning = await writeProvisioning(resolve(provisioningDir), settings);
    if (holdsSecrets(settings)) console.error(`pageloop: ${provisioning[0]} holds the ClickHouse password or client key: written 0600, make it readable by the user Grafana runs as`);
  } else if (['clickhouse-host', 'clickhouse-url', 'config', 'folder'].some((f) => flagString(args, f) !== undefined) || flagNumber(args, 'clickhouse-port') !== undefined) {
    throw new UsageError('--config, --clickhouse-url, --clickhouse-host, --clickhouse-port and --folder go into the provisioning files: add --provisioning DIR');
  }
  if (json) {
    console.log(JSON.stringify({ dashboards: built.map((d, i) => ({ uid: d.uid, title: d.title, file: files[i] })), provisioning }));
  } else {
    for (const [i, d] of built.entries()) console.log(`${files[i]}  ${d.title}`);
    for (const p of provisioning) console.log(p);
  }
  return 0;
}

export const dashboardsCommand: Command = {
  name: 'dashboards',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage(COMMAND, SUMMARY, flags));
      return 0;
    }
    const [sub, ...rest] = args.positionals;
    if (rest.length > 0) throw new UsageError(`dashboards ${sub ?? ''}: unexpected '${rest.join(' ')}'`);
    const json = flagBoolean(args, 'json');
    switch (sub) {
      case 'build':
        return build(flagString(args, 'out'), args, json);
      case 'queries': {
        const entries = queryRegistry();
        if (json) console.log(JSON.stringify(entries));
        else for (const e of entries) console.log(`-- ${e.dashboard} / ${e.kind} ${e.title}: ${e.columns.join(', ')}\n${e.sql}\n`);
        return 0;
      }
      case undefined:
        throw new UsageError(`usage: pageloop ${COMMAND}`);
      default:
        throw new UsageError(`dashboards: unknown subcommand '${sub}' (build, queries)`);
    }
  },
};
