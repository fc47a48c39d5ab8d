/**
 * EventBatch to bytes and back: encodeEventBatch checks a batch against its
 * proto types and structure (every column `rows` long or empty, an order
 * that accounts for every event, vmstat's pairs inside its names) and
 * writes it; decodeEventBatch reads any valid protobuf of it, makes the
 * same checks, and throws WireDecodeError otherwise. The envelope goes
 * through protobufjs (schemas/proto-reflect.ts), the column blocks, nearly
 * all of the bytes, through schemas/columns.ts, which writes the same
 * protobuf over ten times faster and reads it about five times faster
 * (100k fault summaries).
 */
import type { EventBatch, EventBatchInput, VmstatColumns } from './event-batch.js';
import {
  EVENT_BLOCK_KEYS,
  SAMPLER_KEYS,
  batchType,
  blockKeysInOrder,
  blockShape,
  columnOf,
  emptyBlock,
  eventSpecs,
  fullBatch,
  type Block,
  type BlockKey,
} from './event-blocks.js';
import { decodeColumns, encodeColumns } from './columns.js';
import { CodecError, ProtoReader, scanFields } from './proto-reader.js';
import { ProtoWriter } from './proto-writer.js';
import { EXPECTED, asRecord, fromWireScalar, isValid, messageFromWire, messageToWire, pbType, protoDecode, show, zeroOf, type ScalarKind } from './proto-reflect.js';
import { Bad, WireDecodeError, WireEncodeError, fail, need } from './wire-errors.js';

// ---------------------------------------------------------------------------
// EventBatch: structure checks shared by encode and decode
// ---------------------------------------------------------------------------

function columnPath(path: string, c: { sub: 'h' | undefined; name: string }): string {
  return c.sub ? `${path}.h.${c.name}` : `${path}.${c.name}`;
}

/** For schemas/ only: the structure checks, throwing Bad. */
export function checkBatch(b: EventBatch): void {
  if (!(typeof b.host === 'string' && b.host !== '')) fail('host: empty');
  if (!(typeof b.bootId === 'string' && b.bootId !== '')) fail('bootId: empty');
  if (!(typeof b.collectorId === 'string' && b.collectorId !== '')) fail('collectorId: empty');
  for (const [name, v] of [['sequence', b.sequence], ['firstEventNs', b.firstEventNs], ['lastEventNs', b.lastEventNs]] as const) {
    if (!isValid('u64', v)) fail(`${name}: expected ${EXPECTED.u64}, got ${show(v)}`);
  }
  for (const key of [...Object.values(EVENT_BLOCK_KEYS), ...SAMPLER_KEYS]) {
    const block = b[key] as unknown as Block;
    const path = key;
    asRecord(block, path);
    if (!isValid('u32', block.rows)) fail(`${path}.rows: expected ${EXPECTED.u32}, got ${show(block.rows)}`);
    for (const c of blockShape(key).columns) {
      const col = columnOf(block, c.sub, c.name);
      // The path and message are built only on failure: this runs for every column of every batch.
      if (!Array.isArray(col)) fail(`${columnPath(path, c)}: expected an array, got ${show(col)}`);
      if (col.length !== 0 && col.length !== block.rows) fail(`${columnPath(path, c)}: ${col.length} values for ${block.rows} rows`);
    }
  }
  checkVmstat(b.vmstat);
  checkOrder(b);
}

function checkVmstat(v: VmstatColumns): void {
  for (const name of ['names', 'nameIndex', 'delta'] as const) if (!Array.isArray(v[name])) fail(`vmstat.${name}: expected an array`);
  let total = 0;
  for (let i = 0; i < v.entries.length; i++) total += v.entries[i]!;
  if (v.nameIndex.length !== total) fail(`vmstat.nameIndex: ${v.nameIndex.length} values for ${total} entries`);
  if (v.delta.length !== total) fail(`vmstat.delta: ${v.delta.length} values for ${total} entries`);
  for (let i = 0; i < total; i++) {
    const at = v.nameIndex[i]!;
    if (!(at < v.names.length)) fail(`vmstat.nameIndex[${i}]: ${at} is past the ${v.names.length} names`);
  }
}

function checkOrder(b: EventBatch): void {
  const { type, run } = b.order;
  if (!(Array.isArray(type) && Array.isArray(run))) fail('order: expected type and run arrays');
  if (type.length !== run.length) fail(`order: ${type.length} types for ${run.length} runs`);
  if (type.length === 0) return;
  const seen = new Map<string, number>();
  for (let i = 0; i < type.length; i++) {
    const t = type[i]!;
    if (!eventSpecs().byType.has(t)) fail(`order.type[${i}]: ${show(t)} is not an event type`);
    if (!isValid('u32', run[i])) fail(`order.run[${i}]: expected ${EXPECTED.u32}, got ${show(run[i])}`);
    seen.set(t, (seen.get(t) ?? 0) + run[i]!);
  }
  for (const spec of eventSpecs().events) {
    const rows = b[spec.key].rows;
    const ordered = seen.get(spec.type) ?? 0;
    if (ordered !== rows) fail(`order: ${ordered} ${spec.type} events in runs, ${rows} rows in ${spec.key}`);
  }
}

