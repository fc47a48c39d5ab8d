import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasOpenAccs, newRegionState, newestOpenWindow, regionAccOf, takeRegionAcc, type RegionAcc, type RegionState } from './state.js';

function region(): RegionState {
  return newRegionState(0, 0, 2097152, 0);
}

/** The windows a region has accs for, in whichever of its three places. */
function openWindows(r: RegionState): number[] {
  const w = [...(r.olderAccs?.keys() ?? [])];
  if (r.prevAcc !== null) w.push(r.prevW);
  if (r.accCur !== null) w.push(r.accW);
  return w.sort((a, b) => a - b);
}

describe("a region's accs per open window", () => {
  it('behave as one map from window to acc, with the newest two outside the Map (random events and closes)', () => {
    let seed = 17;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed / 2 ** 32);
    for (let trial = 0; trial < 200; trial++) {
      const r = region();
      const model = new Map<number, RegionAcc>();
      // Windows below nextClose are closed; events land within `open` windows of the newest (a lateness of 1..4 windows).
      const open = 1 + Math.floor(rnd() * 4);
      let nextClose = 0;
      let newest = 0;
      for (let step = 0; step < 300; step++) {
        if (rnd() < 0.2) {
          const a = takeRegionAcc(r, nextClose);
          assert.equal(a, model.get(nextClose), `trial ${trial} step ${step}: closing ${nextClose}`);
          model.delete(nextClose);
          nextClose++;
          newest = Math.max(newest, nextClose);
        } else {
          if (rnd() < 0.3) newest = Math.min(newest + 1, nextClose + open - 1);
          const w = nextClose + Math.floor(rnd() * (newest - nextClose + 1));
          const a = regionAccOf(r, w);
          const known = model.get(w);
          if (known) assert.equal(a, known, `trial ${trial} step ${step}: window ${w} has its acc`);
          else model.set(w, a);
          a.events++;
        }
        assert.deepEqual(openWindows(r), [...model.keys()].sort((x, y) => x - y));
        assert.equal(hasOpenAccs(r), model.size > 0);
        assert.equal(newestOpenWindow(r), Math.max(-1, ...model.keys()));
        if (r.accCur !== null) assert.ok(openWindows(r).every((w) => w <= r.accW), 'the newest is the newest');
        if (r.prevAcc !== null) assert.ok([...(r.olderAccs?.keys() ?? [])].every((w) => w < r.prevW), 'the previous is newer than the older ones');
        if (r.olderAccs !== null) assert.ok(r.olderAccs.size > 0, 'no empty Map is kept');
      }
    }
  });

  it('need no Map while at most two windows are open', () => {
    const r = region();
    for (let w = 0; w < 50; w++) {
      regionAccOf(r, w + 1).events++;
      regionAccOf(r, w).events++;
      assert.equal(takeRegionAcc(r, w)?.events, w === 0 ? 1 : 2);
      assert.equal(r.olderAccs, null);
    }
  });
});
