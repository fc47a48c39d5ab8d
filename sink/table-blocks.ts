/**
 * What every topic's row decoder shares: the record as the sink sees it,
 * the blocks of one insert round (TableBlocks), the generic row append of
 * the low-volume tables, and the shape of a decoder (RecordDecoder: a record
 * to what appends its rows).
 *
 * Every value is a pure function of the record (its bytes, key, timestamp,
 * partition and offset), so a replayed record makes the same rows: the
 * condition for insert deduplication to recognise a replayed block.
 */
import { NativeBlock } from '../clickhouse/native-block.js';
import type { Region } from '../schemas/identity.js';
import { COLUMNS, type InsertTable } from './columns.js';

/** One Kafka record, as the sink sees it. Offsets are below 2^53. */
export interface SinkRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The record's timestamp (CreateTime), ms since the epoch. */
  readonly timestampMs: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

/**
 * The blocks being filled for one insert round, created on first use, by
 * name: a table's name, or `table/part` for a second block of the same
 * table. The name is what the block's deduplication token ends with.
 */
export class TableBlocks {
  readonly blocks = new Map<string, NativeBlock>();

  get(table: InsertTable, part = ''): NativeBlock {
    const name = part === '' ? table : `${table}/${part}`;
    let b = this.blocks.get(name);
    if (!b) {
      b = new NativeBlock(table, COLUMNS[table]);
      this.blocks.set(name, b);
    }
    return b;
  }
}

/**
 * Events other than faults go to a second block of the events table: the
 * table is wide, and one compaction among a million faults would otherwise
 * make its twenty columns real (zero-filled) for every fault row.
 */
export const OTHER_EVENTS_PART = 'other';

/** A value for one column of appendRow (undefined: leave the column's default). */
export type RowValue = number | string | readonly number[] | Uint8Array | undefined;

/** Appends one row; names missing from `values` stay default. */
export function appendRow(block: NativeBlock, values: Readonly<Record<string, RowValue>>): void {
  const row = block.addRows(1);
  for (const [name, v] of Object.entries(values)) {
    if (v === undefined) continue;
    const col = block.col(name);
    const type = block.columns[col]!.type;
    switch (type) {
      case 'LowCardinality(String)':
        if (typeof v !== 'string') throw new Error(`${block.table}.${name}: a LowCardinality(String) column given ${typeof v}`);
        block.str(col, row, v);
        break;
      case 'String':
        if (typeof v === 'string') block.str(col, row, v);
        else if (v instanceof Uint8Array) block.bytes(col, row, v);
        else throw new Error(`${block.table}.${name}: a String column given ${typeof v}`);
        break;
      case 'Array(UInt32)':
      case 'Array(Float64)':
        if (!Array.isArray(v)) throw new Error(`${block.table}.${name}: an Array column given ${typeof v}`);
        block.array(col, row, v as readonly number[]);
        break;
      default: {
        if (typeof v !== 'number') throw new Error(`${block.table}.${name}: a ${type} column given ${typeof v}`);
        if (type === 'UInt8') block.u8(col, row, v);
        else if (type === 'UInt16') block.u16(col, row, v);
        else if (type === 'UInt32') block.u32(col, row, v);
        else if (type === 'Int32') block.i32(col, row, v);
        else if (type === 'Float64') block.f64(col, row, v);
        else block.u64(col, row, v);
      }
    }
  }
}

/** The kafka_partition and kafka_offset columns every table has. */
export function provenance(rec: SinkRecord): { kafka_partition: number; kafka_offset: number } {
  return { kafka_partition: rec.partition, kafka_offset: rec.offset };
}

/** A region's columns (mapping_kind ... region_length); none for no region. */
export function regionValues(r: Region | undefined): Record<string, RowValue> {
  if (!r) return {};
  return {
    mapping_kind: r.mapping.kind,
    mapping_path: r.mapping.path,
    mapping_ordinal: r.mapping.ordinal,
    region_offset: r.offset,
    region_start: r.start,
    region_length: r.length,
  };
}

/** Decodes a record (throwing WireDecodeError for a bad one) and returns what appends its rows. */
export type RecordDecoder = (rec: SinkRecord) => Appender;

/** Appends a decoded record's rows; eventRows says how many events rows it brings (to size the block once). */
export type Appender = ((t: TableBlocks) => void) & { readonly eventRows?: number };

/** A record's value (an empty one for null). */
export function recordValue(rec: SinkRecord): Buffer {
  // A null value outside the compacted hints topic is not a message.
  return rec.value ?? Buffer.alloc(0);
}

/** A record's key as text (empty for none). */
export function recordKeyText(rec: SinkRecord): string {
  return rec.key ? rec.key.toString('utf8') : '';
}

/** One topic's decoder and the tables its rows go to. */
export interface TopicRoute {
  readonly tables: readonly InsertTable[];
  readonly decode: RecordDecoder;
}