// ---------------------------------------------------------------------------
// EventBatch: encode
// ---------------------------------------------------------------------------

function isZero(v: unknown): boolean {
  return v === '' || Object.is(v, 0);
}

/** A block -> the object the column codec writes: values checked, all-zero columns left out (one kept so rows stay bounded). */
function blockToWire(key: BlockKey, block: Block): Record<string, unknown> | undefined {
  if (block.rows === 0) return undefined;
  const shape = blockShape(key);
  const out: Record<string, unknown> = { rows: block.rows };
  const h: Record<string, unknown> = {};
  let kept = 0;
  let first: { sub: 'h' | undefined; name: string; col: unknown[] } | undefined;
  for (const c of shape.columns) {
    const col = columnOf(block, c.sub, c.name)!;
    const p = c.sub ? `${key}.h.${c.name}` : `${key}.${c.name}`;
    let allZero = true;
    for (let i = 0; i < col.length; i++) {
      const v = col[i];
      if (!isValid(c.kind, v)) fail(`${p}[${i}]: expected ${EXPECTED[c.kind]}, got ${show(v)}`);
      if (allZero && !isZero(v)) allZero = false;
    }
    if (col.length > 0) first ??= { sub: c.sub, name: c.name, col };
    if (allZero) continue;
    kept++;
    if (c.sub === 'h') h[c.name] = col;
    else out[c.name] = col;
  }
  // Decoders require a column when rows > 0: that bounds what a tiny
  // (garbage) record can make them allocate. Real blocks always have one
  // (timestamps are never 0); an all-zero block keeps its first column.
  if (kept === 0 && first) {
    if (first.sub === 'h') h[first.name] = first.col;
    else out[first.name] = first.col;
  } else if (kept === 0) {
    const c = shape.columns[0]!;
    const zeros = new Array<unknown>(block.rows).fill(zeroOf(c.kind));
    if (c.sub === 'h') h[c.name] = zeros;
    else out[c.name] = zeros;
  }
  if (Object.keys(h).length > 0) out.h = h;
  for (const c of shape.free) {
    const col = block[c.name] as unknown[];
    col.forEach((v, i) => {
      if (!isValid(c.kind, v)) fail(`${key}.${c.name}[${i}]: expected ${EXPECTED[c.kind]}, got ${show(v)}`);
    });
    if (col.length > 0) out[c.name] = col;
  }
  return out;
}

const BATCH_KEYS: ReadonlySet<string> = new Set([
  'host',
  'bootId',
  'collectorId',
  'sequence',
  'firstEventNs',
  'lastEventNs',
  'order',
  'loss',
  'dropped',
  ...Object.values(EVENT_BLOCK_KEYS),
  ...SAMPLER_KEYS,
]);


export function encodeEventBatch(input: EventBatchInput): Uint8Array {
  try {
    asRecord(input, 'batch');
    for (const key of Object.keys(input)) need(BATCH_KEYS.has(key), `${key}: not a field of EventBatch`);
    const b = fullBatch(input);
    checkBatch(b);
    return writeEventBatch(b, undefined);
  } catch (err) {
    if (err instanceof Bad) throw new WireEncodeError('EventBatch', err.message);
    throw err;
  }
}

/** For schemas/ only: a checked batch to bytes; the blocks in `direct` are written already (schemas/record-encoder.ts). */
export function writeEventBatch(b: EventBatch, direct: ReadonlyMap<BlockKey, Uint8Array> | undefined): Uint8Array {
  const specs = eventSpecs();
  const head: Record<string, unknown> = {
    host: b.host,
    bootId: b.bootId,
    collectorId: b.collectorId,
    sequence: b.sequence,
    firstEventNs: b.firstEventNs,
    lastEventNs: b.lastEventNs,
  };
  if (b.order.type.length > 0) {
    head.order = { type: b.order.type.map((t) => specs.byType.get(t)!.eventType), run: b.order.run };
  }
  const tail = {
    loss: b.loss.map((l, i) => messageToWire(pbType('FamilyLoss'), l, `loss[${i}]`)),
    dropped: b.dropped.map((d, i) => messageToWire(pbType('FamilyDrops'), d, `dropped[${i}]`)),
  };
  // A message is the concatenation of its fields: protobufjs writes the
  // small fields before and after, the column codec the blocks between.
  const out = new ProtoWriter(64 * 1024);
  out.bytes(batchType().encode(head).finish());
  for (const key of blockKeysInOrder()) {
    const written = direct?.get(key);
    if (written) {
      out.messageField(blockShape(key).id, written);
      continue;
    }
    const wire = blockToWire(key, b[key] as unknown as Block);
    if (wire) out.messageField(blockShape(key).id, encodeColumns(blockShape(key).layout, wire));
  }
  out.bytes(batchType().encode(tail).finish());
  return out.finish();
}

// ---------------------------------------------------------------------------
// EventBatch: decode
// ---------------------------------------------------------------------------

