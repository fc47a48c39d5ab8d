import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { flagBoolean, flagNumber, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { buildDashboards, queryRegistry, writeDashboards } from '../../dashboards/build.js';
import { validateDashboardJson } from '../../dashboards/schema.js';
import { DEFAULT_GRAFANA_PROVISIONING, writeProvisioning, type GrafanaProvisioningSettings } from '../../deploy/grafana/provisioning.js';

const flags: FlagSpec[] = [
  { name: 'out', kind: 'string', help: 'build: directory for the dashboard JSON files (created if needed)' },
  { name: 'provisioning', kind: 'string', help: 'build: also write Grafana provisioning (datasources/, dashboards/) into this directory, pointing at --out' },
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
    const settings: GrafanaProvisioningSettings = {
      ...DEFAULT_GRAFANA_PROVISIONING,
      dashboardsDir: out,
      clickhouseHost: flagString(args, 'clickhouse-host') ?? DEFAULT_GRAFANA_PROVISIONING.clickhouseHost,
      clickhousePort: flagNumber(args, 'clickhouse-port') ?? DEFAULT_GRAFANA_PROVISIONING.clickhousePort,
      folder: flagString(args, 'folder') ?? DEFAULT_GRAFANA_PROVISIONING.folder,
    };
    provisioning = await writeProvisioning(resolve(provisioningDir), settings);
  } else if (flagString(args, 'clickhouse-host') !== undefined || flagNumber(args, 'clickhouse-port') !== undefined || flagString(args, 'folder') !== undefined) {
    throw new UsageError('--clickhouse-host, --clickhouse-port and --folder go into the provisioning files: add --provisioning DIR');
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
