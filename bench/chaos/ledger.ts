/**
 * The chaos run's ledger, read from the data itself once the sink has
 * stopped: the embedded ClickHouse directory opened from the harness. Each
 * check says what it found and whether it holds; `ok` is all of them.
 */
import type { PageloopClickHouse } from '../../clickhouse/client.js';
import type { HintMapEntry } from '../../bpf/hint-map.js';

export interface InjectedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly what: 'malformed' | 'oversized';
}

export interface SyntheticExpectation {
  readonly host: string;
  readonly collectorId: string;
  readonly acked: readonly number[];
  readonly ackedEvents: number;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: unknown;
}

export interface LedgerResult {
  readonly ok: boolean;
  readonly checks: Check[];
  readonly drops: Array<{ collectorId: string; family: string; dropped: number; table: string }>;
  /** Dead letters by consumer and reason (counted drops of records that could not be read). */
  readonly deadLetters: Array<{ consumer: string; topic: string; reason: string; n: number }>;
}

const num = (v: unknown): number => Number(v);

export async function checkLedger(
  ch: PageloopClickHouse,
  expect: {
    synthetic: readonly SyntheticExpectation[];
    injected: readonly InjectedRecord[];
    canaryHost: string;
    canaryPid: number;
    /** The real agent's host name: its hint actions are compared with the kernel's hint map. */
    agentHost: string;
    /** The pinned hint map's entries, read after the agent stopped. */
    hintMap: readonly HintMapEntry[];
    regionShift: number;
  },
): Promise<LedgerResult> {
  const checks: Check[] = [];
  const q = <T>(sql: string): Promise<T[]> => ch.queryRows<T>(sql);

  const drops = [
    ...(await q<{ collector_id: string; family: string; d: string }>(
      'SELECT collector_id, family, max(dropped) AS d FROM collector_drops GROUP BY collector_id, family',
    )).map((r) => ({ collectorId: r.collector_id, family: r.family, dropped: num(r.d), table: 'collector_drops' })),
    ...(await q<{ collector_id: string; family: string; d: string }>(
      'SELECT collector_id, family, sum(l) AS d FROM (SELECT collector_id, family, cpu, max(lost) AS l FROM collector_loss GROUP BY collector_id, family, cpu) GROUP BY collector_id, family',
    )).map((r) => ({ collectorId: r.collector_id, family: r.family, dropped: num(r.d), table: 'collector_loss' })),
  ];
  // Only a queue-bound drop may explain a gap: ring-buffer loss happens in the
  // kernel, before a record is in any batch, so it never costs a sequence number.
  const explained = new Set(drops.filter((d) => d.dropped > 0 && d.table === 'collector_drops').map((d) => d.collectorId));

  // Batches: no duplicate, no gap (unless a counted drop of that collector explains it).
  const batches = await q<{ host: string; collector_id: string; n: string; u: string; mx: string; mn: string }>(
    'SELECT host, collector_id, count() AS n, uniqExact(sequence) AS u, max(sequence) AS mx, min(sequence) AS mn FROM collector_batches GROUP BY host, collector_id ORDER BY host, collector_id',
  );
  const perCollector = batches.map((b) => ({
    host: b.host,
    collectorId: b.collector_id,
    rows: num(b.n),
    sequences: num(b.u),
    duplicates: num(b.n) - num(b.u),
    gaps: num(b.mx) + 1 - num(b.u),
    explainedByDrops: explained.has(b.collector_id),
  }));
  checks.push({ name: 'collector_batches: no duplicated batch', ok: perCollector.every((c) => c.duplicates === 0), detail: perCollector.filter((c) => c.duplicates !== 0) });
  checks.push({
    name: 'collector_batches: no gap unless a counted queue drop explains it (ring loss never does)',
    ok: perCollector.every((c) => c.gaps === 0 || c.explainedByDrops),
    detail: { collectors: perCollector.length, withGaps: perCollector.filter((c) => c.gaps !== 0) },
  });

  // Synthetic hosts: every acknowledged sequence exactly once, events = acknowledged events.
  for (const s of expect.synthetic) {
    const rows = await q<{ sequence: string; n: string }>(
      `SELECT sequence, count() AS n FROM collector_batches WHERE collector_id = '${s.collectorId}' GROUP BY sequence`,
    );
    const seen = new Map(rows.map((r) => [num(r.sequence), num(r.n)]));
    const missing = s.acked.filter((x) => !seen.has(x));
    const doubled = [...seen].filter(([, n]) => n > 1).map(([x]) => x);
    const acked = new Set(s.acked);
    const unacked = [...seen.keys()].filter((x) => !acked.has(x));
    const [ev] = await q<{ n: string }>(`SELECT count() AS n FROM events WHERE host = '${s.host}'`);
    const events = num(ev?.n ?? 0);
    checks.push({
      name: `synthetic ${s.host}: acked batches once each, events = acked`,
      ok: missing.length === 0 && doubled.length === 0 && unacked.length === 0 && events === s.ackedEvents,
      detail: { acked: s.acked.length, inClickHouse: seen.size, missing: missing.slice(0, 20), doubled: doubled.slice(0, 20), notAcked: unacked.slice(0, 20), events, ackedEvents: s.ackedEvents },
    });
  }

  // Derived records: no duplicated RegionScore or Hint.
  const [sc] = await q<{ n: string; u: string }>(
    'SELECT count() AS n, uniqExact(host, boot_id, pid, start_ns, mapping_kind, mapping_path, mapping_ordinal, region_offset, region_start, window_start_ns, window_end_ns) AS u FROM scores',
  );
  checks.push({ name: 'scores: no duplicated RegionScore', ok: num(sc?.n) === num(sc?.u), detail: { rows: num(sc?.n), distinct: num(sc?.u) } });
  const [hi] = await q<{ n: string; u: string }>('SELECT count() AS n, uniqExact(hint_id) AS u FROM hints WHERE withdrawn = 0');
  const [tomb] = await q<{ n: string; u: string }>('SELECT count() AS n, uniqExact(kafka_partition, kafka_offset) AS u FROM hints WHERE withdrawn = 1');
  checks.push({
    name: 'hints: no duplicated Hint',
    ok: num(hi?.n) === num(hi?.u) && num(tomb?.n) === num(tomb?.u),
    detail: { rows: num(hi?.n), distinctIds: num(hi?.u), tombstones: num(tomb?.n), distinctTombstones: num(tomb?.u) },
  });

  // Every injected bad record dead-lettered, once per consumer that read it.
  const dl = await q<{ topic: string; partition: number; offset: string; consumer: string; n: string }>(
    'SELECT topic, partition, offset, consumer, count() AS n FROM dead_letters FINAL GROUP BY topic, partition, offset, consumer',
  );
  const [dlRaw] = await q<{ n: string; u: string }>('SELECT count() AS n, uniqExact(topic, partition, offset, consumer) AS u FROM dead_letters');
  const injected = expect.injected.map((r) => {
    const rows = dl.filter((d) => d.topic === r.topic && num(d.partition) === r.partition && num(d.offset) === r.offset);
    return { ...r, consumers: rows.map((d) => d.consumer).sort(), onceEach: rows.every((d) => num(d.n) === 1) };
  });
  checks.push({
    name: 'dead_letters: every injected record there, once per consumer',
    ok: injected.every((r) => r.consumers.length > 0 && r.onceEach),
    detail: { injected: injected.length, rowsBeforeMerge: num(dlRaw?.n), distinctKeys: num(dlRaw?.u), missing: injected.filter((r) => r.consumers.length === 0), byRecord: injected },
  });

  // Hints applied at most once; the canary never touched.
  const applied = await q<{ hint_id: string; n: string; u: string }>(
    "SELECT hint_id, count() AS n, uniqExact(at_ns) AS u FROM hint_actions WHERE outcome = 'applied' GROUP BY hint_id",
  );
  const twice = applied.filter((a) => num(a.u) > 1);
  const outcomes = await q<{ outcome: string; n: string }>('SELECT outcome, count() AS n FROM hint_actions GROUP BY outcome ORDER BY outcome');
  checks.push({
    name: 'hint_actions: no hint applied more than once',
    ok: twice.length === 0,
    detail: { appliedHints: applied.length, appliedTwice: twice, duplicateRows: applied.filter((a) => num(a.n) > num(a.u)).length, outcomes: Object.fromEntries(outcomes.map((o) => [o.outcome, num(o.n)])) },
  });
  const canary = await q<{ outcome: string; n: string }>(
    `SELECT outcome, count() AS n FROM hint_actions WHERE host = '${expect.canaryHost}' AND pid = ${expect.canaryPid} GROUP BY outcome`,
  );
  checks.push({
    name: 'hint_actions: the canary (not on the allow-list) has no applied action',
    ok: canary.every((c) => c.outcome !== 'applied') && canary.length > 0,
    detail: Object.fromEntries(canary.map((c) => [c.outcome, num(c.n)])),
  });

  // The kernel's hint map against the agent's action log: every entry the
  // agent left was written by a logged action (applied, or failed after the
  // map write) covering that region, at or after the entry's update time, and
  // nothing of the canary is in the map.
  const logged = await q<{ pid: string; region_start: string; region_length: string; at_ns: string; outcome: string }>(
    `SELECT pid, region_start, region_length, at_ns, outcome FROM hint_actions WHERE host = '${expect.agentHost}' AND outcome IN ('applied', 'failed')`,
  );
  const unexplained = expect.hintMap.filter((e) => {
    const start = BigInt(e.region) << BigInt(expect.regionShift);
    return !logged.some((a) => num(a.pid) === e.pid && BigInt(a.region_start) < start + (1n << BigInt(expect.regionShift)) && BigInt(a.region_start) + BigInt(a.region_length) > start && num(a.at_ns) >= e.updatedNs);
  });
  const canaryInMap = expect.hintMap.filter((e) => e.pid === expect.canaryPid);
  checks.push({
    name: 'hint map: every entry written by a logged action, none for the canary',
    ok: unexplained.length === 0 && canaryInMap.length === 0 && (applied.length === 0 || expect.hintMap.length > 0),
    detail: { entries: expect.hintMap.length, unexplained: unexplained.slice(0, 10), canaryInMap },
  });

  const deadLetters = (
    await q<{ consumer: string; topic: string; reason: string; n: string }>(
      "SELECT consumer, topic, substring(reason, 1, 80) AS reason, count() AS n FROM dead_letters FINAL GROUP BY consumer, topic, reason ORDER BY consumer, topic, reason",
    )
  ).map((r) => ({ consumer: r.consumer, topic: r.topic, reason: r.reason, n: num(r.n) }));

  return { ok: checks.every((c) => c.ok), checks, drops, deadLetters };
}