/** A decoded column (numbers already exact) at full length: an absent column is all zeros. */
function columnFromWire(kind: ScalarKind, raw: unknown, rows: number, path: string): unknown[] {
  const src = (raw ?? []) as unknown[];
  if (src.length === 0) return new Array<unknown>(rows).fill(zeroOf(kind));
  if (src.length !== rows) fail(`${path}: ${src.length} values for ${rows} rows`);
  return src;
}

function blockFromWire(key: BlockKey, msg: Record<string, unknown> | null | undefined): Block {
  if (!msg) return emptyBlock(key);
  const shape = blockShape(key);
  const rows = (msg.rows ?? 0) as number;
  const block: Block = { rows };
  const h = (msg.h ?? {}) as Record<string, unknown[]>;
  let present = 0;
  for (const c of shape.columns) {
    const raw = (c.sub === 'h' ? h[c.name] : msg[c.name]) as unknown[] | undefined;
    if (raw && raw.length > 0) present++;
  }
  if (rows > 0 && present === 0) fail(`${key}: ${rows} rows but no column`);
  for (const c of shape.columns) {
    const p = c.sub ? `${key}.h.${c.name}` : `${key}.${c.name}`;
    const raw = c.sub === 'h' ? h[c.name] : msg[c.name];
    const col = columnFromWire(c.kind, raw, rows, p);
    if (c.sub === 'h') (block.h ??= {})[c.name] = col;
    else block[c.name] = col;
  }
  for (const c of shape.free) block[c.name] = (msg[c.name] ?? []) as unknown[];
  return block;
}

/** The blocks (fast codec) and the rest (protobufjs) of an encoded batch. */
function splitBatch(bytes: Uint8Array): { envelope: Record<string, unknown>; blocks: Map<BlockKey, Record<string, unknown>> } {
  if (!(bytes instanceof Uint8Array)) throw new WireDecodeError('EventBatch', `expected bytes, got ${show(bytes)}`);
  const byId = new Map(blockKeysInOrder().map((k) => [blockShape(k).id, k]));
  const src = ProtoReader.of(bytes);
  const rest: Uint8Array[] = [];
  const payloads = new Map<BlockKey, Uint8Array[]>();
  try {
    for (const span of scanFields(src)) {
      const key = byId.get(span.id);
      if (key === undefined) rest.push(src.buf.subarray(span.start, span.end));
      else if (span.wire !== 2) throw new CodecError(`${key}: wire type ${span.wire}, expected a message`);
      else (payloads.get(key) ?? payloads.set(key, []).get(key)!).push(src.buf.subarray(span.payload, span.end));
    }
  } catch (err) {
    if (err instanceof CodecError) throw new WireDecodeError('EventBatch', `malformed protobuf (${err.message}) in ${bytes.length} bytes`, err);
    throw err;
  }
  const envelope = protoDecode('EventBatch', Buffer.concat(rest)) as unknown as Record<string, unknown>;
  const blocks = new Map<BlockKey, Record<string, unknown>>();
  for (const [key, parts] of payloads) {
    try {
      // A repeated message field merges, and merging is parsing the concatenation.
      blocks.set(key, decodeColumns(blockShape(key).layout, parts.length === 1 ? parts[0]! : Buffer.concat(parts), key));
    } catch (err) {
      if (err instanceof CodecError) throw new WireDecodeError('EventBatch', err.message, err);
      throw err;
    }
  }
  return { envelope, blocks };
}

export function decodeEventBatch(bytes: Uint8Array): EventBatch {
  const { envelope: msg, blocks } = splitBatch(bytes);
  try {
    const specs = eventSpecs();
    const u64 = (name: string): number => fromWireScalar('u64', msg[name], name) as number;
    const order = (msg.order ?? null) as { type?: number[]; run?: number[] } | null;
    const batch: Record<string, unknown> = {
      host: msg.host ?? '',
      bootId: msg.bootId ?? '',
      collectorId: msg.collectorId ?? '',
      sequence: u64('sequence'),
      firstEventNs: u64('firstEventNs'),
      lastEventNs: u64('lastEventNs'),
      order: {
        type: (order?.type ?? []).map((n, i) => {
          const spec = specs.byNumber.get(n);
          if (!spec) fail(`order.type[${i}]: unknown EventType ${n}`);
          return spec.type;
        }),
        run: [...(order?.run ?? [])],
      },
    };
    for (const key of blockKeysInOrder()) batch[key] = blockFromWire(key, blocks.get(key));
    batch.loss = ((msg.loss ?? []) as unknown[]).map((l, i) => messageFromWire(pbType('FamilyLoss'), l, `loss[${i}]`));
    batch.dropped = ((msg.dropped ?? []) as unknown[]).map((d, i) => messageFromWire(pbType('FamilyDrops'), d, `dropped[${i}]`));
    const result = batch as unknown as EventBatch;
    checkBatch(result);
    return result;
  } catch (err) {
    if (err instanceof Bad) throw new WireDecodeError('EventBatch', err.message, err);
    throw err;
  }
}
