import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HINT_ACTIONS, decodeHint, decodeRegionScore, encodeHint, encodeRegionScore, type Hint, type RegionScore } from '../schemas/derived.js';
import { encodeHintFast, encodeRegionScoreFast } from './score-encoder.js';

/** A deterministic pseudo-random source (the test must not flake). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function u64(r: () => number): number {
  // Small, mid, 2^32 edges, and large exact values (addresses, boot-time ns).
  const pick = Math.floor(r() * 6);
  if (pick === 0) return 0;
  if (pick === 1) return Math.floor(r() * 128);
  if (pick === 2) return 2 ** 32 - 1 + Math.floor(r() * 3);
  if (pick === 3) return Math.floor(r() * 2 ** 53);
  if (pick === 4) return 2 ** 60;
  return Math.floor(r() * 2 ** 47);
}

function str(r: () => number): string {
  const choices = ['', 'host-a', 'nöde-ü-7', 'x'.repeat(200), '/usr/bin/app', '日本'];
  return choices[Math.floor(r() * choices.length)]!;
}

function randomScore(r: () => number): RegionScore {
  const sizes = Array.from({ length: Math.floor(r() * 4) }, () => ({
    sizeKb: 2 ** Math.floor(r() * 20),
    benefit: (r() - 0.3) * 1e9,
    cost: r() * 1e7,
    net: r() < 0.1 ? -0 : (r() - 0.5) * 1e9,
  }));
  return {
    process: { host: str(r) || 'h', bootId: str(r) || 'b', pid: Math.floor(r() * 2 ** 32), startNs: u64(r) },
    region: { mapping: { kind: (['anon', 'heap', 'stack', 'file'] as const)[Math.floor(r() * 4)]!, path: str(r), ordinal: Math.floor(r() * 300) }, offset: u64(r), start: u64(r), length: u64(r) },
    windowStartNs: u64(r),
    windowEndNs: u64(r),
    sizes,
    preferredSizeKb: Math.floor(r() * 2 ** 32),
    access: {
      faults: u64(r),
      writeFaults: u64(r),
      instrFaults: u64(r),
      protFaults: u64(r),
      majorFaults: u64(r),
      promotions: u64(r),
      promotionFailures: u64(r),
      collapses: u64(r),
      swapOuts: u64(r),
      damonAccesses: r() * 20,
      touchedBytes: u64(r),
    },
    executable: str(r),
    comm: str(r),
  };
}

describe('fast RegionScore encoder', () => {
  it('writes exactly the bytes of schemas/derived.ts encodeRegionScore (5000 random scores)', () => {
    const r = rng(42);
    for (let i = 0; i < 5000; i++) {
      const s = randomScore(r);
      const fast = Buffer.from(encodeRegionScoreFast(s));
      const ref = Buffer.from(encodeRegionScore(s));
      assert.ok(fast.equals(ref), `score ${i} differs:\n${fast.toString('hex')}\n${ref.toString('hex')}`);
      if (i % 100 === 0) assert.deepEqual(decodeRegionScore(fast).access, s.access);
    }
  });

  it('writes the right bytes when consecutive scores share a process or mapping, or differ in one field of it', () => {
    // The encoder reuses the bytes of the last process and mapping it wrote.
    const r = rng(11);
    let prev = randomScore(r);
    for (let i = 0; i < 3000; i++) {
      const s = randomScore(r);
      const pick = Math.floor(r() * 6);
      if (pick === 0) s.process = { ...prev.process };
      else if (pick === 1) s.process = { ...prev.process, pid: s.process.pid };
      else if (pick === 2) s.process = { ...prev.process, startNs: s.process.startNs };
      else if (pick === 3) s.process = { ...prev.process, host: s.process.host };
      if (r() < 0.5) s.region = { ...s.region, mapping: r() < 0.7 ? { ...prev.region.mapping } : { ...prev.region.mapping, ordinal: s.region.mapping.ordinal } };
      const fast = Buffer.from(encodeRegionScoreFast(s));
      const ref = Buffer.from(encodeRegionScore(s));
      assert.ok(fast.equals(ref), `score ${i} differs:\n${fast.toString('hex')}\n${ref.toString('hex')}`);
      prev = s;
    }
  });

  it('returns a fresh buffer each time (its writer is reused)', () => {
    const r = rng(7);
    const a = encodeRegionScoreFast(randomScore(r));
    const copy = Buffer.from(a);
    encodeRegionScoreFast(randomScore(r));
    assert.ok(Buffer.from(a).equals(copy));
  });
});

function randomHint(r: () => number): Hint {
  const action = HINT_ACTIONS[Math.floor(r() * HINT_ACTIONS.length)]!;
  const s = randomScore(r);
  return {
    hintId: str(r) || 'id',
    process: s.process,
    // cgroup-wide hints carry no region
    ...(action === 'reclaim_cgroup' && r() < 0.5 ? {} : { region: s.region }),
    action,
    pageSizeKb: Math.floor(r() * 2 ** 32),
    score: r() < 0.1 ? -0 : (r() - 0.5) * 1e9,
    reason: r() < 0.3 ? 'no access for 12 windows (threshold 6); '.repeat(1 + Math.floor(r() * 8)) : str(r),
    issuedNs: u64(r),
    expiresNs: u64(r),
    cgroup: action === 'reclaim_cgroup' ? '/sys/fs/cgroup/app' : str(r),
    bytes: u64(r),
  };
}

describe('fast Hint encoder', () => {
  it('writes exactly the bytes of schemas/derived.ts encodeHint (3000 random hints, long reasons included)', () => {
    const r = rng(5);
    for (let i = 0; i < 3000; i++) {
      const h = randomHint(r);
      const fast = Buffer.from(encodeHintFast(h));
      const ref = Buffer.from(encodeHint(h));
      assert.ok(fast.equals(ref), `hint ${i} differs:\n${fast.toString('hex')}\n${ref.toString('hex')}`);
      if (i % 100 === 0) assert.deepEqual(decodeHint(fast), h);
    }
  });

  it('leaves the score encoder\'s remembered process and mapping bytes right', () => {
    // A hint between two scores of one process must not disturb the bytes the score encoder copies.
    const r = rng(9);
    const s = randomScore(r);
    encodeRegionScoreFast(s);
    encodeHintFast(randomHint(r));
    assert.ok(Buffer.from(encodeRegionScoreFast(s)).equals(Buffer.from(encodeRegionScore(s))));
  });
});
