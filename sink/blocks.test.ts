import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KnownRanges, cutBlocks, dedupToken, type Cut, type OffsetRange } from './blocks.js';

const recs = (from: number, to: number, bytes = 10): { offset: number; bytes: number }[] => {
  const out = [];
  for (let o = from; o <= to; o++) out.push({ offset: o, bytes });
  return out;
};
const limits = { maxRecords: 100, maxBytes: 1_000_000 };
const ranges = (cuts: readonly Cut[]): string[] => cuts.map((c) => `${c.first}-${c.last}${c.known ? 'k' : ''}/${c.records}`);

describe('cutting blocks', () => {
  test('past the ledger: by record count, and the tail only when allowed', () => {
    assert.deepEqual(ranges(cutBlocks(recs(0, 249), [], 249, limits, false)), ['0-99/100', '100-199/100']);
    assert.deepEqual(ranges(cutBlocks(recs(0, 249), [], 249, limits, true)), ['0-99/100', '100-199/100', '200-249/50']);
  });

  test('by bytes, but a single large record still makes a block', () => {
    const big = [{ offset: 0, bytes: 50 }, { offset: 1, bytes: 60 }, { offset: 2, bytes: 500 }, { offset: 3, bytes: 1 }];
    assert.deepEqual(ranges(cutBlocks(big, [], 3, { maxRecords: 100, maxBytes: 100 }, true)), ['0-0/1', '1-1/1', '2-2/1', '3-3/1']);
  });

  test('a range the ledger knows is cut exactly there, whatever the limits say now', () => {
    const known: OffsetRange[] = [{ first: 0, last: 49 }, { first: 50, last: 179 }];
    assert.deepEqual(ranges(cutBlocks(recs(0, 249), known, 249, limits, true)), ['0-49k/50', '50-179k/130', '180-249/70']);
  });

  test('a known range waits until all of it is fetched', () => {
    const known: OffsetRange[] = [{ first: 100, last: 199 }];
    assert.deepEqual(ranges(cutBlocks(recs(100, 150), known, 150, limits, true)), []);
    assert.deepEqual(ranges(cutBlocks(recs(100, 199), known, 199, limits, true)), ['100-199k/100']);
  });

  test('records missing inside a known range (compaction) do not hold it back once fetched past', () => {
    const sparse = [{ offset: 100, bytes: 1 }, { offset: 120, bytes: 1 }, { offset: 210, bytes: 1 }];
    assert.deepEqual(ranges(cutBlocks(sparse, [{ first: 100, last: 199 }], 210, limits, true)), ['100-199k/2', '210-210/1']);
  });

  test('a new block stops before the next known range', () => {
    const known: OffsetRange[] = [{ first: 30, last: 39 }];
    assert.deepEqual(ranges(cutBlocks(recs(0, 39), known, 39, limits, false)), ['0-29/30', '30-39k/10']);
  });

  test('a replay reproduces the first run’s cuts from its ledger, however the records arrive', () => {
    // First run: records arrive in small fetches, each flushed as a partial block.
    const ledger = new KnownRanges();
    const firstRun: Cut[] = [];
    for (const [from, to] of [[0, 7], [8, 130], [131, 140], [141, 260]] as const) {
      const cuts = cutBlocks(recs(from, to), ledger.from(from), to, limits, true);
      ledger.add(cuts.filter((c) => !c.known));
      firstRun.push(...cuts);
    }
    // Replay: everything at once, fetched through the end, with the ledger as written.
    const written = new KnownRanges();
    written.add(firstRun.filter((c) => !c.known));
    const replay = cutBlocks(recs(0, 260), written.from(0), 260, limits, true);
    assert.deepEqual(
      replay.map((c) => `${c.first}-${c.last}`),
      firstRun.map((c) => `${c.first}-${c.last}`),
    );
    assert.ok(replay.every((c) => c.known));
  });
});

describe('known ranges', () => {
  test('sorted, first cut wins on overlap, old ranges dropped', () => {
    const k = new KnownRanges();
    k.add([{ first: 10, last: 19 }, { first: 0, last: 9 }]);
    k.add([{ first: 5, last: 30 }]);
    assert.deepEqual(k.from(0), [{ first: 0, last: 9 }, { first: 10, last: 19 }]);
    assert.deepEqual(k.from(12), [{ first: 10, last: 19 }]);
    assert.equal(k.size, 1);
  });
});

test('tokens name topic, partition, range and table', () => {
  assert.equal(dedupToken('pageloop.events.v1', 3, { first: 100, last: 199 }, 'events'), 'pageloop.events.v1:3:100-199:events');
});
