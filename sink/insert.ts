/**
 * One Native insert with a deduplication token. PageloopClickHouse.insert
 * only speaks JSONEachRow, so this goes through the client's exec(), which
 * takes a raw body in any format on both paths (server and embedded).
 */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ClickHouseSettings } from '@clickhouse/client';
import type { PageloopClickHouse } from '../clickhouse/client.js';
import { toPageloopError } from '../clickhouse/errors.js';
import { quoteIdentifier } from '../clickhouse/sql.js';
import type { NativeBlock } from '../clickhouse/native-block.js';
import { dedupToken, type OffsetRange } from './blocks.js';
import type { TableBlocks } from './table-blocks.js';

/**
 * Settings of every sink insert. deduplicate_blocks_in_dependent_materialized_views:
 * a rollup block is deduplicated with a token derived from its source
 * block's, so a retry after a crash between the source table and a view
 * completes the view instead of dropping or doubling it.
 */
export const INSERT_SETTINGS: ClickHouseSettings = {
  insert_deduplicate: 1,
  deduplicate_blocks_in_dependent_materialized_views: 1,
};

/** Inserts a block's rows (nothing when it has none). Throws PageloopError (retriable or not). */
export async function insertNativeBlock(ch: Pick<PageloopClickHouse, 'client'>, block: NativeBlock, token: string, settings: ClickHouseSettings = {}): Promise<number> {
  const encoded = block.encode();
  if (!encoded) return 0;
  const sql = `INSERT INTO ${quoteIdentifier(block.table)} (${encoded.columns.map(quoteIdentifier).join(', ')}) FORMAT Native`;
  try {
    const r = await ch.client.exec({
      query: sql,
      values: Readable.from(encoded.body, { objectMode: false }),
      clickhouse_settings: { ...INSERT_SETTINGS, ...settings, insert_deduplication_token: token },
    });
    // Read the (empty) answer to its end: destroying it unread closed the
    // keep-alive socket of every insert and, with compressed responses, made
    // the client log a decompression error each time.
    r.stream.resume();
    await finished(r.stream);
  } catch (err) {
    throw toPageloopError(err, `insert ${block.rows} rows into ${block.table}`);
  }
  return block.rows;
}

/** Inserts one block's tables, each with its token (the block's name: `events`, `events/other`, ...). Returns rows per table. */
export async function insertBlock(ch: Pick<PageloopClickHouse, 'client'>, topic: string, partition: number, range: OffsetRange, tables: TableBlocks, settings: ClickHouseSettings = {}): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  // Sequential on purpose: the embedded engine runs one insert per core anyway, and the order keeps memory flat.
  for (const [name, block] of tables.blocks) {
    out.set(block.table, (out.get(block.table) ?? 0) + (await insertNativeBlock(ch, block, dedupToken(topic, partition, range, name), settings)));
  }
  return out;
}
