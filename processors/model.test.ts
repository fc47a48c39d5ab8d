import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SCORER_CONFIG } from './config.js';
import {
  benefitNs,
  compactionCostNs,
  decayHostCost,
  fallbackInflation,
  newHostCost,
  newOrderStats,
  orderOfSizeKb,
  pageCostNs,
  refaultCostNs,
  regionCostNs,
  scoreSizes,
  sizeKbOfOrder,
  translationNsPerAccess,
  updateHostCost,
  type OrderStats,
} from './model.js';

const c = DEFAULT_SCORER_CONFIG;
const MB2 = 2 * 1024 * 1024;

function stats(o: Partial<OrderStats>): OrderStats {
  return { ...newOrderStats(), ...o };
}

describe('page orders', () => {
  it('maps sizes and orders both ways', () => {
    assert.equal(orderOfSizeKb(2048, 4), 9);
    assert.equal(orderOfSizeKb(64, 4), 4);
    assert.equal(sizeKbOfOrder(9, 4), 2048);
    assert.equal(sizeKbOfOrder(0, 4), 4);
  });
});

describe('benefit', () => {
  it('saves the full walk cost per access at 2 MiB and a log-proportional, discounted share below', () => {
    assert.equal(translationNsPerAccess(2048, c), c.walkNsPerAccess);
    assert.equal(translationNsPerAccess(4, c), 0);
    const mthp = translationNsPerAccess(64, c);
    assert.ok(Math.abs(mthp - (c.walkNsPerAccess * (4 / 9) * c.mthpWalkEfficiency)) < 1e-12);
    assert.ok(translationNsPerAccess(16, c) < mthp && mthp < translationNsPerAccess(2048, c));
  });

  it('counts accesses and first-touch faults saved', () => {
    assert.equal(benefitNs(2048, 100, 0, c), 100 * c.accessesPerSample * c.walkNsPerAccess);
    assert.equal(benefitNs(2048, 0, 512, c), 512 * (1 - 4 / 2048) * c.minorFaultNs);
    assert.equal(benefitNs(2048, 0, 0, c), 0);
  });
});

describe('cost', () => {
  it('is zeroing alone without compaction or fallbacks', () => {
    const cost = newHostCost();
    assert.equal(pageCostNs(2048, cost, c), 2048 * c.zeroingNsPerKb);
    // A region of 2 MiB holds one 2 MiB page or 32 64 KiB pages: the same bytes to zero.
    assert.equal(regionCostNs(2048, MB2, cost, c), regionCostNs(64, MB2, cost, c));
    assert.equal(regionCostNs(2048, MB2, cost, c), (2048 * c.zeroingNsPerKb) / c.amortizeWindows);
  });

  it('weighs compaction by how often it was needed and how long it took', () => {
    assert.equal(compactionCostNs(undefined, c), 0);
    assert.equal(compactionCostNs(stats({ attempts: 10, directCompactions: 5, directCompactionNs: 5 * 4e6 }), c), 0.5 * 4e6);
    // More compactions than attempts (attempts not seen): P is capped at 1.
    assert.equal(compactionCostNs(stats({ attempts: 0, directCompactions: 2, directCompactionNs: 2e6 }), c), 1e6);
  });

  it('inflates by the fallback rate, capped', () => {
    assert.equal(fallbackInflation(stats({ attempts: 10, failures: 5 }), c), 2);
    assert.equal(fallbackInflation(stats({ attempts: 10, failures: 10 }), c), c.maxFallbackInflation);
    assert.equal(fallbackInflation(stats({ attempts: 10 }), c), 1);
  });

  it('a compaction storm on order 9 makes 2 MiB lose to 64 KiB, and the storm fades with decay', () => {
    const cost = newHostCost();
    const before = scoreSizes([64, 2048], MB2, 100, 0, cost, c);
    assert.equal(before.preferredSizeKb, 2048);
    updateHostCost(cost, { orders: new Map([[9, stats({ attempts: 20, failures: 10, directCompactions: 20, directCompactionNs: 20 * 50e6 })]]), reclaimNs: 0, reclaimedPages: 0 }, c);
    const storm = scoreSizes([64, 2048], MB2, 100, 0, cost, c);
    assert.equal(storm.preferredSizeKb, 64);
    assert.ok(storm.sizes.find((s) => s.sizeKb === 2048)!.net < 0);
    // Promotions without compaction after it dilute P; old counts decay.
    for (let i = 0; i < 6; i++) updateHostCost(cost, { orders: new Map([[9, stats({ attempts: 20 })]]), reclaimNs: 0, reclaimedPages: 0 }, c);
    assert.equal(scoreSizes([64, 2048], MB2, 100, 0, cost, c).preferredSizeKb, 2048);
  });

  it('prefers the base page when no size pays off', () => {
    const r = scoreSizes([64, 2048], MB2, 0, 0, newHostCost(), c);
    assert.equal(r.preferredSizeKb, 4);
    assert.ok(r.bestNet < 0);
    assert.deepEqual(
      r.sizes.map((s) => s.sizeKb),
      [64, 2048],
    );
    for (const s of r.sizes) assert.equal(s.net, s.benefit - s.cost);
  });
});

describe('decay and refault cost', () => {
  it('fades statistics and drops what is negligible', () => {
    const cost = newHostCost();
    cost.orders.set(9, stats({ attempts: 8, directCompactions: 8, directCompactionNs: 8 }));
    cost.reclaimNs = 100;
    cost.reclaimedPages = 10;
    decayHostCost(cost, 1, c);
    assert.equal(cost.orders.get(9)!.attempts, 4);
    decayHostCost(cost, 64, c);
    assert.equal(cost.orders.size, 0);
    assert.equal(cost.reclaimedPages, 0);
  });

  it('adds reclaim ns per page to the swap-in prior', () => {
    const cost = newHostCost();
    assert.equal(refaultCostNs(cost, c), c.swapInNs);
    cost.reclaimNs = 1000;
    cost.reclaimedPages = 10;
    assert.equal(refaultCostNs(cost, c), c.swapInNs + 100);
  });
});
