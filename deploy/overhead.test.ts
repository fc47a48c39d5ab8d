/**
 * Overhead accounting on the real parts: the meter over probes loaded into
 * the running kernel, compared with the workload's /proc/PID/stat minflt;
 * then the whole agent (deploy/collector.ts startCollecting) into a real
 * Kafka broker, its metrics endpoint scraped, the overhead rows read back
 * from the topic and put through the sink's rows into the embedded
 * ClickHouse engine, each compared with what the meter produced.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PROBES_CONFIG, SAMPLED_PROBES_CONFIG, createProbes, type ProbesConfig } from '../bpf/probes.js';
import { loadAddon } from '../bpf/native.js';
import { startMemtouch, type Memtouch } from '../bench/workloads/memtouch.js';
import { readProcStat } from '../lib/procfs.js';
import { createOverheadMeter, DEFAULT_OVERHEAD_CONFIG, overheadFigures, type OverheadRecord } from '../collectors/overhead.js';
import { procOverheadReading } from '../collectors/overhead-reading.js';
import { startTestBroker, readTopic, type TestBroker } from '../test/broker.js';
import { collectSettings, startCollecting } from './collector.js';
import { decodeEventBatch } from '../schemas/event-batch-codec.js';
import { samplesFromEventBatch } from '../schemas/event-batch-rows.js';
import type { OverheadRow, ProgramCostRow } from '../schemas/event-batch.js';
import { TOPIC } from '../schemas/topics.js';
import { DATABASE, MIGRATIONS } from '../schemas/clickhouse-tables.js';
import { createClickHouseClient } from '../clickhouse/client.js';
import { applyMigrations } from '../clickhouse/migrations.js';
import { buildBlocks } from '../sink/build.js';
import { insertBlock } from '../sink/insert.js';
import { readRecordFile } from '../schemas/record-file.js';
import { bpfStatsSysctlOn } from '../collectors/overhead-reading.js';
import { AGENT_CAPABILITIES } from './kubernetes/agent.js';

const MiB = 1 << 20;
const PAGES_PER_MIB = MiB / 4096;
const minflt = (pid: number): number => readProcStat(pid).minflt;

const workloads: Memtouch[] = [];
async function workload(): Promise<Memtouch> {
  const w = await startMemtouch();
  workloads.push(w);
  return w;
}
after(() => {
  for (const w of workloads) w.kill();
});

/** The probes and a meter over them, with BPF stats on through BPF_ENABLE_STATS, as deploy/collector.ts wires them. */
function meterOn(config: Partial<ProbesConfig>) {
  const addon = loadAddon();
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, ...config }, { addon: loadAddon() });
  probes.start({});
  const meter = createOverheadMeter(
    { ...DEFAULT_OVERHEAD_CONFIG, faultPathPrograms: [...DEFAULT_OVERHEAD_CONFIG.faultPathPrograms], intervalMs: 3_600_000 },
    {
      read: procOverheadReading(() => probes.costReading().programs, () => addon.bootTimeNs()),
      enableStats: () => {
        const fd = addon.enableBpfStats();
        return { close: () => addon.closeFd(fd) };
      },
      cpus: addon.possibleCpus(),
    },
  );
  const records: OverheadRecord[] = [];
  meter.start((r) => records.push(r));
  return {
    meter,
    records,
    stop() {
      meter.stop();
      probes.stop();
    },
  };
}

/** Touches `mib` MiB in the (idle) workload inside one meter interval; returns the interval and the workload's minflt over it. */
async function intervalOver(w: Memtouch, m: ReturnType<typeof meterOn>, name: string, mib: number): Promise<{ record: OverheadRecord; faults: number }> {
  await w.map(name, mib);
  // Quiet points: the workload waits on its stdin, so minflt read here is the interval's edge.
  const before = minflt(w.pid);
  m.meter.sampleNow();
  await w.send(`touch ${name}`);
  const faults = minflt(w.pid) - before;
  const record = m.meter.sampleNow();
  assert.ok(record, `the interval over 'touch ${name}' was read (errors: ${m.meter.stats().lastError ?? 'none'})`);
  assert.equal(minflt(w.pid), before + faults, 'the workload was quiet at the interval edges');
  return { record, faults };
}

const programOf = (r: OverheadRecord, name: string) => {
  const p = r.programs.find((x) => x.program === name);
  assert.ok(p, `${name} is in the interval (got ${r.programs.map((x) => x.program).join(', ')})`);
  return p;
};

