/** The metrics endpoint: what it serves, and who it serves it to. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAMILIES } from '../bpf/events.js';
import { UsageError } from '../lib/errors.js';
import type { CollectorStats } from './collector.js';
import { createCollectorMetrics } from './metrics.js';
import { zeroCounts } from './queue.js';
import { createOverheadMeter, DEFAULT_OVERHEAD_CONFIG } from './overhead.js';

function stats(): CollectorStats {
  const drained = zeroCounts();
  drained.fault = 12;
  const perFamily = Object.fromEntries(FAMILIES.map((f) => [f, [0, 0]])) as CollectorStats['loss']['perFamily'];
  return {
    drained, produced: zeroCounts(), dropped: zeroCounts(), queuedBytes: 0, queuedEvents: 0, batchesProduced: 0,
    produceErrors: 0, lastProduceError: undefined, sequence: 0, loss: { perFamily, total: 0 }, rejectedChunks: 2, lastRejectReason: 'x',
  };
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

test('on loopback with no credentials, /metrics is served to anyone on the machine', async () => {
  const m = createCollectorMetrics(stats);
  try {
    const port = await m.serve('127.0.0.1', 0);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /pageloop_collector_events_drained_total\{family="fault"\} 12/);
    assert.match(text, /pageloop_collector_chunks_rejected_total 2/);
  } finally {
    await m.close();
  }
});

test('beyond loopback the endpoint refuses to start without a password, naming the key', () => {
  const m = createCollectorMetrics(stats);
  assert.throws(() => m.serve('0.0.0.0', 0), (err: unknown) => err instanceof UsageError && /^collector\.metrics\.host: 0\.0\.0\.0 .*collector\.metrics\.password/.test(err.message));
});

test('with credentials set, a scrape without them or with wrong ones gets 401 and nothing else', async () => {
  const m = createCollectorMetrics(stats);
  try {
    const port = await m.serve('0.0.0.0', 0, { user: 'prometheus', password: 's3cret' });
    const url = `http://127.0.0.1:${port}/metrics`;
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Basic realm="pageloop"');
    assert.doesNotMatch(await none.text(), /pageloop_/);
    assert.equal((await fetch(url, { headers: basic('prometheus', 'wrong') })).status, 401);
    assert.equal((await fetch(url, { headers: basic('other', 's3cret') })).status, 401);
    const ok = await fetch(url, { headers: basic('prometheus', 's3cret') });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /pageloop_collector_events_drained_total\{family="fault"\} 12/);
  } finally {
    await m.close();
  }
});

/** A meter that has closed one interval over scripted readings; `enable` throws to model stats that cannot be turned on. */
function meterAfterOneInterval(enable: () => { close(): void }) {
  const readings = [
    { atNs: 1e9, programs: [{ name: 'pl_page_fault_user', runCount: 100, runTimeNs: 10_000 }], agentCpuNs: 0, hostFaults: 1000, hostBusyNs: 0 },
    { atNs: 3e9, programs: [{ name: 'pl_page_fault_user', runCount: 20_100, runTimeNs: 10_000 + 20_000 * 150 }], agentCpuNs: 8e6, hostFaults: 21_000, hostBusyNs: 1e9 },
  ];
  let i = 0;
  const meter = createOverheadMeter({ ...DEFAULT_OVERHEAD_CONFIG, intervalMs: 3_600_000 }, { read: () => readings[i++]!, enableStats: enable, cpus: 2 });
  meter.start(() => undefined);
  meter.sampleNow();
  return meter;
}

test('the overhead series: stats on, per-program ns per run and totals, agent CPU share, ns per fault, CPU share and slowdown', async () => {
  const meter = meterAfterOneInterval(() => ({ close() {} }));
  const m = createCollectorMetrics(stats, () => meter.stats());
  try {
    const text = await (await fetch(`http://127.0.0.1:${await m.serve('127.0.0.1', 0)}/metrics`)).text();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(series + ' '));
      assert.ok(line, `${series} is served`);
      return Number(line.slice(series.length + 1));
    };
    assert.equal(value('pageloop_bpf_stats_enabled'), 1);
    assert.equal(value('pageloop_bpf_program_ns_per_run{program="pl_page_fault_user",fault_path="1"}'), 150);
    assert.equal(value('pageloop_bpf_program_runs_total{program="pl_page_fault_user",fault_path="1"}'), 20_000);
    assert.equal(value('pageloop_bpf_program_run_seconds_total{program="pl_page_fault_user",fault_path="1"}'), 0.003);
    assert.equal(value('pageloop_fault_path_ns_per_fault'), 150);
    assert.equal(value('pageloop_host_faults_per_second'), 10_000);
    assert.equal(value('pageloop_fault_path_cpu_share'), 3e6 / (2e9 * 2));
    assert.equal(value('pageloop_fault_path_slowdown_ratio'), 3e6 / (1e9 - 3e6));
    assert.equal(value('pageloop_agent_cpu_share'), 8e6 / (2e9 * 2));
    assert.equal(value('pageloop_agent_cpu_seconds_total'), 0.008);
    assert.equal(value('pageloop_overhead_read_errors_total'), 0);
  } finally {
    await m.close();
  }
});

test('the overhead series with stats off: pageloop_bpf_stats_enabled 0, no per-program series and NaN per-fault figures (not 0), agent CPU still there', async () => {
  const meter = meterAfterOneInterval(() => {
    throw new Error('bpf_enable_stats: EPERM');
  });
  const m = createCollectorMetrics(stats, () => meter.stats());
  try {
    const text = await (await fetch(`http://127.0.0.1:${await m.serve('127.0.0.1', 0)}/metrics`)).text();
    assert.match(text, /^pageloop_bpf_stats_enabled 0$/m);
    assert.match(text, /^pageloop_agent_cpu_share 0\.002$/m);
    assert.ok(!text.split('\n').some((l) => l.startsWith('pageloop_bpf_program_ns_per_run{')), 'no per-program series while stats are off');
    for (const gauge of ['pageloop_fault_path_ns_per_fault', 'pageloop_fault_path_cpu_share', 'pageloop_fault_path_slowdown_ratio', 'pageloop_bpf_cpu_share']) {
      // prom-client writes "Nan"; Prometheus parses NaN in any case.
      assert.match(text, new RegExp(`^${gauge} NaN$`, 'mi'), `${gauge} says "not measured" while stats are off`);
    }
  } finally {
    await m.close();
  }
});
