/**
 * `pageloop deploy`: deployment artefacts built from code.
 *   k8s             the Kubernetes manifests (deploy/kubernetes), validated, one JSON file each
 *   clickhouse-sql  the ClickHouse tables' DDL as one script, for one server or ON CLUSTER
 */
import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { flagBoolean, flagString, parseArgs, usage, type FlagSpec, type ParsedArgs } from '../args.js';
import { UsageError } from '../../lib/errors.js';
import { loadJsonFile, validateConfig, type PageloopConfig } from '../../schemas/validate.js';
import { DEFAULT_TABLE_LAYOUT, renderTableDdl } from '../../schemas/clickhouse-cluster.js';
import { buildManifests, writeManifests } from '../../deploy/kubernetes/build.js';
import { DEFAULT_KUBERNETES_CONFIG, mergeKubernetesValues } from '../../deploy/kubernetes/config.js';

const flags: FlagSpec[] = [
  { name: 'out', kind: 'string', help: 'k8s: directory for the manifests (created if needed)' },
  { name: 'values', kind: 'string', help: 'k8s: a JSON file of settings over the defaults (any subset; see deploy/kubernetes/config.ts)' },
  { name: 'config', kind: 'string', help: 'clickhouse-sql: a pageloop config file; its clickhouse.cluster and clickhouse.database' },
  { name: 'cluster', kind: 'string', help: "clickhouse-sql: the cluster (ON CLUSTER; default: the config's, else '' for one server)" },
  { name: 'database', kind: 'string', help: `clickhouse-sql: the database (default: the config's, else ${DEFAULT_TABLE_LAYOUT.database})` },
  { name: 'json', kind: 'boolean', help: 'k8s: print the files written as JSON' },
  { name: 'help', kind: 'boolean', help: 'this text' },
];

const SUMMARY = [
  'Deployment artefacts built from code.',
  '  k8s             write the Kubernetes manifests into --out (agent DaemonSet, processors, sink,',
  '                  Strimzi Kafka, ClickHouse, Grafana provisioning, ServiceMonitor), each validated',
  '  clickhouse-sql  print the ClickHouse tables as one SQL script (ON CLUSTER with --cluster)',
].join('\n');

const COMMAND = 'deploy k8s --out DIR [--values FILE] | deploy clickhouse-sql [--cluster NAME] [--database DB]';

async function k8s(args: ParsedArgs): Promise<number> {
  const out = flagString(args, 'out');
  if (out === undefined) throw new UsageError('deploy k8s needs --out DIR');
  const valuesPath = flagString(args, 'values');
  const config = valuesPath === undefined ? DEFAULT_KUBERNETES_CONFIG : loadJsonFile(valuesPath, (v) => mergeKubernetesValues(DEFAULT_KUBERNETES_CONFIG, v));
  const files = await writeManifests(resolve(out), buildManifests(config));
  if (flagBoolean(args, 'json')) console.log(JSON.stringify({ files }));
  else for (const f of files) console.log(f);
  return 0;
}

function clickhouseSql(args: ParsedArgs): number {
  const configPath = flagString(args, 'config') ?? process.env.PAGELOOP_CONFIG;
  const file: PageloopConfig = configPath ? loadJsonFile(configPath, validateConfig) : {};
  const layout = {
    cluster: flagString(args, 'cluster') ?? file.clickhouse?.cluster ?? DEFAULT_TABLE_LAYOUT.cluster,
    database: flagString(args, 'database') ?? file.clickhouse?.database ?? DEFAULT_TABLE_LAYOUT.database,
  };
  process.stdout.write(renderTableDdl(layout));
  return 0;
}

export const deployCommand: Command = {
  name: 'deploy',
  summary: SUMMARY,
  async run(argv) {
    const args = parseArgs(argv, flags);
    if (flagBoolean(args, 'help')) {
      console.log(usage(COMMAND, SUMMARY, flags));
      return 0;
    }
    const [sub, ...rest] = args.positionals;
    if (rest.length > 0) throw new UsageError(`deploy ${sub ?? ''}: unexpected '${rest.join(' ')}'`);
    const only = (allowed: string[]): void => {
      for (const f of flags) {
        if (f.name !== 'help' && !allowed.includes(f.name) && args.flags.has(f.name)) throw new UsageError(`--${f.name} does not go with deploy ${sub}`);
      }
    };
    switch (sub) {
      case 'k8s':
        only(['out', 'values', 'json']);
        return k8s(args);
      case 'clickhouse-sql':
        only(['config', 'cluster', 'database']);
        return clickhouseSql(args);
      default:
        throw new UsageError(`deploy: wants k8s or clickhouse-sql, got ${sub === undefined ? 'nothing' : `'${sub}'`}\n${usage(COMMAND, SUMMARY, flags)}`);
    }
  },
};
