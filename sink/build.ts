/**
 * The sink's one block builder: a cut's records into the table blocks of one
 * insert round (each record decodes or becomes a dead letter), and the
 * pipeline that builds block i+1 while block i is written. The sink
 * (sink.ts) and its benchmark (bench/sink.ts) both build through here.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { WireDecodeError } from '../schemas/wire-errors.js';
import { DECODERS } from './rows.js';
import { TableBlocks, type Appender, type SinkRecord } from './table-blocks.js';

export interface BuiltBlock {
  readonly tables: TableBlocks;
  readonly bad: { rec: SinkRecord; reason: string }[];
}

/** Where buildBlocks gives way: awaited after each record is decoded and after each is appended. */
export type BuildPause = () => Promise<void>;

/**
 * A turn of the event loop, the sink's pause: while a block is built, the
 * previous block's insert is in flight, and its body reaches the engine
 * through I/O callbacks that need those turns.
 */
export const eventLoopTurn: BuildPause = () => yieldToLoop();

/** Decodes one record: what appends its rows, or why it cannot be (the dead letter's reason). */
function decodeRecord(rec: SinkRecord): Appender | string {
  const route = DECODERS[rec.topic];
  if (!route) return `no table for topic ${rec.topic}`;
  try {
    return route.decode(rec);
  } catch (err) {
    if (err instanceof WireDecodeError) return err.reason;
    throw err;
  }
}

/** Table blocks with the events block sized for everything that will be appended. */
function sizedTables(appends: readonly Appender[]): TableBlocks {
  const tables = new TableBlocks();
  let events = 0;
  for (const a of appends) events += a.eventRows ?? 0;
  if (events > 0) tables.get('events').reserve(events);
  return tables;
}

/**
 * Turns records into table blocks: each decodes or becomes a dead letter.
 * All records are decoded before any row is appended, so the events block
 * is sized once. Without `pause` nothing is awaited on the way.
 */
export async function buildBlocks(records: readonly SinkRecord[], pause?: BuildPause): Promise<BuiltBlock> {
  const bad: { rec: SinkRecord; reason: string }[] = [];
  const appends: Appender[] = [];
  for (const rec of records) {
    const d = decodeRecord(rec);
    if (typeof d === 'string') bad.push({ rec, reason: d });
    else appends.push(d);
    if (pause) await pause();
  }
  const tables = sizedTables(appends);
  for (const append of appends) {
    append(tables);
    if (pause) await pause();
  }
  return { tables, bad };
}

/**
 * Writes items in order, building item i+1 while item i is written (the
 * embedded engine inserts on its own thread, so decoding and inserting
 * overlap). Stops between items when keepGoing() turns false.
 */
export async function pipelineBlocks<I, B>(items: readonly I[], build: (item: I) => Promise<B>, write: (item: I, built: B) => Promise<void>, keepGoing: () => boolean): Promise<void> {
  let next: Promise<B> | undefined = items.length > 0 ? build(items[0]!) : undefined;
  for (let i = 0; i < items.length && next; i++) {
    const built = await next;
    const writing = write(items[i]!, built);
    next = i + 1 < items.length && keepGoing() ? build(items[i + 1]!) : undefined;
    try {
      await writing;
    } catch (err) {
      await next?.catch(() => undefined);
      throw err;
    }
    if (!keepGoing()) {
      await next?.catch(() => undefined);
      return;
    }
  }
}