describe('the meter on the real kernel', () => {
  test('sampled faults, period 1, pid target: pl_fault_sample runs exactly once per minor fault of the workload, at any size; ns per run positive and finite', async () => {
    const w = await workload();
    const m = meterOn({ families: ['fault'], faultMode: 'sampled', faultSamplePeriod: 1, targets: { pids: [w.pid], cgroups: [] } });
    try {
      assert.equal(m.meter.stats().statsEnabled, true, `stats enabled (${m.meter.stats().statsError ?? ''})`);
      for (const [name, mib] of [
        ['small', 8],
        ['large', 64],
      ] as const) {
        const { record, faults } = await intervalOver(w, m, name, mib);
        assert.ok(faults >= mib * PAGES_PER_MIB, `${name}: the workload faulted ${faults} times`);
        const p = programOf(record, 'pl_fault_sample');
        // The perf event is the workload's own (scoped in the kernel): nothing else can add runs.
        assert.equal(p.runCount, faults, `${name}: runs of pl_fault_sample vs the workload's minflt`);
        assert.equal(p.faultPath, 1);
        const f = overheadFigures(record);
        const nsPerRun = f.programs.find((x) => x.name === 'pl_fault_sample')!.nsPerRun!;
        assert.ok(Number.isFinite(nsPerRun) && nsPerRun > 0, `${name}: ${nsPerRun} ns per run`);
        assert.ok(record.overhead.hostFaults >= faults, `${name}: the host's pgfault (${record.overhead.hostFaults}) holds the workload's ${faults}`);
        const perFault = f.faultPathNsPerFault!;
        assert.ok(Number.isFinite(perFault) && perFault > 0, `${name}: ${perFault} ns per host fault`);
        console.log(`# sampled period 1, ${name}: ${faults} faults, pl_fault_sample ${nsPerRun.toFixed(1)} ns/run, ${perFault.toFixed(1)} ns per host fault, agent CPU ${(f.agentCpuShare * 100).toFixed(3)}%`);
      }
    } finally {
      m.stop();
    }
    await w.exit();
  });

  test('sampled faults, default period 16: runs are the workload minflt / 16, within one sample', async () => {
    const w = await workload();
    const m = meterOn({ ...SAMPLED_PROBES_CONFIG, families: ['fault'], targets: { pids: [w.pid], cgroups: [] } });
    try {
      const { record, faults } = await intervalOver(w, m, 'a', 64);
      const runs = programOf(record, 'pl_fault_sample').runCount;
      // The perf event fires on every 16th fault of the workload: floor(faults / 16), or one more with the residue from before the interval.
      assert.ok(runs === Math.floor(faults / 16) || runs === Math.floor(faults / 16) + 1, `${runs} runs for ${faults} faults`);
      const f = overheadFigures(record);
      console.log(`# sampled period 16: ${faults} faults, ${runs} runs, ${f.programs.find((x) => x.name === 'pl_fault_sample')!.nsPerRun!.toFixed(1)} ns/run, ${f.faultPathNsPerFault!.toFixed(2)} ns per host fault`);
    } finally {
      m.stop();
    }
    await w.exit();
  });

  test('exact mode (page_fault_user and mm_page_alloc on every fault of the host, filtered inside): runs at least the workload minflt; each program ns per run positive and finite', async () => {
    const w = await workload();
    const m = meterOn({ families: ['fault', 'promotion'], faultMode: 'aggregated', promotionMode: 'exact', targets: { pids: [w.pid], cgroups: [] } });
    try {
      const { record, faults } = await intervalOver(w, m, 'a', 64);
      // Not scoped in the kernel: other processes' faults run it too, so only the lower bound is the workload's.
      const p = programOf(record, 'pl_page_fault_user');
      assert.ok(p.runCount >= faults, `pl_page_fault_user ran ${p.runCount} times for the workload's ${faults} faults`);
      // Every fault of the workload allocates a page.
      assert.ok(programOf(record, 'pl_mm_page_alloc').runCount >= faults);
      const f = overheadFigures(record);
      for (const x of f.programs.filter((y) => y.runs > 0)) assert.ok(Number.isFinite(x.nsPerRun!) && x.nsPerRun! > 0, `${x.name}: ${x.nsPerRun} ns per run`);
      console.log(
        `# exact: ${faults} faults; ${f.programs.filter((x) => x.runs > 0).map((x) => `${x.name} ${x.runs} runs ${x.nsPerRun!.toFixed(1)} ns/run`).join('; ')}; ` +
          `${f.faultPathNsPerFault!.toFixed(1)} ns per host fault, fault-path CPU ${(f.faultPathCpuShare * 100).toFixed(3)}%, est. slowdown ${((f.faultPathSlowdown ?? NaN) * 100).toFixed(3)}%`,
      );
    } finally {
      m.stop();
    }
    await w.exit();
  });
});

