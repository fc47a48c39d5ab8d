/**
 * Every dashboard query against data written by a real pipeline run: a
 * workload on the real kernel, the probes and collector into a real Kafka
 * broker, the processors, the feedback agent, and the sink into the real
 * ClickHouse engine. Each query, with the plugin's macros expanded, must run
 * and return exactly its declared columns; the panels of what such a run
 * produces (events, faults by region, promotions, compaction, swap, scores,
 * hints, actions, collector batches) must return rows.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { ensureZramSwap, type SwapDevice } from '../deploy/zram.js';
import { startClosedLoop } from '../bench/closed-loop.js';
import { startMemtouch } from '../bench/workloads/memtouch.js';
import { createSink, DEFAULT_SINK_CONFIG, type Sink } from '../sink/sink.js';
import { queryRegistry, type QueryEntry } from './build.js';
import { expandMacros, ALL_VALUE, type TemplateVariable } from './macros.js';

const DATABASE = 'pageloop';
const NUMA = '/proc/sys/kernel/numa_balancing';

/** Panels whose data a short run of the closed loop produces for sure. */
const MUST_HAVE_ROWS = [
  'Events per second by host and family',
  'Faults per second',
  'Fault density by region',
  'Promotions by page size',
  'Compaction latency',
  'Swap-out and swap-in',
  'Region scores',
  'Hints issued by action',
  'Hint actions by outcome',
];

interface QueryResult {
  meta: { name: string; type: string }[];
  data: Record<string, unknown>[];
}

describe('dashboards on a real pipeline run', () => {
  let broker: TestBroker;
  let swap: SwapDevice;
  let ch: PageloopClickHouse;
  let sink: Sink;
  let dataDir = '';
  let numaBefore = '0';
  let from = 0;
  let to = 0;
  let host = '';

  before(async () => {
    broker = await startTestBroker();
    swap = ensureZramSwap(1024);
    numaBefore = readFileSync(NUMA, 'utf8').trim();
    writeFileSync(NUMA, '1');
    dataDir = await mkdtemp(join(tmpdir(), 'pageloop-dashboards-run-'));
    ch = await createClickHouseClient({ database: DATABASE, dataDir });
    sink = createSink({ ...DEFAULT_SINK_CONFIG, groupId: `dashboards-${process.pid}`, fetchMaxWaitMs: 200, fetchMinBytes: 1 }, { kafka: broker.kafka, clickhouse: ch });
    await sink.start();

    from = Date.now() - 60_000;
    const pin = `/sys/fs/bpf/pageloop-dash-test-${process.pid}/pl_hints`;
    const w = await startMemtouch();
    await w.send('idlethread');
    const loop = await startClosedLoop({ kafka: broker.kafka, pid: w.pid, comm: 'memtouch', hintMapPinPath: pin, windowMs: 1000 });
    try {
      await w.map('hot', 8, 'plain');
      await w.send('touch hot');
      await w.map('cold', 16, 'plain');
      await w.send('touch cold');
      await w.map('huge', 8, 'hugepage'); // fault-time promotions
      await w.send('touch huge');
      execFileSync('sh', ['-c', 'echo 1 > /proc/sys/vm/compact_memory']);
      for (let i = 0; i < 20; i++) await w.send('hotloop hot 1000 3');
      await w.send('read cold'); // refaults of whatever was paged out
    } finally {
      await loop.stop();
      await w.exit();
      rmSync(dirname(pin), { recursive: true, force: true });
    }
    // Let the sink catch up with every topic.
    for (let i = 0; i < 60; i++) {
      const [row] = await ch.queryRows<{ n: string }>('SELECT count() AS n FROM hint_actions');
      if (Number(row?.n ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    await new Promise((r) => setTimeout(r, 3000));
    to = Date.now() + 60_000;
    const [h] = await ch.queryRows<{ host: string }>("SELECT host FROM events WHERE host LIKE 'loop-%' LIMIT 1");
    host = h?.host ?? '';
  });

  after(async () => {
    await sink?.stop();
    await ch?.close();
    writeFileSync(NUMA, numaBefore);
    swap?.teardown();
    await broker?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function run(entry: Pick<QueryEntry, 'sql'>, variables: readonly TemplateVariable[]): Promise<QueryResult & { sql: string }> {
    const sql = expandMacros(entry.sql, { from, to, intervalMs: 10_000, variables });
    assert.doesNotMatch(sql, /\$/, `left unexpanded:\n${sql}`);
    const rs = await ch.client.query({ query: sql, format: 'JSON' });
    return { ...((await rs.json<Record<string, unknown>>()) as unknown as QueryResult), sql };
  }

  it('every query returns its declared columns, and the panels of what ran return rows', async () => {
    assert.ok(host, 'the sink stored the run\'s events');
    const variables: TemplateVariable[] = [
      { name: 'host', value: [host] },
      { name: 'process', value: [ALL_VALUE] },
    ];
    const failures: string[] = [];
    const withRows = new Set<string>();
    for (const entry of queryRegistry()) {
      const where = `${entry.dashboard} / ${entry.title}`;
      try {
        const r = await run(entry, variables);
        const names = r.meta.map((m) => m.name);
        if (JSON.stringify(names) !== JSON.stringify(entry.columns)) failures.push(`${where}: columns ${JSON.stringify(names)}, expected ${JSON.stringify(entry.columns)}`);
        if (r.data.length > 0) withRows.add(entry.title);
      } catch (err) {
        failures.push(`${where}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    assert.deepEqual(failures, []);
    const missing = MUST_HAVE_ROWS.filter((t) => !withRows.has(t));
    assert.deepEqual(missing, [], `panels without rows after a real run (with rows: ${[...withRows].join('; ')})`);
  });
});
