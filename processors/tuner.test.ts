import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TUNER_CONFIG } from './config.js';
import { PSI_OBJECTIVE, REFAULT_OBJECTIVE, newTunerState, refaultRatePctPerMin, tunerStep } from './tuner.js';

const c = DEFAULT_TUNER_CONFIG;
const W = 10_000;

function run(s: ReturnType<typeof newTunerState>, from: number, n: number, refaults: number, paged: number, psi = 0, cfg = c) {
  const changes = [];
  for (let w = from; w < from + n; w++) changes.push(...tunerStep(s, { windowIndex: w, windowEndNs: (w + 1) * W * 1e6, refaults, pagedOutPages: paged, psiSomeAvg10: psi }, cfg, 0, W, 'h'));
  return changes;
}

describe('refault rate', () => {
  it('percent of paged-out pages per minute over the span', () => {
    // 6 windows of 10 s = 1 minute; 6 refaults of 1000 pages = 0.6 %/min.
    assert.equal(refaultRatePctPerMin([1, 1, 1, 1, 1, 1], [1000, 1000, 1000, 1000, 1000, 1000], W), 0.6);
    assert.equal(refaultRatePctPerMin([], [], W), 0);
  });
});

describe('tuner', () => {
  it('holds without enough paged-out memory, whatever the refaults', () => {
    const s = newTunerState(3, 0);
    assert.deepEqual(run(s, 0, 20, 50, 10), []);
    assert.equal(s.coldWindows, 3);
  });

  it('raises the coldness threshold when refaults exceed the target, one step per span', () => {
    const s = newTunerState(3, 0);
    const changes = run(s, 0, 18, 10, 1000);
    // First decision once a span is measured (window 5), then one per span.
    assert.deepEqual(
      changes.map((x) => [x.threshold, x.oldValue, x.newValue, x.atNs]),
      [
        ['coldWindows', 3, 4, 6 * W * 1e6],
        ['coldWindows', 4, 5, 12 * W * 1e6],
        ['coldWindows', 5, 6, 18 * W * 1e6],
      ],
    );
    assert.equal(changes[0]!.objective, REFAULT_OBJECTIVE);
    assert.equal(changes[0]!.target, 0.2);
    assert.equal(changes[0]!.measured, 6);
    assert.equal(changes[0]!.scope, 'h');
  });

  it('lowers it when refaults are well under the target, down to the minimum', () => {
    const s = newTunerState(3, 0);
    const changes = run(s, 0, 30, 0, 1000);
    assert.deepEqual(
      changes.map((x) => x.newValue),
      [2],
    );
    assert.equal(s.coldWindows, c.minColdWindows);
  });

  it('moves the benefit threshold on memory PSI when that objective is on', () => {
    const cfg = { ...c, psiTargetSomeAvg10: 10 };
    const s = newTunerState(3, 0);
    const up = run(s, 0, 12, 0, 0, 40, cfg);
    assert.deepEqual(
      up.map((x) => [x.threshold, x.oldValue, x.newValue, x.objective]),
      [
        ['benefitThresholdNs', 0, cfg.benefitStepNs, PSI_OBJECTIVE],
        ['benefitThresholdNs', cfg.benefitStepNs, 2 * cfg.benefitStepNs, PSI_OBJECTIVE],
      ],
    );
    const down = run(s, 12, 12, 0, 0, 1, cfg);
    assert.deepEqual(
      down.map((x) => x.newValue),
      [cfg.benefitStepNs, 0],
    );
  });

  it('disabled: records, never changes', () => {
    const s = newTunerState(3, 0);
    assert.deepEqual(run(s, 0, 20, 10, 1000, 0, { ...c, enabled: false }), []);
  });
});
