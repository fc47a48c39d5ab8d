/**
 * Records to rows on the real embedded engine (no Kafka here: sink.test.ts
 * runs the whole path): every table gets exactly the rows its records
 * describe, a block inserted again under its token adds nothing, and the
 * rollups agree with the raw events.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { startClickHouseHttpEndpoint } from '../deploy/clickhouse/http-endpoint.js';
import { applyMigrations } from '../clickhouse/migrations.js';
import { TOPIC } from '../schemas/topics.js';
import { NativeBlock, varintBytes } from '../clickhouse/native-block.js';
import { eventWallMs } from './rows-events.js';
import type { SinkRecord } from './table-blocks.js';
import { DATABASE, MIGRATIONS } from '../schemas/clickhouse-tables.js';
import { buildBlocks } from './build.js';
import { insertBlock } from './insert.js';
import { ZERO_TOTALS, actionValue, addTotals, deadLetterValue, eventRecord, hintValue, phaseValue, scoreValue, tunerValue } from '../test/sink-records.js';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);

function rec(topic: string, offset: number, value: Buffer | null, key = 'node-a'): SinkRecord {
  return { topic, partition: 0, offset, timestampMs: NOW + offset, key: Buffer.from(key), value };
}

test('varints and wall time', () => {
  assert.deepEqual([...varintBytes(0)], [0]);
  assert.deepEqual([...varintBytes(300)], [0xac, 0x02]);
  assert.equal(eventWallMs(10_000, 5_000_000_000, 5_000_000_000), 10_000);
  assert.equal(eventWallMs(10_000, 5_000_000_000, 4_000_000_000), 9_000);
  assert.equal(eventWallMs(10_000, 0, 123), 10_000);
});

test('a NativeBlock sends only the columns that hold something, in a stable order', () => {
  const b = new NativeBlock('t', [
    { name: 'a', type: 'UInt32' },
    { name: 'b', type: 'String' },
    { name: 'c', type: 'UInt64' },
  ]);
  const r = b.addRows(3);
  b.u32(0, r, 0);
  b.u64(2, r + 1, 2 ** 40 + 5);
  b.strRun(1, r, 2, '');
  const enc = b.encode()!;
  assert.deepEqual(enc.columns, ['c']);
  const again = new NativeBlock('t', b.columns);
  again.addRows(3);
  again.u64(2, 1, 2 ** 40 + 5);
  assert.deepEqual(Buffer.concat(again.encode()!.body), Buffer.concat(enc.body));
});

describe('rows on the embedded engine', () => {
  let dir: string;
  let ch: PageloopClickHouse;
  const count = async (sql: string): Promise<number> => Number((await ch.queryRows<{ n: string }>(sql))[0]!.n);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-sink-rows-'));
    ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
    await applyMigrations(ch, MIGRATIONS);
  });
  after(async () => {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('events: every type, samplers, loss and drops; a replayed block adds nothing', async () => {
    let totals = ZERO_TOTALS;
    const records: SinkRecord[] = [];
    for (let seq = 0; seq < 4; seq++) {
      const r = eventRecord('node-a', seq, { faults: 500, mixed: true });
      totals = addTotals(totals, r.totals);
      records.push(rec(TOPIC.events, seq, r.value));
    }
    records.push(rec(TOPIC.events, 4, Buffer.from([0xff, 0xff, 0xff])));
    const { tables, bad } = await buildBlocks(records);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!.reason, /./);
    for (let i = 0; i < 2; i++) await insertBlock(ch, TOPIC.events, 0, { first: 0, last: 4 }, tables);

    assert.equal(await count('SELECT count() AS n FROM events'), totals.events);
    assert.equal(await count("SELECT sum(weight) AS n FROM events WHERE type IN ('fault', 'fault_summary')"), totals.faults);
    // sample_period: a summary's own (16 in these records), a raw fault's sample weight (4, or 1 when 0), 1 for every other row.
    assert.equal(await count("SELECT countIf(sample_period != 16) AS n FROM events WHERE type = 'fault_summary'"), 0);
    assert.ok((await count("SELECT count() AS n FROM events WHERE type = 'fault_summary'")) > 0);
    assert.equal(await count("SELECT countIf(sample_period != weight) AS n FROM events WHERE type = 'fault'"), 0);
    assert.ok((await count("SELECT countIf(sample_period = 4) AS n FROM events WHERE type = 'fault'")) > 0);
    assert.equal(await count("SELECT countIf(sample_period != 1) AS n FROM events WHERE type NOT IN ('fault', 'fault_summary')"), 0);
    // exited: the summaries of test/sink-records.ts say their process is gone; nothing else does.
    assert.equal(await count("SELECT countIf(exited != 1) AS n FROM events WHERE type = 'fault_summary'"), 0);
    assert.equal(await count("SELECT countIf(exited != 0) AS n FROM events WHERE type != 'fault_summary'"), 0);
    assert.equal(await count('SELECT sum(faults) AS n FROM region_minute'), totals.faults);
    assert.equal(await count('SELECT sum(write_faults) AS n FROM region_minute'), totals.writeFaults);
    assert.equal(await count('SELECT sum(promotions) AS n FROM region_minute'), totals.promotions);
    assert.equal(await count('SELECT sum(promotions_2m) AS n FROM region_minute'), totals.promotions2m);
    assert.equal(await count('SELECT sum(fallbacks) AS n FROM region_minute'), totals.fallbacks);
    assert.equal(await count('SELECT sum(swap_outs) AS n FROM region_minute'), totals.swapOuts);
    assert.equal(await count('SELECT sum(swap_ins) AS n FROM region_minute'), totals.swapIns);
    assert.equal(await count('SELECT sum(major_faults) AS n FROM region_minute'), totals.majorFaults);
    assert.equal(await count('SELECT count() AS n FROM compaction_runs'), totals.compactions);
    assert.equal(await count('SELECT count() AS n FROM collector_batches'), 4);
    assert.equal(await count('SELECT sum(events) AS n FROM collector_batches'), totals.events);
    assert.equal(await count('SELECT count() AS n FROM collector_loss'), totals.lossRows);
    assert.equal(await count('SELECT count() AS n FROM collector_drops'), totals.dropRows);
    assert.equal(await count('SELECT count() AS n FROM vmstat'), totals.vmstatRows);
    assert.equal(await count('SELECT count() AS n FROM psi'), totals.psiRows);
    assert.equal(await count('SELECT count() AS n FROM damon_regions'), totals.damonRows);
    assert.equal(await count('SELECT count() AS n FROM overhead'), totals.overheadRows);
    assert.equal(await count('SELECT count() AS n FROM program_costs'), totals.programCostRows);

    // Values, one of each kind of column.
    const [p] = await ch.queryRows<Record<string, string | number>>(
      "SELECT host, boot_id, pid, start_ns, page_order, failed, gfp, kafka_offset, toUnixTimestamp64Milli(time) AS ms, ts_ns FROM events WHERE type = 'promotion' AND failed = 1 AND kafka_offset = 2",
    );
    assert.equal(p!.host, 'node-a');
    assert.equal(p!.page_order, 9);
    assert.equal(p!.gfp, 0x100cca);
    assert.equal(p!.kafka_offset, '2');
    const [c] = await ch.queryRows<{ comm: string; duration_ns: string; direct: number }>("SELECT comm, duration_ns, direct FROM compaction_runs WHERE kafka_offset = 3");
    assert.deepEqual(c, { comm: 'java', duration_ns: String(1_500_000 + 3), direct: 1 });
    const [se] = await ch.queryRows<{ swap_entries: string }>("SELECT swap_entries FROM events WHERE type = 'swap_entries' LIMIT 1");
    assert.equal(se!.swap_entries, '-3');
    const vm = await ch.queryRows<{ name: string; delta: string }>('SELECT name, delta FROM vmstat WHERE kafka_offset = 1 ORDER BY name');
    assert.deepEqual(vm, [
      { name: 'nr_free_pages', delta: '-4096' },
      { name: 'pgfault', delta: '1201' },
      { name: 'thp_fault_alloc', delta: '3' },
    ]);
    // Overhead rows: the interval's own, and each program's with its interval's length and CPUs.
    const [oh] = await ch.queryRows<Record<string, string | number>>(
      'SELECT host, collector_id, interval_ns, cpus, stats_enabled, agent_cpu_ns, host_faults, host_busy_ns FROM overhead WHERE kafka_offset = 2',
    );
    assert.deepEqual(oh, {
      host: 'node-a',
      collector_id: 'collector-node-a',
      interval_ns: '10000000000',
      cpus: 4,
      stats_enabled: 1,
      agent_cpu_ns: '40000002',
      host_faults: '250000',
      host_busy_ns: '20000000000',
    });
    const pc = await ch.queryRows<Record<string, string | number>>('SELECT program, fault_path, run_count, run_time_ns, interval_ns, cpus FROM program_costs WHERE kafka_offset = 2 ORDER BY program');
    assert.deepEqual(pc, [
      { program: 'pl_mm_compaction_begin', fault_path: 0, run_count: '2', run_time_ns: '1000', interval_ns: '10000000000', cpus: 4 },
      { program: 'pl_page_fault_user', fault_path: 1, run_count: '250000', run_time_ns: '37500002', interval_ns: '10000000000', cpus: 4 },
    ]);
    // Wall time: the newest event of a batch sits at the record timestamp.
    const [w] = await ch.queryRows<{ ms: string }>('SELECT toUnixTimestamp64Milli(max(time)) AS ms FROM events WHERE kafka_offset = 1');
    assert.equal(Number(w!.ms), NOW + 1);
    // No row is doubled: each (record, event) once.
    assert.equal(await count('SELECT count() - uniqExact(kafka_offset, type, ts_ns, address, ip, cpu) AS n FROM events'), 0);
  });

  test('derived topics: scores (and their sizes), phases, hints with a tombstone, actions, tuner, dead letters', async () => {
    const records = [
      rec(TOPIC.scores, 0, scoreValue('node-a', 0)),
      rec(TOPIC.scores, 1, scoreValue('node-b', 1)),
      rec(TOPIC.scores, 2, Buffer.from('not a score')),
    ];
    const built = await buildBlocks(records);
    assert.equal(built.bad.length, 1);
    await insertBlock(ch, TOPIC.scores, 0, { first: 0, last: 2 }, built.tables);
    const scores = await ch.queryRows<{ host: string; region: string; size_kb: number[]; net: number[]; faults: string }>(
      'SELECT host, region, size_kb, net, faults FROM scores ORDER BY host',
    );
    assert.deepEqual(scores, [
      { host: 'node-a', region: 'anon:2+0x200000', size_kb: [4, 64, 2048], net: [0, 1, 2], faults: '100' },
      { host: 'node-b', region: 'anon:2+0x200000', size_kb: [4, 64, 2048], net: [0, 2, 3], faults: '101' },
    ]);
    assert.equal(await count('SELECT count() AS n FROM score_sizes'), 6);
    assert.equal(await count("SELECT count() AS n FROM score_sizes WHERE size_kb = 2048 AND region = 'anon:2+0x200000'"), 2);

    const others: [string, SinkRecord[]][] = [
      [TOPIC.phases, [rec(TOPIC.phases, 0, phaseValue('node-a', 0)), rec(TOPIC.phases, 1, phaseValue('node-a', 1))]],
      [TOPIC.hints, [rec(TOPIC.hints, 0, hintValue('node-a', 0)), rec(TOPIC.hints, 1, null, 'node-b')]],
      [TOPIC.actions, [rec(TOPIC.actions, 0, actionValue('node-a', 0)), rec(TOPIC.actions, 1, actionValue('node-a', 1))]],
      [TOPIC.tuner, [rec(TOPIC.tuner, 0, tunerValue(0)), rec(TOPIC.tuner, 1, tunerValue(1))]],
      [TOPIC.dlq, [rec(TOPIC.dlq, 0, deadLetterValue(0)), rec(TOPIC.dlq, 1, Buffer.from([0x0a, 0xff]))]],
    ];
    for (const [topic, recs] of others) {
      const b = await buildBlocks(recs);
      await insertBlock(ch, topic, 0, { first: 0, last: 1 }, b.tables);
    }
    const phases = await ch.queryRows<{ phase: number; before_hot_set_hash: string; after_hot_set_hash: string; reason: string }>(
      'SELECT phase, before_hot_set_hash, after_hot_set_hash, reason FROM phase_changes ORDER BY phase',
    );
    assert.deepEqual(phases, [
      { phase: 0, before_hot_set_hash: '12345', after_hot_set_hash: '999', reason: 'hot set changed' },
      { phase: 1, before_hot_set_hash: '12346', after_hot_set_hash: '1000', reason: 'hot set changed' },
    ]);
    const hints = await ch.queryRows<{ host: string; hint_id: string; action: string; withdrawn: number; region: string }>(
      'SELECT host, hint_id, action, withdrawn, region FROM hints ORDER BY host',
    );
    assert.deepEqual(hints, [
      { host: 'node-a', hint_id: 'node-a-hint-0', action: 'promote', withdrawn: 0, region: 'anon:2+0x200000' },
      { host: 'node-b', hint_id: '', action: '', withdrawn: 1, region: '' },
    ]);
    const actions = await ch.queryRows<{ outcome: string; reason: string }>('SELECT outcome, reason FROM hint_actions ORDER BY kafka_offset');
    assert.deepEqual(actions, [
      { outcome: 'applied', reason: '' },
      { outcome: 'refused', reason: 'not on the allow-list' },
    ]);
    const tuner = await ch.queryRows<{ host: string; new_value: number }>('SELECT host, new_value FROM tuner_changes ORDER BY kafka_offset');
    assert.deepEqual(tuner, [
      { host: '', new_value: 1.5 },
      { host: 'node-a', new_value: 2.5 },
    ]);
    const dead = await ch.queryRows<{ host: string; topic: string; offset: string; raw: string; reason: string }>('SELECT host, topic, offset, hex(raw) AS raw, reason FROM dead_letters');
    assert.deepEqual(dead, [{ host: 'node-z', topic: 'pageloop.events.v1', offset: '1000', raw: 'DEAD00', reason: 'unexpected end of input' }]);
  });

  test('the same Native inserts and tokens work against a server over HTTP', async () => {
    // The embedded engine served over HTTP stands in for a ClickHouse server.
    const endpoint = await startClickHouseHttpEndpoint({ engine: ch.engine!, host: '127.0.0.1', port: 0, readonly: false });
    const server = await createClickHouseClient({ url: endpoint.url, database: DATABASE }, {});
    try {
      assert.equal(server.mode, 'server');
      const before = await count('SELECT count() AS n FROM events');
      const r = eventRecord('node-http', 7, { faults: 1000, mixed: true });
      const built = await buildBlocks([rec(TOPIC.events, 100, r.value, 'node-http')]);
      for (let i = 0; i < 2; i++) await insertBlock(server, TOPIC.events, 0, { first: 100, last: 100 }, built.tables);
      assert.equal(await count('SELECT count() AS n FROM events') - before, r.totals.events);
      assert.equal(await count("SELECT sum(faults) AS n FROM region_minute WHERE host = 'node-http'"), r.totals.faults);
    } finally {
      await server.close();
      await endpoint.close();
    }
  });
});