describe('the agent: metrics endpoint, events topic, ClickHouse', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    await broker?.close();
  });

  test('the overhead intervals read back from Kafka and from ClickHouse after the sink equal what the meter produced; the metrics endpoint shows the series', async () => {
    const w = await workload();
    const settings = collectSettings(
      { collector: { overhead: { intervalMs: 300 }, batch: { maxDelayMs: 50 } } },
      { brokers: [broker.bootstrap], pids: [w.pid], cgroups: [], families: ['fault'], metricsPort: 0 },
      { PAGELOOP_HOST: 'overhead-test-host' },
    );
    const running = await startCollecting(settings, { probes: createProbes({ ...DEFAULT_PROBES_CONFIG, ...settings.probes, ...SAMPLED_PROBES_CONFIG, faultSamplePeriod: 1 }, { addon: loadAddon() }), sink: { kafka: broker.kafka }, log: () => undefined });
    const meter = running.overhead!;
    let metricsText = '';
    let faults = 0;
    try {
      await w.map('a', 32);
      const before = minflt(w.pid);
      await w.send('touch a');
      faults = minflt(w.pid) - before;
      // Wait for intervals to close after the workload (the meter's own timer; no time is asserted).
      const intervalsThen = meter.stats().intervals;
      for (let i = 0; meter.stats().intervals < intervalsThen + 2; i++) {
        assert.ok(i < 600, 'the meter closes intervals on its timer (none in 60 s)');
        await new Promise((r) => setTimeout(r, 100));
      }
      const port = running.metricsPort!;
      metricsText = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    } finally {
      await running.stop();
    }
    await w.exit();
    const produced = meter.stats();
    assert.equal(produced.statsEnabled, true, `stats enabled (${produced.statsError ?? ''})`);
    assert.equal(produced.readErrors, 0, produced.lastError);

    // The metrics endpoint.
    assert.match(metricsText, /^pageloop_bpf_stats_enabled 1$/m);
    const series = (name: string): number => {
      const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metricsText);
      assert.ok(m, `${name} is served`);
      return Number(m[1]);
    };
    // Scraped after two more intervals closed: every fault of the workload is in the totals.
    const scrapedRuns = series('pageloop_bpf_program_runs_total{program="pl_fault_sample",fault_path="1"}');
    const scrapedSeconds = series('pageloop_bpf_program_run_seconds_total{program="pl_fault_sample",fault_path="1"}');
    assert.ok(scrapedRuns >= faults, `runs_total ${scrapedRuns} holds the workload's ${faults} faults`);
    const scrapedNsPerRun = (scrapedSeconds * 1e9) / scrapedRuns;
    assert.ok(Number.isFinite(scrapedNsPerRun) && scrapedNsPerRun > 0, `${scrapedNsPerRun} ns per run from the counters`);
    const agentShare = series('pageloop_agent_cpu_share');
    assert.ok(agentShare > 0 && agentShare < 1, `agent CPU share ${agentShare}`);
    // The newest interval had no fault of the target (it is done): 0 ns per host fault, a number, not NaN.
    assert.ok(Number.isFinite(series('pageloop_fault_path_ns_per_fault')));

    // Kafka: every overhead row of this collector run, in order of its batches.
    const instance = settings.collector.instance;
    const rows = { overhead: [] as OverheadRow[], programCosts: [] as ProgramCostRow[] };
    const records = await readTopic(broker.kafka, TOPIC.events, (rs) => {
      const batches = rs.map((r) => decodeEventBatch(r.value!)).filter((b) => b.collectorId === instance);
      return batches.reduce((n, b) => n + b.overhead.rows, 0) >= produced.intervals;
    });
    const ours = records.filter((r) => decodeEventBatch(r.value!).collectorId === instance);
    for (const r of ours) {
      const s = samplesFromEventBatch(decodeEventBatch(r.value!));
      rows.overhead.push(...s.overhead);
      rows.programCosts.push(...s.programCosts);
    }
    assert.equal(rows.overhead.length, produced.intervals, 'one overhead row per interval the meter closed');
    const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
    assert.equal(sum(rows.overhead.map((o) => o.agentCpuNs)), produced.totals.agentCpuNs);
    assert.equal(sum(rows.overhead.map((o) => o.hostFaults)), produced.totals.hostFaults);
    assert.equal(sum(rows.overhead.map((o) => o.intervalNs)), produced.totals.intervalNs);
    for (const [program, t] of Object.entries(produced.totals.programs)) {
      const mine = rows.programCosts.filter((p) => p.program === program);
      assert.equal(sum(mine.map((p) => p.runCount)), t.runs, `${program}: runs on the wire`);
      assert.equal(sum(mine.map((p) => p.runTimeNs)), t.runTimeNs, `${program}: run time on the wire`);
    }
    const sampleRuns = produced.totals.programs.pl_fault_sample!.runs;
    assert.ok(sampleRuns >= faults, `pl_fault_sample ran ${sampleRuns} times over the run, the workload faulted ${faults} times in it`);
    assert.ok(rows.overhead.every((o) => o.statsEnabled === 1 && o.cpus === loadAddon().possibleCpus()));

    // ClickHouse: the sink's rows from those records, into the embedded engine.
    const dir = mkdtempSync(join(tmpdir(), 'pageloop-overhead-'));
    const ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
    try {
      await applyMigrations(ch, MIGRATIONS);
      const sinkRecords = ours.map((r) => ({ topic: TOPIC.events, partition: r.partition, offset: Number(r.offset), timestampMs: Date.now(), key: r.key === null ? null : Buffer.from(r.key), value: r.value }));
      const { tables, bad } = await buildBlocks(sinkRecords);
      assert.deepEqual(bad, []);
      const offsets = sinkRecords.map((r) => r.offset);
      await insertBlock(ch, TOPIC.events, sinkRecords[0]!.partition, { first: Math.min(...offsets), last: Math.max(...offsets) }, tables);
      const fromCh = await ch.queryRows<Record<string, string | number>>(
        `SELECT ts_ns, interval_ns, cpus, stats_enabled, agent_cpu_ns, host_faults, host_busy_ns FROM overhead WHERE collector_id = '${instance}' ORDER BY ts_ns`,
      );
      assert.deepEqual(
        fromCh.map((r) => ({ tsNs: Number(r.ts_ns), intervalNs: Number(r.interval_ns), cpus: Number(r.cpus), statsEnabled: Number(r.stats_enabled), agentCpuNs: Number(r.agent_cpu_ns), hostFaults: Number(r.host_faults), hostBusyNs: Number(r.host_busy_ns) })),
        [...rows.overhead].sort((a, b) => a.tsNs - b.tsNs),
      );
      const costs = await ch.queryRows<Record<string, string | number>>(
        `SELECT ts_ns, program, fault_path, run_count, run_time_ns FROM program_costs WHERE collector_id = '${instance}' ORDER BY ts_ns, program`,
      );
      assert.deepEqual(
        costs.map((r) => ({ tsNs: Number(r.ts_ns), program: String(r.program), faultPath: Number(r.fault_path), runCount: Number(r.run_count), runTimeNs: Number(r.run_time_ns) })),
        [...rows.programCosts].sort((a, b) => a.tsNs - b.tsNs || (a.program < b.program ? -1 : a.program > b.program ? 1 : 0)),
      );
    } finally {
      await ch.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const f = produced.last!;
    console.log(`# agent: ${faults} workload faults; pl_fault_sample ns/run over the run: ${(produced.totals.programs.pl_fault_sample!.runTimeNs / sampleRuns).toFixed(1)}; newest interval agent CPU ${(f.agentCpuShare * 100).toFixed(3)}% of host`);
  });
});

