import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { DEFAULT_PLANNER_CONFIG } from './config.js';
import { desiredHint, hintId, hintKey, hostOfHintKey, limitPlans, planRegion, sameDesire, type Plan, type PlannedRegion } from './planner.js';
import { hintPartitioner, processorTopics } from './topics.js';

const c = DEFAULT_PLANNER_CONFIG;
const t = { coldWindows: 3, benefitThresholdNs: 0 };
const base = { coldFor: 0, scored: true, bestNet: 0, bestSizeKb: 2048, heat: 0 };

describe('desired hint', () => {
  it('cold, then page out, by windows without access', () => {
    assert.equal(desiredHint({ ...base, coldFor: 2, scored: false }, t, c, 4), null);
    assert.deepEqual(desiredHint({ ...base, coldFor: 3, scored: false }, t, c, 4), { action: 'mark_cold', sizeKb: 0 });
    assert.deepEqual(desiredHint({ ...base, coldFor: 6, scored: false }, t, c, 4), { action: 'page_out', sizeKb: 0 });
    // The tuner's threshold moves both.
    assert.deepEqual(desiredHint({ ...base, coldFor: 6, scored: false }, { ...t, coldWindows: 4 }, c, 4), { action: 'mark_cold', sizeKb: 0 });
  });

  it('promote over the benefit threshold; keep base pages when hot and nothing pays; else no opinion', () => {
    assert.deepEqual(desiredHint({ ...base, bestNet: 10 }, t, c, 4), { action: 'promote', sizeKb: 2048 });
    assert.equal(desiredHint({ ...base, bestNet: 10 }, { ...t, benefitThresholdNs: 100 }, c, 4), null);
    assert.deepEqual(desiredHint({ ...base, bestNet: -5, heat: 8 }, t, c, 4), { action: 'keep_base_pages', sizeKb: 4 });
    assert.equal(desiredHint({ ...base, bestNet: -5, heat: 1 }, t, c, 4), null);
    assert.equal(desiredHint({ ...base, scored: false }, t, c, 4), null);
  });

  it('compares desires by action and size', () => {
    assert.ok(sameDesire({ action: 'promote', sizeKb: 64 }, { action: 'promote', sizeKb: 64 }));
    assert.ok(!sameDesire({ action: 'promote', sizeKb: 64 }, { action: 'promote', sizeKb: 2048 }));
    assert.ok(!sameDesire(null, null));
  });
});

describe('a region\'s planner step', () => {
  const region = (start = 0x200000): PlannedRegion => ({ start, hint: null, cand: null, streak: 0, refaultsDecayed: 0, refaultDistanceNs: 0 });
  const hot = { ...base, bestNet: 10 };

  it('a promotion waits for confirmWindows windows of the same desire, then is planned once per window', () => {
    const r = region();
    const plans: Plan<PlannedRegion>[] = [];
    assert.equal(planRegion(r, hot, 0, 1e9, t, 0, c, 4, plans), false);
    assert.equal(plans.length, 0);
    assert.equal(r.streak, 1);
    planRegion(r, hot, 1, 2e9, t, 0, c, 4, plans);
    assert.equal(plans.length, 1);
    assert.deepEqual({ ...plans[0]!.d }, { action: 'promote', sizeKb: 2048 });
    assert.equal(plans[0]!.score, 10);
    assert.equal(plans[0]!.refresh, false);
    assert.match(plans[0]!.reason, /net benefit 10 ns\/window at 2048 KiB/);
  });

  it('a cold hint is withdrawn when the region is accessed again; an expired one refreshed while wanted, withdrawn when not', () => {
    const r = region();
    r.hint = { action: 'mark_cold', sizeKb: 0, expiresNs: 1e12, window: 0 };
    const plans: Plan<PlannedRegion>[] = [];
    assert.equal(planRegion(r, { ...base, scored: false }, 5, 6e9, t, 0, c, 4, plans), true);
    assert.equal(r.hint, null);

    const kept = region();
    kept.hint = { action: 'promote', sizeKb: 2048, expiresNs: 6e9, window: 0 };
    assert.equal(planRegion(kept, hot, 5, 6e9, t, 0, c, 4, plans), false);
    assert.equal(plans.length, 1);
    assert.equal(plans[0]!.refresh, true);
    assert.equal(plans[0]!.reason, 'refreshed: still wanted at expiry');

    const gone = region();
    gone.hint = { action: 'promote', sizeKb: 2048, expiresNs: 6e9, window: 0 };
    assert.equal(planRegion(gone, { ...base, bestNet: -1 }, 5, 6e9, t, 0, c, 4, plans), true);
    assert.equal(gone.hint, null);
    assert.equal(plans.length, 1);
  });

  it('a changed desire waits out the dwell of the hint in force', () => {
    const r = region();
    r.hint = { action: 'keep_base_pages', sizeKb: 4, expiresNs: 1e12, window: 4 };
    r.cand = { action: 'promote', sizeKb: 2048 };
    r.streak = 5;
    const plans: Plan<PlannedRegion>[] = [];
    planRegion(r, hot, 4 + c.minDwellWindows - 1, 1e9, t, 0, c, 4, plans);
    assert.equal(plans.length, 0);
    planRegion(r, hot, 4 + c.minDwellWindows, 1e9, t, 0, c, 4, plans);
    assert.equal(plans.length, 1);
  });

  it('the rate limit lets every refresh through and at most max new hints, page-outs first, then by |score|', () => {
    const d = (action: 'promote' | 'page_out' | 'mark_cold', sizeKb: number) => ({ action, sizeKb });
    const plans: Plan<{ start: number }>[] = [
      { r: { start: 1 }, d: d('promote', 2048), score: 5, reason: '', refresh: false },
      { r: { start: 2 }, d: d('promote', 2048), score: 50, reason: '', refresh: false },
      { r: { start: 3 }, d: d('promote', 2048), score: 1, reason: '', refresh: true },
      { r: { start: 4 }, d: d('page_out', 0), score: -3, reason: '', refresh: false },
      { r: { start: 0 }, d: d('page_out', 0), score: -3, reason: '', refresh: false },
    ];
    assert.deepEqual(limitPlans(plans, 2).map((p) => p.r.start), [0, 4, 3]);
    assert.deepEqual(limitPlans(plans, 4).map((p) => p.r.start), [0, 4, 2, 1, 3]);
    assert.deepEqual(limitPlans(plans, 0).map((p) => p.r.start), [3]);
  });
});

