/**
 * The engine on streams with known ground truth (processors/synthetic.ts),
 * without Kafka: what it outputs and when (in windows), and that duplicates,
 * gaps, checkpoints and garbage do not change that.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeHint, decodePhaseChange, decodeRegionScore, decodeTunerChange, type Hint, type PhaseChange, type RegionScore, type TunerChange } from '../schemas/derived.js';
import { decodeDeadLetter } from '../schemas/dead-letter.js';
import { createProcessorConfig, type ProcessorConfig, type ProcessorConfigInput } from './config.js';
import { PartitionEngine, windowOf, type OutRecord } from './engine.js';
import { stateSize } from './state.js';
import type { ProbeEvent } from '../bpf/events.js';
import {
  CollectorStream,
  SCENARIO,
  SCENARIO_WINDOWS,
  SEC,
  T0,
  WINDOW,
  faultSummary,
  kcompactdWake,
  scenarioRecords,
  swapIn,
  swapOut,
  windowStart,
  type StreamRecord,
} from './synthetic.js';

interface Run {
  out: OutRecord[];
  engine: PartitionEngine;
}

function feed(records: readonly StreamRecord[], input: ProcessorConfigInput = {}, checkpointEvery = 0): Run {
  const config: ProcessorConfig = createProcessorConfig(input);
  const ctx = { config, inputTopic: 'pageloop.events.v1' };
  let engine = new PartitionEngine(ctx, 0);
  const out: OutRecord[] = [];
  records.forEach((r, i) => {
    if (checkpointEvery > 0 && i > 0 && i % checkpointEvery === 0) engine = PartitionEngine.restore(ctx, 0, engine.checkpoint());
    engine.process({ offset: i, key: Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value), timestamp: String(1_700_000_000_000 + i) }, out);
  });
  return { out, engine };
}

/** Window index (from T0) of an event time. */
const win = (ns: number): number => Math.round((ns - T0) / WINDOW);

function scores(out: OutRecord[], host: string, regionStart: number): RegionScore[] {
  return out.filter((o) => o.role === 'scores' && o.key === host).map((o) => decodeRegionScore(o.value!)).filter((s) => s.region.start === regionStart);
}

type HintOut = { key: string; hint: Hint | null };
function hints(out: OutRecord[], host: string): HintOut[] {
  return out.filter((o) => o.role === 'hints' && o.key.startsWith(`${host}|`)).map((o) => ({ key: o.key, hint: o.value ? decodeHint(o.value) : null }));
}

function phases(out: OutRecord[], host: string): PhaseChange[] {
  return out.filter((o) => o.role === 'phases' && o.key === host).map((o) => decodePhaseChange(o.value!));
}

function tuner(out: OutRecord[], host: string): TunerChange[] {
  return out.filter((o) => o.role === 'tuner' && o.key === host).map((o) => decodeTunerChange(o.value!));
}

function sameOutputs(a: OutRecord[], b: OutRecord[]): void {
  assert.equal(a.length, b.length, 'output count');
  for (let i = 0; i < a.length; i++) {
    assert.equal(a[i]!.role, b[i]!.role, `output ${i} role`);
    assert.equal(a[i]!.key, b[i]!.key, `output ${i} key`);
    assert.ok(a[i]!.value === null ? b[i]!.value === null : b[i]!.value !== null && Buffer.from(a[i]!.value!).equals(Buffer.from(b[i]!.value!)), `output ${i} bytes`);
  }
}

describe('windows', () => {
  it('windowOf is exact at the boundaries, even where t / W rounds', () => {
    const W = 10 * SEC;
    for (const k of [0, 1, 99, 1e5, 900_000, 900_718]) {
      assert.equal(windowOf(k * W, W), k);
      assert.equal(windowOf(k * W - 1, W), k - 1);
      assert.equal(windowOf(k * W + W - 1, W), k);
    }
  });
});

