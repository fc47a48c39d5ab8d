/**
 * The dashboards end to end: the JSON is valid Grafana, and every query a
 * dashboard runs (panels, annotations, variables) runs on the real ClickHouse
 * engine over the sink's schema, macros and variables expanded as the
 * plugin expands them, returning rows with exactly the columns it declares.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { applyMigrations } from '../clickhouse/migrations.js';
import { DATABASE, MIGRATIONS } from '../schemas/clickhouse-tables.js';
import { DASHBOARDS, buildDashboards, panelRegistry, queryRegistry, writeDashboards, type QueryEntry } from './build.js';
import { ALL_VALUE, expandMacros, type TemplateVariable } from './macros.js';
import { validateDashboardJson, variableReferences } from './schema.js';
import { loadSyntheticData, type LoadedData } from '../test/dashboard-rows.js';

/**
 * Fills the tables the dashboards read and says which time range the rows
 * cover. Swap this for a real pipeline run (collector -> Kafka -> sink).
 */
async function loadData(ch: PageloopClickHouse): Promise<LoadedData> {
  return loadSyntheticData(ch);
}

interface QueryResult {
  readonly meta: readonly { readonly name: string; readonly type: string }[];
  readonly data: readonly Record<string, unknown>[];
}

describe('dashboard JSON', () => {
  const built = buildDashboards();

  it('builds the four dashboards with unique uids and panel titles', () => {
    assert.deepEqual(
      built.map((d) => d.uid),
      ['pageloop-fleet', 'pageloop-host', 'pageloop-regions', 'pageloop-control'],
    );
    assert.doesNotThrow(() => panelRegistry());
  });

  for (const d of built) {
    it(`${d.uid} validates against the dashboard schema`, () => {
      assert.deepEqual(validateDashboardJson(d.json), []);
    });
  }

  it('every target is a ClickHouse SQL query on the pageloop data source, with the spec SQL', () => {
    const specSql = new Set(queryRegistry().map((q) => q.sql));
    for (const d of built) {
      const panels = d.json.panels as { targets: { rawSql: string; datasource: { uid: string } }[] }[];
      for (const p of panels) {
        assert.equal(p.targets.length, 1);
        assert.equal(p.targets[0]!.datasource.uid, 'pageloop-clickhouse');
        assert.ok(specSql.has(p.targets[0]!.rawSql));
      }
    }
  });

  it('the validator refuses what Grafana would refuse', () => {
    const good = built[0]!.json;
    const clone = (): Record<string, unknown> => JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    const noVersion = clone();
    delete noVersion.schemaVersion;
    assert.match(validateDashboardJson(noVersion).join('\n'), /schemaVersion/);
    const wide = clone();
    (wide.panels as { gridPos: { w: number } }[])[0]!.gridPos.w = 25;
    assert.match(validateDashboardJson(wide).join('\n'), /gridPos\/w/);
    const typo = clone();
    (typo.panels as Record<string, unknown>[])[0]!.titel = 'x';
    assert.match(validateDashboardJson(typo).join('\n'), /additional properties \(titel\)/);
    const dupId = clone();
    (dupId.panels as { id: number }[])[1]!.id = 1;
    assert.match(validateDashboardJson(dupId).join('\n'), /panel id 1 used twice/);
    const unknownVar = clone();
    (unknownVar.panels as { targets: { rawSql: string }[] }[])[0]!.targets[0]!.rawSql += ' AND $nope';
    assert.match(validateDashboardJson(unknownVar).join('\n'), /variable '\$nope'/);
    const badTarget = clone();
    (badTarget.panels as { targets: { format: number }[] }[])[1]!.targets[0]!.format = 1;
    assert.match(validateDashboardJson(badTarget).join('\n'), /format/);
  });

  it('names variables only the dashboard defines', () => {
    for (const d of DASHBOARDS) {
      const defined = new Set(d.variables.map((v) => v.name));
      for (const q of queryRegistry([d])) {
        for (const name of variableReferences(q.sql)) assert.ok(defined.has(name), `${d.uid} / ${q.title}: $${name}`);
      }
    }
  });

  it('writeDashboards writes one JSON file per dashboard', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pageloop-dashboards-'));
    try {
      const paths = await writeDashboards(dir);
      assert.deepEqual((await readdir(dir)).sort(), built.map((d) => `${d.uid}.json`).sort());
      const first = JSON.parse(await readFile(paths[0]!, 'utf8')) as unknown;
      assert.deepEqual(first, built[0]!.json);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('every query on the ClickHouse engine', () => {
  let dataDir = '';
  let ch: PageloopClickHouse;
  let range: LoadedData;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pageloop-dashboards-ch-'));
    ch = await createClickHouseClient({ database: DATABASE, dataDir });
    await applyMigrations(ch, MIGRATIONS);
    range = await loadData(ch);
  });

  after(async () => {
    await ch?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A query expanded as Grafana + the plugin would, then run. */
  async function run(entry: Pick<QueryEntry, 'sql'>, variables: readonly TemplateVariable[], intervalMs: number): Promise<QueryResult & { sql: string }> {
    const expanded = expandMacros(entry.sql, { from: range.from, to: range.to, intervalMs, variables });
    assert.doesNotMatch(expanded, /\$/, `left unexpanded:\n${expanded}`);
    const rs = await ch.client.query({ query: expanded, format: 'JSON' });
    const result = await rs.json<Record<string, unknown>>();
    return { ...(result as unknown as QueryResult), sql: expanded };
  }

  const variableEntry = (name: string): QueryEntry => {
    const found = queryRegistry().find((q) => q.kind === 'variable' && q.title === `$${name}`);
    assert.ok(found, `variable ${name}`);
    return found;
  };

  /** The options of a variable, by running its query as Grafana does (value = first column). */
  async function options(name: string, variables: readonly TemplateVariable[]): Promise<string[]> {
    const r = await run(variableEntry(name), variables, 60_000);
    const first = r.meta[0]!.name;
    return r.data.map((row) => String(row[first]));
  }

  /** The selections to try: one host with every process; every host with one process. */
  async function selections(): Promise<{ name: string; intervalMs: number; variables: TemplateVariable[] }[]> {
    const allHosts: TemplateVariable = { name: 'host', value: [ALL_VALUE], options: await options('host', []) };
    assert.ok(allHosts.options!.length >= 2, 'the data has several hosts');
    const oneHost: TemplateVariable = { name: 'host', value: [allHosts.options![0]!] };
    const processesOfOne = await options('process', [oneHost]);
    assert.ok(processesOfOne.length >= 1, 'the host has processes');
    const allProcesses = await options('process', [allHosts]);
    assert.ok(allProcesses.length > processesOfOne.length, 'the host filter narrows the processes');
    return [
      {
        name: `host=${oneHost.value[0]}, process=All, 1m interval`,
        intervalMs: 60_000,
        variables: [oneHost, { name: 'process', value: [ALL_VALUE], options: processesOfOne }],
      },
      {
        name: `host=All, process=${processesOfOne[0]}, 15s interval`,
        intervalMs: 15_000,
        variables: [allHosts, { name: 'process', value: [processesOfOne[0]!] }],
      },
    ];
  }

  it('runs every panel, annotation and variable query and gets the declared columns', async () => {
    const entries = queryRegistry();
    assert.ok(entries.filter((e) => e.kind === 'panel').length >= 25);
    const failures: string[] = [];
    for (const sel of await selections()) {
      for (const entry of entries) {
        const where = `[${sel.name}] ${entry.dashboard} / ${entry.title}`;
        let r: QueryResult & { sql: string };
        try {
          r = await run(entry, sel.variables, sel.intervalMs);
        } catch (err) {
          failures.push(`${where}: ${err instanceof Error ? err.message : String(err)}`);
          continue;
        }
        const names = r.meta.map((m) => m.name);
        if (JSON.stringify(names) !== JSON.stringify(entry.columns)) {
          failures.push(`${where}: columns ${JSON.stringify(names)}, expected ${JSON.stringify(entry.columns)}`);
        }
        if (r.data.length === 0) failures.push(`${where}: no rows\n${r.sql}`);
        const timeColumn = r.meta.find((m) => m.name === 'time');
        if ((entry.format === 'timeseries' || entry.kind === 'annotation') && !timeColumn?.type.startsWith('DateTime')) {
          failures.push(`${where}: a time series needs a DateTime 'time' column, got ${timeColumn?.type ?? 'none'}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it('filters: a selected host only returns that host', async () => {
    const entry = queryRegistry().find((q) => q.title === 'Events per second by host and family')!;
    const r = await run(entry, [{ name: 'host', value: ['host-b'] }], 60_000);
    assert.deepEqual([...new Set(r.data.map((row) => row.host))], ['host-b']);
    const all = await run(entry, [{ name: 'host', value: [ALL_VALUE], options: ['host-a', 'host-b'] }], 60_000);
    assert.deepEqual([...new Set(all.data.map((row) => row.host))].sort(), ['host-a', 'host-b']);
  });

  it('counts ring-buffer loss exactly: the increases add up to the last cumulative value', async () => {
    const entry = queryRegistry().find((q) => q.title === 'Ring-buffer loss by CPU')!;
    const r = await run(entry, [{ name: 'host', value: ['host-a'] }], 60_000);
    const byCpu = new Map(r.data.map((row) => [Number(row.cpu), Number(row.lost)]));
    const cumulative = await ch.queryRows<{ cpu: number; lost: string }>(
      `SELECT cpu, max(lost) AS lost FROM ${DATABASE}.collector_loss WHERE host = 'host-a' GROUP BY cpu ORDER BY cpu`,
    );
    assert.ok(cumulative.length === 2);
    for (const c of cumulative) assert.equal(byCpu.get(Number(c.cpu)), Number(c.lost));
  });

  it('dead letters: a record that was sent to the DLQ twice counts once', async () => {
    const entry = queryRegistry().find((q) => q.title === 'Dead letters by topic')!;
    const r = await run(entry, [{ name: 'host', value: [ALL_VALUE], options: ['host-a', 'host-b'] }], 60_000);
    assert.equal(r.data.reduce((n, row) => n + Number(row.dead_letters), 0), 2);
  });

  it('lost batches: the gap in the sequence shows as one missing batch per host', async () => {
    const entry = queryRegistry().find((q) => q.title === 'Lost batches (sequence gaps)')!;
    const r = await run(entry, [{ name: 'host', value: [ALL_VALUE], options: ['host-a', 'host-b'] }], 60_000);
    assert.deepEqual(
      r.data.map((row) => [row.host, Number(row.missing)]).sort(),
      [
        ['host-a', 1],
        ['host-b', 1],
      ],
    );
  });

  it('overhead: ns per fault, shares and the stats-on share per host follow the model; intervals without stats are not counted as free', async () => {
    const entry = queryRegistry().find((q) => q.title === 'Probe cost per host')!;
    const r = await run(entry, [{ name: 'host', value: [ALL_VALUE], options: ['host-a', 'host-b'] }], 60_000);
    const byHost = new Map(r.data.map((row) => [String(row.host), row]));
    // test/dashboard-rows.ts: per minute 6e6 faults, 2 CPUs, fault-path programs 375000 runs at 900 ns (host-b 1000 ns) + 2000 at 1500 ns.
    for (const [host, nsPerRun, statsMinutes] of [
      ['host-a', 900, 30],
      ['host-b', 1000, 25],
    ] as const) {
      const row = byHost.get(host)!;
      const faultPathNsPerMinute = 375_000 * nsPerRun + 2_000 * 1_500;
      const near = (got: unknown, want: number, what: string) => assert.ok(Math.abs(Number(got) - want) <= want * 1e-9, `${host} ${what}: ${String(got)}, expected ${want}`);
      near(row.ns_per_fault, faultPathNsPerMinute / 6_000_000, 'ns per fault');
      near(row.fault_path_cpu_percent, (100 * faultPathNsPerMinute) / (60e9 * 2), 'fault-path CPU %');
      near(row.est_slowdown_percent, (100 * faultPathNsPerMinute) / (60e9 - faultPathNsPerMinute), 'estimated slowdown %');
      near(row.stats_on_percent, (100 * statsMinutes) / 30, 'stats on %');
    }
  });
});