describe('hint keys and ids', () => {
  it('key is host|pid|startNs|regionStart and the host part comes back out, even with a | in the host', () => {
    const k = hintKey('node-7', 42, 123456789, 0x7f0000000000);
    assert.equal(k, `node-7|42|123456789|${0x7f0000000000}`);
    assert.equal(hostOfHintKey(k), 'node-7');
    assert.equal(hostOfHintKey(hintKey('a|b', 1, 2, 3)), 'a|b');
    assert.equal(hostOfHintKey('plain'), 'plain');
  });

  it('ids are deterministic per region and issuing window', () => {
    const a = hintId('h', 'b', 1, 2, 0x200000, 1000);
    assert.equal(a, hintId('h', 'b', 1, 2, 0x200000, 1000));
    assert.notEqual(a, hintId('h', 'b', 1, 2, 0x200000, 2000));
    assert.notEqual(a, hintId('h', 'b', 1, 2, 0x400000, 1000));
  });

  it('the hints partitioner puts every region of a host where the host name would go', () => {
    const topics = processorTopics('t');
    const partitioner = hintPartitioner(topics.hints)();
    const byDefault = kafkajs.Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    for (const host of ['node-1', 'node-2', 'a-much-longer-host-name.example.com']) {
      const want = byDefault({ topic: topics.hints, partitionMetadata, message: { key: host, value: null } });
      for (let r = 0; r < 20; r++) {
        const key = hintKey(host, 100 + r, 5e9, 0x7f0000000000 + r * 2097152);
        assert.equal(partitioner({ topic: topics.hints, partitionMetadata, message: { key, value: null } }), want);
      }
    }
    // Asked again (answers are remembered per topic and partition count), and after the partition count changed.
    for (const n of [6, 6, 3, 6]) {
      const meta = partitionMetadata.slice(0, n).concat(Array.from({ length: Math.max(0, n - 6) }, (_, i) => ({ ...partitionMetadata[0]!, partitionId: 6 + i })));
      for (const host of ['node-1', 'node-2']) {
        const want = byDefault({ topic: topics.hints, partitionMetadata: meta, message: { key: host, value: null } });
        assert.equal(partitioner({ topic: topics.hints, partitionMetadata: meta, message: { key: hintKey(host, 1, 2, 3), value: null } }), want);
        assert.equal(partitioner({ topic: topics.scores, partitionMetadata: meta, message: { key: host, value: null } }), byDefault({ topic: topics.scores, partitionMetadata: meta, message: { key: host, value: null } }));
      }
    }
    // Other topics: the default partitioner on the whole key.
    const key = hintKey('node-1', 1, 2, 3);
    assert.equal(partitioner({ topic: topics.scores, partitionMetadata, message: { key, value: null } }), byDefault({ topic: topics.scores, partitionMetadata, message: { key, value: null } }));
  });
});
