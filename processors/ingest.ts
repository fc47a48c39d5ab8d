/**
 * One EventBatch's events into the state, in the batch's order: runs of
 * its EventOrder (hundreds per batch when types interleave), or one run per
 * block in EventType order when it carries none; each run goes to its
 * family's ingest function (ingest-*.ts), the samplers' rows last.
 */
import type { ProbeEventType } from '../bpf/events.js';
import type { TypedEventBatch } from '../schemas/typed-decode.js';
import type { IngestContext } from './ingest-context.js';
import { ingestFaultSummaries, ingestFaults } from './ingest-faults.js';
import { ingestCollapses, ingestCompactions, ingestPromotions } from './ingest-pages.js';
import { ingestSamplers } from './ingest-samplers.js';
import { ingestReclaims, ingestSwapIns, ingestSwapOuts } from './ingest-swap.js';

type BlockType = Exclude<ProbeEventType, 'bench'>;

/** The order of blocks when a batch carries no EventOrder (EventType order). */
const BLOCK_ORDER: readonly BlockType[] = [
  'fault',
  'promotion',
  'collapse',
  'compaction',
  'compaction_defer',
  'kcompactd_wake',
  'swap_out',
  'swap_in',
  'swap_entries',
  'reclaim',
  'fault_summary',
];

/** Each type's place in BLOCK_ORDER (a small index for per-type cursors). */
const TYPE_INDEX = Object.fromEntries(BLOCK_ORDER.map((t, i) => [t, i])) as Readonly<Record<BlockType, number>>;

/** Applies batch b to the host `x` was begun with; counts its block events on the host. */
export function ingestBatch(x: IngestContext, b: TypedEventBatch): void {
  // Runs of the order, or one run per block; a cursor per type.
  const ordered = b.order.type.length > 0;
  const types = ordered ? b.order.type : BLOCK_ORDER;
  const cursor = new Array<number>(BLOCK_ORDER.length).fill(0);
  let events = 0;
  for (let k = 0; k < types.length; k++) {
    const type = types[k]!;
    const rows = blockRows(b, type);
    const run = ordered ? b.order.run[k]! : rows;
    const from = cursor[TYPE_INDEX[type]]!;
    const to = Math.min(from + run, rows);
    cursor[TYPE_INDEX[type]] = to;
    events += to - from;
    switch (type) {
      case 'fault_summary':
        ingestFaultSummaries(x, b.faultSummaries, from, to);
        break;
      case 'fault':
        ingestFaults(x, b.faults, from, to);
        break;
      case 'promotion':
        ingestPromotions(x, b.promotions, from, to);
        break;
      case 'collapse':
        ingestCollapses(x, b.collapses, from, to);
        break;
      case 'compaction':
        ingestCompactions(x, b.compactions, from, to);
        break;
      case 'compaction_defer':
        x.countHostEvents(b.compactionDefers.h.tsNs, from, to, 'compactionDefers');
        break;
      case 'kcompactd_wake':
        x.countHostEvents(b.kcompactdWakes.h.tsNs, from, to, 'kcompactdWakes');
        break;
      case 'swap_out':
        ingestSwapOuts(x, b.swapOuts, from, to);
        break;
      case 'swap_in':
        ingestSwapIns(x, b.swapIns, from, to);
        break;
      case 'swap_entries':
        x.countHostEvents(b.swapEntries.h.tsNs, from, to, 'swapEntries');
        break;
      case 'reclaim':
        ingestReclaims(x, b.reclaims, from, to);
        break;
    }
  }
  x.h.counters.events += events;

  if (b.damon.rows > 0 || b.psi.rows > 0) ingestSamplers(x, b);
}

function blockRows(b: TypedEventBatch, type: BlockType): number {
  switch (type) {
    case 'fault':
      return b.faults.rows;
    case 'fault_summary':
      return b.faultSummaries.rows;
    case 'promotion':
      return b.promotions.rows;
    case 'collapse':
      return b.collapses.rows;
    case 'compaction':
      return b.compactions.rows;
    case 'compaction_defer':
      return b.compactionDefers.rows;
    case 'kcompactd_wake':
      return b.kcompactdWakes.rows;
    case 'swap_out':
      return b.swapOuts.rows;
    case 'swap_in':
      return b.swapIns.rows;
    case 'swap_entries':
      return b.swapEntries.rows;
    case 'reclaim':
      return b.reclaims.rows;
  }
}
