/**
 * Where the sink cuts a partition's records into insert blocks, and the
 * deduplication token of each block. Pure: the tests drive it directly.
 *
 * Exactly-once rests on one rule: a block that is inserted again (after a
 * crash before the offset commit, or in a replay) must hold the same
 * records, so it makes the same rows and carries the same token, and
 * ClickHouse drops it as a duplicate. Cutting by size and time alone breaks
 * that: a block flushed early because traffic paused (offsets 100-149)
 * would come back in a replay, with the whole backlog at hand, as 100-199,
 * a new token, and 50 doubled records. Cutting only at fixed offset
 * multiples keeps the cuts but can never flush a partial block on time.
 *
 * So the sink keeps a ledger (table sink_blocks) of every range it cut,
 * written before the block's rows. A range the ledger knows is cut again
 * exactly there; only beyond the ledger does the sink choose, by record
 * count, bytes, or because it has caught up with the partition (a partial
 * block, which the ledger then remembers). The ledger is written first so
 * that a crash between ledger and rows leaves a range that the next run
 * re-cuts and completes; a crash before the ledger row leaves nothing.
 */

export interface OffsetRange {
  readonly first: number;
  readonly last: number;
}

export interface PendingRecord {
  readonly offset: number;
  /** Size of the value, for the byte limit. */
  readonly bytes: number;
}

export interface CutLimits {
  /** At most this many records per new block. */
  readonly maxRecords: number;
  /** At most about this many value bytes per new block (a single bigger record still makes a block). */
  readonly maxBytes: number;
}

export interface Cut extends OffsetRange {
  /** How many of the pending records (from the front) the block takes. */
  readonly records: number;
  /** True when the ledger already had the range (no ledger row to write). */
  readonly known: boolean;
}

/**
 * The blocks that can be cut now from a partition's pending records
 * (ascending offsets). `known` are ledger ranges (ascending, disjoint);
 * `fetchedThrough` is the highest offset fetched so far (so every record at
 * or below it that exists is pending or already cut); `flushTail` lets
 * the records after the last full block form a partial block. Records not
 * cut stay pending.
 */
export function cutBlocks(pending: readonly PendingRecord[], known: readonly OffsetRange[], fetchedThrough: number, limits: CutLimits, flushTail: boolean): Cut[] {
  const cuts: Cut[] = [];
  let i = 0;
  let k = 0;
  while (i < pending.length) {
    const off = pending[i]!.offset;
    while (k < known.length && known[k]!.last < off) k++;
    const kb = known[k];
    if (kb !== undefined && kb.first <= off) {
      // Inside a range the ledger knows: exactly that range, once all of it is fetched.
      let j = i;
      while (j < pending.length && pending[j]!.offset <= kb.last) j++;
      if (fetchedThrough < kb.last) break;
      cuts.push({ first: kb.first, last: kb.last, records: j - i, known: true });
      i = j;
      continue;
    }
    // Past the ledger: a new block, which must stop before the next known range.
    const boundary = kb !== undefined ? kb.first : Number.POSITIVE_INFINITY;
    let j = i;
    let bytes = 0;
    while (j < pending.length && pending[j]!.offset < boundary && j - i < limits.maxRecords) {
      const b = pending[j]!.bytes;
      if (j > i && bytes + b > limits.maxBytes) break;
      bytes += b;
      j++;
    }
    // Full (a record is left over, or the next known range is all that follows) or allowed to be partial.
    const full = j < pending.length || fetchedThrough >= boundary - 1;
    if (!full && !flushTail) break;
    cuts.push({ first: off, last: pending[j - 1]!.offset, records: j - i, known: false });
    i = j;
  }
  return cuts;
}

/** The insert deduplication token of one block's rows in one table. */
export function dedupToken(topic: string, partition: number, range: OffsetRange, table: string): string {
  return `${topic}:${partition}:${range.first}-${range.last}:${table}`;
}

/** Known ranges of one partition, oldest first, from the ledger and from this run. */
export class KnownRanges {
  private ranges: OffsetRange[] = [];

  /** Ranges that can still matter at or after `offset`. */
  from(offset: number): readonly OffsetRange[] {
    let k = 0;
    while (k < this.ranges.length && this.ranges[k]!.last < offset) k++;
    if (k > 0) this.ranges = this.ranges.slice(k);
    return this.ranges;
  }

  /** Adds ranges (from the ledger or just cut), keeping them sorted; overlapping duplicates are ignored. */
  add(ranges: readonly OffsetRange[]): void {
    if (ranges.length === 0) return;
    const merged = [...this.ranges, ...ranges].sort((a, b) => a.first - b.first);
    const out: OffsetRange[] = [];
    for (const r of merged) {
      const prev = out[out.length - 1];
      if (prev && r.first <= prev.last) continue; // the ledger's first cut wins
      out.push(r);
    }
    this.ranges = out;
  }

  get size(): number {
    return this.ranges.length;
  }
}