describe('engine on the ground-truth scenario (windows of 10 s)', () => {
  const run = feed(scenarioRecords());
  const { out } = run;

  it('scores the hot region every window, preferring 2 MiB; the cold one only when touched', () => {
    const a = scores(out, 'host-a', SCENARIO.hostA.A);
    assert.deepEqual(
      a.map((s) => win(s.windowStartNs)),
      Array.from({ length: SCENARIO.hostA.switchWindow }, (_, k) => k),
    );
    for (const s of a) {
      assert.equal(s.preferredSizeKb, 2048);
      assert.equal(s.access.faults, 100);
      assert.deepEqual(
        s.sizes.map((z) => z.sizeKb),
        [64, 2048],
      );
      assert.equal(s.process.pid, SCENARIO.hostA.pid);
      assert.equal(s.process.bootId, 'boot-a');
      assert.equal(s.windowEndNs - s.windowStartNs, WINDOW);
    }
    // From the second window on, the 100 faults are accesses: 100 samples * 1000 * 8 ns.
    assert.equal(a[1]!.sizes[1]!.benefit, 800_000);
    const c = scores(out, 'host-a', SCENARIO.hostA.C);
    assert.deepEqual(
      c.map((s) => win(s.windowStartNs)),
      [0],
    );
  });

  it('promotes the hot region to 2 MiB after 2 windows; marks the cold region cold after 3 and pages it out after 6', () => {
    const h = hints(out, 'host-a');
    const A = h.filter((x) => x.key.endsWith(`|${SCENARIO.hostA.A}`));
    assert.equal(A[0]!.hint!.action, 'promote');
    assert.equal(A[0]!.hint!.pageSizeKb, 2048);
    assert.equal(win(A[0]!.hint!.issuedNs), 2, 'issued when window 1 closes');
    assert.equal(A[0]!.hint!.expiresNs - A[0]!.hint!.issuedNs, 300 * SEC);
    assert.equal(A[0]!.hint!.hintId, `host-a/boot-a/100/${SCENARIO.hostA.startNs}/${SCENARIO.hostA.A.toString(16)}/${windowStart(1)}`);
    const C = h.filter((x) => x.key.endsWith(`|${SCENARIO.hostA.C}`)).map((x) => [x.hint?.action, win(x.hint!.issuedNs)]);
    assert.deepEqual(C, [
      ['mark_cold', 4],
      ['page_out', 7],
    ]);
  });

  it('detects the phase switch at its window, confirmed one window later, exactly once', () => {
    const p = phases(out, 'host-a');
    assert.equal(p.length, 1);
    assert.equal(p[0]!.atNs, windowStart(SCENARIO.hostA.switchWindow));
    assert.equal(p[0]!.phase, 1);
    assert.equal(p[0]!.before.hotRegions, 1);
    assert.equal(p[0]!.after.hotRegions, 1);
    assert.notEqual(p[0]!.before.hotSetHash, p[0]!.after.hotSetHash);
    assert.equal(p[0]!.distance, 1);
    // Emitted when window switch+1 closes: after A's last score, before B's second.
    const idx = out.findIndex((o) => o.role === 'phases');
    const bScores = out.map((o, i) => [o, i] as const).filter(([o]) => o.role === 'scores' && decodeRegionScore(o.value!).region.start === SCENARIO.hostA.B);
    assert.ok(bScores[1]![1] < idx && idx < bScores[2]![1]);
    // The new hot region is promoted; the old one goes cold.
    const h = hints(out, 'host-a');
    const B = h.find((x) => x.key.endsWith(`|${SCENARIO.hostA.B}`));
    assert.equal(win(B!.hint!.issuedNs), SCENARIO.hostA.switchWindow + 2);
    const oldA = h.filter((x) => x.key.endsWith(`|${SCENARIO.hostA.A}`)).map((x) => x.hint?.action);
    assert.deepEqual(oldA, ['promote', 'mark_cold', 'page_out']);
    assert.deepEqual(phases(out, 'host-b'), [], 'a steady process has no phase change');
  });

  it('a compaction storm raises the cost of 2 MiB: the preferred size drops to 64 KiB in the storm\'s first window and recovers after it', () => {
    const d = scores(out, 'host-b', SCENARIO.hostB.D);
    const pref = new Map(d.map((s) => [win(s.windowStartNs), s.preferredSizeKb]));
    const { stormFrom, stormTo } = SCENARIO.hostB;
    for (let k = 1; k < stormFrom; k++) assert.equal(pref.get(k), 2048, `window ${k}`);
    for (let k = stormFrom; k <= stormTo; k++) assert.equal(pref.get(k), 64, `storm window ${k}`);
    const back = [...pref].find(([k, p]) => k > stormTo && p === 2048)?.[0];
    assert.ok(back !== undefined && back <= stormTo + 4, `2 MiB back within 4 windows of the storm's end (at ${back})`);
    const storm = d.find((s) => win(s.windowStartNs) === stormFrom)!;
    assert.ok(storm.sizes[1]!.cost > 10 * d[1]!.sizes[1]!.cost, 'the 2 MiB cost rose more than tenfold');
    assert.ok(storm.access.promotions > 0 && storm.access.promotionFailures > 0);
    const h = hints(out, 'host-b').map((x) => [x.hint!.action, x.hint!.pageSizeKb, win(x.hint!.issuedNs)]);
    assert.deepEqual(h, [
      ['promote', 2048, 2],
      ['promote', 64, stormFrom + 2],
      ['promote', 2048, back + 2],
    ]);
  });

  it('refaults of paged-out memory withdraw its page-out hint at once and make the tuner judge cold later', () => {
    const h = hints(out, 'host-c');
    assert.deepEqual(
      h.slice(0, 3).map((x) => x.hint?.action ?? 'withdrawn'),
      ['mark_cold', 'page_out', 'withdrawn'],
    );
    const t = tuner(out, 'host-c');
    assert.ok(t.length >= 1);
    assert.equal(t[0]!.threshold, 'coldWindows');
    assert.equal(t[0]!.oldValue, 3);
    assert.equal(t[0]!.newValue, 4);
    assert.equal(t[0]!.objective, 'refault_rate_pct_per_min');
    assert.ok(t[0]!.measured > t[0]!.target);
    assert.equal(t[0]!.scope, 'host-c');
    const firstRefaults = SCENARIO.hostC.refaultFrom;
    assert.ok(win(t[0]!.atNs) <= firstRefaults + 3, `raised within 3 windows of the first refaults (at ${win(t[0]!.atNs)})`);
    assert.ok(t.every((x) => x.newValue > x.oldValue));
  });

  it('paged-out memory that is never refaulted makes the tuner page out sooner', () => {
    const t = tuner(out, 'host-d');
    assert.deepEqual(
      t.map((x) => [x.threshold, x.oldValue, x.newValue]),
      [['coldWindows', 3, 2]],
    );
    assert.ok(t[0]!.measured < t[0]!.target);
  });

  it('tracks what the stream had and nothing was late', () => {
    for (const h of run.engine.state.hosts.values()) {
      assert.equal(h.counters.lateEvents, 0, h.host);
      assert.equal(h.counters.duplicates, 0, h.host);
      assert.equal(h.counters.gaps, 0, h.host);
    }
  });
});

