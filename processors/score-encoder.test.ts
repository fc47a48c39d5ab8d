import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRegionScore, encodeRegionScore, type RegionScore } from '../schemas/wire.js';
import { encodeRegionScoreFast } from './score-encoder.js';

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
  it('writes exactly the bytes of schemas/wire.ts encodeRegionScore (5000 random scores)', () => {
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
