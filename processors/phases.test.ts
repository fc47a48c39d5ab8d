import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { PhaseSummary } from '../schemas/derived.js';
import { DEFAULT_PHASES_CONFIG } from './config.js';
import { hotSetHash, jaccardDistance, newPhaseState, phaseStep, regimeDistance, type PhaseWindow } from './phases.js';

const c = DEFAULT_PHASES_CONFIG;
const W = 10_000;

function win(index: number, hot: number[], faultRate = 10): PhaseWindow {
  const summary: PhaseSummary = { hotSetHash: hotSetHash(hot), hotRegions: hot.length, hotBytes: hot.length * 2097152, faultRate, majorFaultRate: 0, promotionRate: 0, swapOutRate: 0 };
  return { index, startNs: index * W * 1e6, summary, hot };
}

describe('distances', () => {
  it('jaccard over sorted sets', () => {
    assert.equal(jaccardDistance([], []), 0);
    assert.equal(jaccardDistance([1, 2], [1, 2]), 0);
    assert.equal(jaccardDistance([1], [2]), 1);
    assert.equal(jaccardDistance([1, 2], [2, 3]), 1 - 1 / 3);
  });

  it('regime: relative rate change, 0 below the floor', () => {
    assert.equal(regimeDistance(10, 5, 1), 0.5);
    assert.equal(regimeDistance(0.5, 0.1, 1), 0);
    assert.equal(regimeDistance(0, 0, 0), 0);
  });

  it('hot set hash: order of the input does not matter once sorted; 52 bits; 0 for none', () => {
    assert.equal(hotSetHash([]), 0);
    const h = hotSetHash([1, 2, 3]);
    assert.ok(Number.isSafeInteger(h) && h > 0 && h < 2 ** 52);
    assert.equal(h, hotSetHash([1, 2, 3]));
    assert.notEqual(h, hotSetHash([1, 2, 4]));
  });

  it('hot set hash: the first 52 bits of SHA-256 over the starts in hex, comma separated', () => {
    // The definition, spelled the slow way; the hash is in outputs and checkpoints, so it must never drift.
    const byText = (hot: number[]): number => parseInt(createHash('sha256').update(hot.map((r) => r.toString(16)).join(',')).digest('hex').slice(0, 13), 16);
    let seed = 3;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed / 2 ** 32);
    const edges = [0, 1, 15, 16, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 0x7f0000000000, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 2 ** 64 - 2048];
    assert.equal(hotSetHash(edges), byText(edges));
    for (let i = 0; i < 500; i++) {
      const hot = Array.from({ length: 1 + Math.floor(rnd() * 120) }, () => (rnd() < 0.5 ? 0x7f0000000000 + Math.floor(rnd() * 4096) * 2097152 : Math.floor(rnd() * 2 ** 53))).sort((a, b) => a - b);
      assert.equal(hotSetHash(hot), byText(hot), `set ${i}`);
    }
    // Not an address (cannot come from the engine): still the same definition.
    assert.equal(hotSetHash([-4096, 1.5]), byText([-4096, 1.5]));
  });
});

describe('phase detector', () => {
  it('establishes phase 0 silently at the first hot window', () => {
    const s = newPhaseState();
    assert.equal(phaseStep(s, win(0, []), c, W), null);
    assert.equal(s.ref, null);
    assert.equal(phaseStep(s, win(1, [7]), c, W), null);
    assert.equal(s.phase, 0);
    assert.deepEqual(s.refHot, [7]);
  });

  it('a one-window blip does not flap; a move held for confirmWindows does, dated at its first window', () => {
    const s = newPhaseState();
    for (let w = 0; w < 6; w++) assert.equal(phaseStep(s, win(w, [1, 2]), c, W), null);
    assert.equal(phaseStep(s, win(6, [9]), c, W), null, 'blip');
    assert.equal(phaseStep(s, win(7, [1, 2]), c, W), null, 'back');
    assert.equal(phaseStep(s, win(8, [5, 6]), c, W), null, 'first window of the move');
    const d = phaseStep(s, win(9, [5, 6]), c, W);
    assert.ok(d);
    assert.equal(d.phase, 1);
    assert.equal(d.atNs, 8 * W * 1e6);
    assert.deepEqual(d.before.hotRegions, 2);
    assert.equal(d.after.hotSetHash, hotSetHash([5, 6]));
    assert.equal(d.distance, 1);
    assert.match(d.reason, /hot set moved/);
    assert.equal(s.phase, 1);
  });

  it('no second change within the dwell time', () => {
    const s = newPhaseState();
    phaseStep(s, win(0, [1]), c, W);
    // minDwellMs 30 s = 3 windows after establishment.
    assert.equal(phaseStep(s, win(1, [2]), c, W), null);
    assert.equal(phaseStep(s, win(2, [2]), c, W), null, 'confirmed but within the dwell time');
    const d = phaseStep(s, win(3, [2]), c, W);
    assert.ok(d);
    assert.equal(d.atNs, 1 * W * 1e6);
  });

  it('a fault-regime change with the same hot set is a phase change too; slow drift is not', () => {
    const s = newPhaseState();
    phaseStep(s, win(0, [1], 10), c, W);
    for (let w = 1; w < 10; w++) assert.equal(phaseStep(s, win(w, [1], 10 * 1.1 ** w), c, W), null, `drift ${w}`);
    phaseStep(s, win(10, [1], 100), c, W);
    const d = phaseStep(s, win(11, [1], 100), c, W);
    assert.ok(d);
    assert.match(d.reason, /fault regime/);
  });
});