describe('engine: determinism and robustness', () => {
  const plain = feed(scenarioRecords()).out;

  it('the same input gives the same bytes', () => {
    sameOutputs(feed(scenarioRecords()).out, plain);
  });

  it('exact duplicates from a collector retry are dropped; a gap is counted; outputs do not change', () => {
    const run = feed(scenarioRecords({ dupAndGap: true }));
    sameOutputs(run.out, plain);
    assert.equal(run.engine.state.hosts.get('host-a')!.counters.duplicates, 1);
    assert.equal(run.engine.state.hosts.get('host-d')!.counters.gaps, 1);
  });

  it('restoring from a checkpoint anywhere continues exactly as the live state would', () => {
    for (const every of [1, 7, 50]) sameOutputs(feed(scenarioRecords(), {}, every).out, plain);
  });

  it('garbage, a tombstone and a batch without a host go to the dead-letter queue with the reason; what follows is processed', () => {
    const recs = scenarioRecords();
    const bad: StreamRecord[] = [
      { key: 'host-a', value: Buffer.from('this is not protobuf at all'), atNs: 0 },
      { key: 'host-a', value: null as unknown as Uint8Array, atNs: 0 },
      // The encoder refuses an empty host: drop the host field (written first: tag, length 1, 'x').
      { key: 'nobody', value: new CollectorStream('x', 'b', 'c').batch([]).subarray(3), atNs: 0 },
    ];
    const mixed = [...recs.slice(0, 100), ...bad, ...recs.slice(100)];
    const run = feed(mixed);
    const dlq = run.out.filter((o) => o.role === 'dlq');
    assert.equal(dlq.length, 3);
    const letters = dlq.map((o) => decodeDeadLetter(o.value!));
    assert.deepEqual(
      letters.map((d) => d.offset),
      [100, 101, 102],
    );
    assert.match(letters[0]!.reason, /cannot decode pageloop\.v1\.EventBatch/);
    assert.ok(Buffer.from(letters[0]!.raw).equals(Buffer.from('this is not protobuf at all')));
    assert.equal(Buffer.from(letters[0]!.key).toString(), 'host-a');
    assert.equal(letters[0]!.topic, 'pageloop.events.v1');
    assert.equal(letters[0]!.consumer, 'pageloop-processor');
    assert.equal(letters[0]!.timestampMs, 1_700_000_000_100);
    assert.match(letters[1]!.reason, /tombstone/);
    assert.match(letters[2]!.reason, /host: empty/);
    assert.equal(dlq[0]!.key, 'pageloop.events.v1/0');
    // Everything else is as without the bad records.
    sameOutputs(
      run.out.filter((o) => o.role !== 'dlq'),
      plain,
    );
  });
});