describe('stats the kernel refuses', () => {
  test("the agent's own capability set (no CAP_SYS_ADMIN): BPF_ENABLE_STATS is refused, the agent runs on, says why, and its intervals say stats off with no program rows", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pageloop-overhead-caps-'));
    try {
      const config = join(dir, 'config.json');
      const out = join(dir, 'rec.bin');
      writeFileSync(config, JSON.stringify({ collector: { overhead: { intervalMs: 300 } } }));
      const set = ['-all', ...AGENT_CAPABILITIES.map((c) => `+${c.toLowerCase()}`)].join(',');
      const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
      const r = spawnSync('setpriv', ['--inh-caps', set, '--ambient-caps', set, '--bounding-set', set, '--', process.execPath, main, 'record', '--out', out, '--duration', '2', '--config', config], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.ok(!r.error, `setpriv (util-linux) runs: ${r.error?.message ?? ''}`);
      assert.equal(r.status, 0, `exit ${r.status} (signal ${r.signal ?? 'none'}): ${r.stderr}`);
      assert.match(r.stderr, /overhead: BPF stats could not be enabled \(bpf_enable_stats: Operation not permitted \(errno 1\): BPF_ENABLE_STATS needs CAP_SYS_ADMIN/);
      const rows = readRecordFile(out).map((rec) => samplesFromEventBatch(decodeEventBatch(rec.value)));
      const overhead = rows.flatMap((x) => x.overhead);
      assert.ok(overhead.length >= 1, 'intervals were recorded');
      // Stats stay on for everyone only if the host's sysctl says so; then the agent does report run times.
      const anyway = bpfStatsSysctlOn();
      assert.ok(overhead.every((o) => o.statsEnabled === (anyway ? 1 : 0)), `stats_enabled ${overhead.map((o) => o.statsEnabled).join(',')} with the sysctl ${anyway ? 'on' : 'off'}`);
      if (!anyway) assert.deepEqual(rows.flatMap((x) => x.programCosts), [], 'no program row claims a cost it did not measure');
      assert.ok(overhead.some((o) => o.agentCpuNs > 0), "the agent's CPU is still reported");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