describe('engine: planner limits, eviction, lateness, boots', () => {
  const pid = 9;
  const start = 1 * SEC;
  const base = 0x7e0000000000;

  function hotRegions(n: number, windows: number, stream = new CollectorStream('h', 'boot', 'c')): StreamRecord[] {
    const recs: StreamRecord[] = [];
    for (let k = 0; k < windows; k++) {
      const t = windowStart(k) + 5 * SEC;
      const ev = Array.from({ length: n }, (_, r) => faultSummary(t + r, pid, start, base + r * 2 * 1024 * 1024, 100));
      recs.push({ key: 'h', value: stream.batch(ev), atNs: t });
    }
    return recs;
  }

  it('rate-limits new hints per process and window; the rest follow in later windows', () => {
    const run = feed(hotRegions(40, 6), { planner: { maxHintsPerWindow: 16 } });
    const perWindow = new Map<number, number>();
    for (const x of hints(run.out, 'h')) perWindow.set(win(x.hint!.issuedNs), (perWindow.get(win(x.hint!.issuedNs)) ?? 0) + 1);
    assert.deepEqual([...perWindow], [
      [2, 16],
      [3, 16],
      [4, 8],
    ]);
  });

  it('rate-limits new hints per host and window too, the most valuable first across processes', () => {
    const stream = new CollectorStream('h', 'boot', 'c');
    const pids = [pid, pid + 1, pid + 2];
    const recs: StreamRecord[] = [];
    for (let k = 0; k < 6; k++) {
      const t = windowStart(k) + 5 * SEC;
      const ev = pids.flatMap((q, i) => Array.from({ length: 10 }, (_, r) => faultSummary(t + i * 10 + r, q, start, base + r * 2 * 1024 * 1024, 100)));
      recs.push({ key: 'h', value: stream.batch(ev), atNs: t });
    }
    const run = feed(recs, { planner: { maxHintsPerWindow: 16, maxHintsPerHostWindow: 12 } });
    const perWindow = new Map<number, number>();
    const pidsFirst = new Set<number>();
    for (const x of hints(run.out, 'h')) {
      const w = win(x.hint!.issuedNs);
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
      if (w === 2) pidsFirst.add(x.hint!.process.pid);
    }
    assert.deepEqual([...perWindow], [
      [2, 12],
      [3, 12],
      [4, 6],
    ]);
    // Equal value: no process is starved by a lower pid.
    assert.deepEqual([...pidsFirst].sort((a, b) => a - b), pids);
  });

  it('evicts idle regions after idleEvictWindows (withdrawing their hints) and forgets the process', () => {
    const stream = new CollectorStream('h', 'boot', 'c');
    const recs = hotRegions(3, 3, stream);
    // Then only host-level ticks: the regions go idle.
    for (let k = 3; k < 40; k++) recs.push({ key: 'h', value: stream.batch([kcompactdWake(windowStart(k) + SEC)]), atNs: 0 });
    const run = feed(recs, { idleEvictWindows: 20, tuner: { maxColdWindows: 4 } });
    const h = hints(run.out, 'h');
    const tombstones = h.filter((x) => x.hint === null);
    assert.equal(tombstones.length, 3);
    assert.equal(stateSize(run.engine.state).regions, 0);
    assert.equal(stateSize(run.engine.state).processes, 0);
    const last = run.out.findIndex((o) => o.role === 'hints' && o.value === null);
    assert.ok(last > 0);
  });

  /** The row as a sweep sends it once its process has exited. */
  const exited = (e: ProbeEvent): ProbeEvent => (e.type === 'fault_summary' ? { ...e, exited: 1 } : e);
  const ticks = (stream: CollectorStream, from: number, to: number): StreamRecord[] =>
    Array.from({ length: to - from }, (_, i) => ({ key: 'h', value: stream.batch([kcompactdWake(windowStart(from + i) + SEC)]), atNs: 0 }));

  it('forgets an exited process once its last window closes: same scores, its hints withdrawn, none new', () => {
    const run = (markExit: boolean) => {
      const stream = new CollectorStream('h', 'boot', 'c');
      const recs: StreamRecord[] = [];
      for (let k = 0; k < 4; k++) {
        const t = windowStart(k) + 5 * SEC;
        // A fourth region is hot from window 2: alive, it would get its hint as window 3 closes.
        const ev = Array.from({ length: k >= 2 ? 4 : 3 }, (_, r) => faultSummary(t + r, pid, start, base + r * 2 * 1024 * 1024, 100));
        recs.push({ key: 'h', value: stream.batch(markExit && k === 3 ? ev.map(exited) : ev), atNs: t });
      }
      return feed([...recs, ...ticks(stream, 4, 8)]);
    };
    const alive = run(false);
    const gone = run(true);
    for (let r = 0; r < 4; r++) assert.deepEqual(scores(gone.out, 'h', base + r * 2 * 1024 * 1024), scores(alive.out, 'h', base + r * 2 * 1024 * 1024));
    assert.equal(scores(gone.out, 'h', base).length, 4);
    assert.deepEqual(stateSize(alive.engine.state), { hosts: 1, processes: 1, regions: 4 });
    assert.deepEqual(stateSize(gone.engine.state), { hosts: 1, processes: 0, regions: 0 });
    const goneHints = hints(gone.out, 'h');
    const issued = goneHints.filter((x) => x.hint !== null);
    assert.ok(issued.length > 0, 'hints were issued while it lived');
    // Nothing planned in the window it exited in (window 3, whose hints are issued at its end).
    assert.deepEqual(issued.map((x) => win(x.hint!.issuedNs)), [2, 2, 2]);
    assert.deepEqual(hints(alive.out, 'h').filter((x) => x.hint !== null).map((x) => win(x.hint!.issuedNs)), [2, 2, 2, 4]);
    // Every region that held a hint gets its tombstone.
    assert.deepEqual(new Set(goneHints.filter((x) => x.hint === null).map((x) => x.key)), new Set(issued.map((x) => x.key)));
  });

  it('an exit row with no faults is never late and still lets the process go', () => {
    const stream = new CollectorStream('h', 'boot', 'c');
    const recs = hotRegions(1, 2, stream);
    recs.push(...ticks(stream, 2, 4));
    // Its last faults were in window 1; the sweep that saw it gone (window 4) has nothing new to count.
    recs.push({ key: 'h', value: stream.batch([exited(faultSummary(windowStart(1) + 5 * SEC, pid, start, base, 0))]), atNs: 0 });
    recs.push(...ticks(stream, 5, 7));
    const run = feed(recs);
    const counters = run.engine.state.hosts.get('h')!.counters;
    assert.equal(counters.lateEvents, 0);
    // Rows: two summaries, four ticks, the exit row.
    assert.equal(counters.events, 7);
    assert.deepEqual(stateSize(run.engine.state), { hosts: 1, processes: 0, regions: 0 });
  });

  it('late events (before a closed window) are counted and dropped', () => {
    const stream = new CollectorStream('h', 'boot', 'c');
    const recs = hotRegions(1, 4, stream);
    recs.push({ key: 'h', value: stream.batch([faultSummary(windowStart(0) + SEC, pid, start, base, 5)]), atNs: 0 });
    const run = feed(recs);
    assert.equal(run.engine.state.hosts.get('h')!.counters.lateEvents, 1);
    assert.deepEqual(
      scores(run.out, 'h', base).map((s) => s.access.faults),
      [100, 100, 100],
    );
  });

  it('a swap-out and its swap-in in one batch make a refault, with its distance', () => {
    const stream = new CollectorStream('h', 'boot', 'c');
    const t = windowStart(0) + SEC;
    const recs: StreamRecord[] = [
      { key: 'h', value: stream.batch([faultSummary(t, pid, start, base, 10), swapOut(t + 100, pid, start, base + 4096, 1), swapIn(t + 2100, pid, start, base + 4096 + 12)]), atNs: t },
      { key: 'h', value: stream.batch([kcompactdWake(windowStart(2))]), atNs: t },
    ];
    const s = scores(feed(recs).out, 'h', base);
    assert.equal(s[0]!.access.majorFaults, 1);
    assert.equal(s[0]!.access.swapOuts, 1);
  });

  it('a new boot id closes the old boot\'s windows and withdraws its hints', () => {
    const stream = new CollectorStream('h', 'boot-1', 'c');
    const recs = hotRegions(2, 4, stream);
    const reboot = new CollectorStream('h', 'boot-2', 'c2');
    recs.push({ key: 'h', value: reboot.batch([faultSummary(5 * SEC, pid, start, base, 10)]), atNs: 0 });
    const run = feed(recs);
    const h = hints(run.out, 'h');
    assert.equal(h.filter((x) => x.hint !== null).length, 2);
    assert.equal(h.filter((x) => x.hint === null).length, 2);
    const host = run.engine.state.hosts.get('h')!;
    assert.equal(host.bootId, 'boot-2');
    assert.equal(host.counters.boots, 1);
    assert.equal(stateSize(run.engine.state).regions, 1);
  });
});

describe('engine: scale of the scenario', () => {
  it('the scenario runs all its windows', () => {
    const run = feed(scenarioRecords());
    const last = Math.max(...run.out.filter((o) => o.role === 'scores').map((o) => win(decodeRegionScore(o.value!).windowStartNs)));
    assert.equal(last, SCENARIO_WINDOWS - 1);
  });
});
