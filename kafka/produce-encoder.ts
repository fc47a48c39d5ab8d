/**
 * Produce requests for kafkajs, encoded in one pass into one buffer.
 *
 * Why: kafkajs 2.2.4 (its last release) encodes every record through a
 * chain of small Encoder objects, BigInt-backed Longs and buffer copies:
 * about 8.5 us per record on our VM, so publishing the processors' outputs
 * (one small record per region score) cost about as much CPU as computing
 * them. This writes the same bytes (kafka/produce-encoder.test.ts
 * compares them with kafkajs's own encoder) in a small fraction of that.
 *
 * Scope: Produce v3 and later (record batches, magic 2), no compression, no
 * record headers, keys and values that are strings, Buffers or null, and
 * timestamps that are integers or their decimal strings. A request outside
 * that is left to kafkajs's encoder, whole.
 *
 * How it plugs in: kafkajs looks up the Produce request definition on every
 * produce (`lookupRequest(apiKeys.Produce, requests.Produce)`), so wrapping
 * that definition's `protocol` once per process reaches every producer,
 * including ones created before. Only `encode` of the request changes;
 * kafkajs still builds the request, parses the response and keeps the
 * sequence numbers and transactions.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { crc32c } from './crc32c.js';

type Bytes = string | Buffer | null | undefined;

export interface ProduceMessage {
  key?: Bytes;
  value?: Bytes;
  timestamp?: string | number | null;
  headers?: Record<string, unknown> | null;
}

export interface ProducePartition {
  partition: number;
  firstSequence?: number;
  messages: readonly ProduceMessage[];
}

export interface ProduceTopic {
  topic: string;
  partitions: readonly ProducePartition[];
}

/** What kafkajs passes to a Produce request factory. */
export interface ProduceRequestArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  /** A number, decimal string, bigint or kafkajs Long, as kafkajs's Long.fromValue takes it. */
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: readonly ProduceTopic[];
}

/** Record batch header from `attributes` to the record count: 2+4+8+8+8+2+4+4 bytes. */
const BATCH_BODY_HEADER = 40;
/** Partition leader epoch (4), magic (1), CRC (4). */
const BATCH_PREFIX = 9;
const MAGIC = 2;
const TRANSACTIONAL = 0x10;
/** Millisecond timestamps up to 15 digits stay exact as doubles, and so do their differences. */
const DECIMAL_MS = /^\d{1,15}$/;

// Per-record scratch, reused across calls (encoding is synchronous).
let keyLens = new Int32Array(1024);
let valueLens = new Int32Array(1024);
/** Per record: its timestamp delta, zigzagged, and its body size (the record's length prefix), from the plan. */
let zigzagDeltas = new Float64Array(1024);
let bodySizes = new Int32Array(1024);

function reserve(n: number): void {
  if (keyLens.length >= n) return;
  const size = Math.max(n, keyLens.length * 2);
  keyLens = new Int32Array(size);
  valueLens = new Int32Array(size);
  zigzagDeltas = new Float64Array(size);
  bodySizes = new Int32Array(size);
}

/** Byte length of a key or value, -1 for null; undefined when kafkajs's encoder must handle it. */
function bytesLength(v: Bytes): number | undefined {
  if (v === null || v === undefined) return -1;
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  return Buffer.isBuffer(v) ? v.length : undefined;
}

/** Size of an unsigned LEB128 varint (n < 2^53). */
function uvarintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Zigzag of an integer n with |n| < 2^52, as a number. */
function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** kafkajs's Long.fromValue, as a bigint: what writeInt64 writes. */
function int64Of(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return BigInt.asIntN(64, v);
  if (typeof v === 'number') return Number.isNaN(v) ? 0n : Number.isInteger(v) ? BigInt.asIntN(64, BigInt(v)) : undefined;
  if (typeof v === 'string') {
    if (v === 'NaN' || v === 'Infinity' || v === '+Infinity' || v === '-Infinity') return 0n;
    return /^[+-]?\d+$/.test(v) ? BigInt.asIntN(64, BigInt(v)) : undefined;
  }
  if (typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'bigint') return BigInt.asIntN(64, (v as { value: bigint }).value);
  return undefined;
}

/** A timestamp as kafkajs reads it: undefined when absent, NaN when this encoder does not take it. */
function timestampOf(t: string | number | null | undefined): number | undefined {
  if (t === null || t === undefined) return undefined;
  if (typeof t === 'number') return Number.isSafeInteger(t) && Math.abs(t) < 1e15 ? t : NaN;
  return DECIMAL_MS.test(t) ? Number(t) : NaN;
}

interface BatchPlan {
  firstTimestamp: number;
  maxTimestamp: number;
  /** Bytes of the records. */
  recordBytes: number;
}

/**
 * Sizes one partition's records (scratch from `base`) and the batch's
 * timestamps. kafkajs takes the first and max timestamp from a default
 * `.sort()`, which compares the values as strings, and a missing timestamp
 * counts as `now` (as does a numeric 0, which is falsy): reproduced exactly.
 */
function planBatch(messages: readonly ProduceMessage[], base: number, now: number): BatchPlan | undefined {
  let first: string | undefined;
  let max: string | undefined;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.headers !== undefined && (m.headers === null || Object.keys(m.headers).length > 0)) return undefined;
    const kl = bytesLength(m.key);
    const vl = bytesLength(m.value);
    const t = timestampOf(m.timestamp);
    if (kl === undefined || vl === undefined || Number.isNaN(t)) return undefined;
    keyLens[base + i] = kl;
    valueLens[base + i] = vl;
    if (t !== undefined) {
      const s = String(m.timestamp);
      if (first === undefined || s < first) first = s;
      if (max === undefined || s >= max) max = s;
    }
  }
  const firstTimestamp = first === undefined ? now : Number(first);
  const maxTimestamp = max === undefined ? now : Number(max);
  let recordBytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const delta = (m.timestamp ? Number(m.timestamp) : now) - firstTimestamp;
    const zDelta = zigzag(delta);
    zigzagDeltas[base + i] = zDelta;
    const kl = keyLens[base + i]!;
    const vl = valueLens[base + i]!;
    const body =
      1 + // attributes
      uvarintSize(zDelta) +
      uvarintSize(2 * i) +
      (kl < 0 ? 1 : uvarintSize(2 * kl) + kl) +
      (vl < 0 ? 1 : uvarintSize(2 * vl) + vl) +
      1; // no headers
    bodySizes[base + i] = body;
    recordBytes += uvarintSize(2 * body) + body;
  }
  return { firstTimestamp, maxTimestamp, recordBytes };
}

/**
 * The body of a Produce request (v3 and later: the same layout), or
 * undefined when it is outside this encoder's scope (see the module comment).
 * `now` stands in for missing timestamps, as Date.now() does in kafkajs.
 */
export function encodeProduceRequest(req: ProduceRequestArgs, now = Date.now()): Buffer | undefined {
  if ((req.compression ?? 0) !== 0) return undefined;
  const producerId = req.producerId === undefined ? -1n : int64Of(req.producerId);
  if (producerId === undefined) return undefined;
  const transactionalId = req.transactionalId ?? null;
  const epoch = req.producerEpoch ?? 0;

  let count = 0;
  for (const t of req.topicData) for (const p of t.partitions) count += p.messages.length;
  reserve(count);

  const plans: BatchPlan[] = [];
  let size = (transactionalId === null ? 2 : 2 + Buffer.byteLength(transactionalId, 'utf8')) + 2 + 4 + 4;
  let base = 0;
  for (const t of req.topicData) {
    size += 2 + Buffer.byteLength(t.topic, 'utf8') + 4;
    for (const p of t.partitions) {
      const plan = planBatch(p.messages, base, now);
      if (!plan) return undefined;
      plans.push(plan);
      base += p.messages.length;
      // partition, record set size, first offset, batch length, then the batch.
      size += 4 + 4 + 8 + 4 + BATCH_PREFIX + BATCH_BODY_HEADER + plan.recordBytes;
    }
  }

  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (transactionalId === null) pos = buf.writeInt16BE(-1, pos);
  else {
    pos = buf.writeInt16BE(Buffer.byteLength(transactionalId, 'utf8'), pos);
    pos += buf.write(transactionalId, pos, 'utf8');
  }
  pos = buf.writeInt16BE(req.acks, pos);
  pos = buf.writeInt32BE(req.timeout, pos);
  pos = buf.writeInt32BE(req.topicData.length, pos);

  const writeUvarint = (n: number): void => {
    while (n >= 128) {
      buf[pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
  };
  const writeBytes = (v: Bytes, len: number): void => {
    if (len < 0) {
      buf[pos++] = 1; // zigzag(-1)
      return;
    }
    writeUvarint(2 * len);
    if (typeof v === 'string') pos += buf.write(v, pos, len, 'utf8');
    else {
      buf.set(v as Buffer, pos);
      pos += len;
    }
  };

  let planAt = 0;
  base = 0;
  for (const t of req.topicData) {
    pos = buf.writeInt16BE(Buffer.byteLength(t.topic, 'utf8'), pos);
    pos += buf.write(t.topic, pos, 'utf8');
    pos = buf.writeInt32BE(t.partitions.length, pos);
    for (const p of t.partitions) {
      const plan = plans[planAt++]!;
      const n = p.messages.length;
      const batchBytes = BATCH_PREFIX + BATCH_BODY_HEADER + plan.recordBytes;
      pos = buf.writeInt32BE(p.partition, pos);
      pos = buf.writeInt32BE(8 + 4 + batchBytes, pos);
      pos = buf.writeBigInt64BE(0n, pos); // first offset: the broker assigns it
      pos = buf.writeInt32BE(batchBytes, pos);
      pos = buf.writeInt32BE(0, pos); // partition leader epoch
      buf[pos++] = MAGIC;
      const crcAt = pos;
      pos += 4;
      const bodyAt = pos;
      pos = buf.writeInt16BE(transactionalId ? TRANSACTIONAL : 0, pos);
      pos = buf.writeInt32BE(n - 1, pos);
      pos = buf.writeBigInt64BE(BigInt(plan.firstTimestamp), pos);
      pos = buf.writeBigInt64BE(BigInt(plan.maxTimestamp), pos);
      pos = buf.writeBigInt64BE(producerId, pos);
      pos = buf.writeInt16BE(epoch, pos);
      pos = buf.writeInt32BE(p.firstSequence ?? 0, pos);
      pos = buf.writeInt32BE(n, pos);
      for (let i = 0; i < n; i++) {
        const m = p.messages[i]!;
        const kl = keyLens[base + i]!;
        const vl = valueLens[base + i]!;
        writeUvarint(2 * bodySizes[base + i]!);
        buf[pos++] = 0; // record attributes: none are defined
        writeUvarint(zigzagDeltas[base + i]!);
        writeUvarint(2 * i);
        writeBytes(m.key, kl);
        writeBytes(m.value, vl);
        buf[pos++] = 0; // header count
      }
      buf.writeUInt32BE(crc32c(buf, bodyAt, pos), crcAt);
      base += n;
    }
  }
  if (pos !== size) throw new Error(`produce encoder: wrote ${pos} bytes, planned ${size}`);
  return buf;
}

// ---------------------------------------------------------------------------
// Installing into kafkajs
// ---------------------------------------------------------------------------

interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
}
interface BuiltRequest {
  request: { apiVersion: number; encode: () => Promise<KafkajsEncoder> };
  response: unknown;
}
type RequestFactory = (args: ProduceRequestArgs) => BuiltRequest;
interface RequestDefinitions {
  versions: string[];
  protocol: (v: { version: number }) => RequestFactory;
  [INSTALLED]?: true;
}

const INSTALLED = Symbol.for('pageloop.fastProduceEncoder');
const counts = { fast: 0, byKafkajs: 0 };

/** Produce requests encoded here and left to kafkajs since this process started. */
export function fastProduceCounts(): { fast: number; byKafkajs: number } {
  return { ...counts };
}
/** The kafkajs release whose internals (request definitions, Encoder fields) this was written against. */
export const KAFKAJS_VERSION = '2.2.4';

export type InstallResult = { installed: true } | { installed: false; reason: string };

/**
 * Wraps kafkajs's Produce request definition so that requests in scope are
 * encoded here (idempotent, once per process). With another kafkajs release
 * it changes nothing and says why: its internals may differ.
 */
export function installFastProduceEncoder(): InstallResult {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('kafkajs/package.json'));
  const { version } = require(join(root, 'package.json')) as { version: string };
  if (version !== KAFKAJS_VERSION) return { installed: false, reason: `kafkajs ${version} is not ${KAFKAJS_VERSION}, whose internals this encoder plugs into` };
  const defs = require(join(root, 'src/protocol/requests/produce/index.js')) as RequestDefinitions;
  if (defs[INSTALLED]) return { installed: true };
  const Encoder = require(join(root, 'src/protocol/encoder.js')) as new (initialSize?: number) => KafkajsEncoder;
  const original = defs.protocol;
  defs.protocol = ({ version: apiVersion }) => {
    const factory = original({ version: apiVersion });
    if (apiVersion < 3) return factory;
    return (args) => {
      const built = factory(args);
      const kafkajsEncode = built.request.encode;
      built.request.encode = async () => {
        const bytes = encodeProduceRequest(args);
        if (!bytes) {
          counts.byKafkajs++;
          return kafkajsEncode();
        }
        counts.fast++;
        // kafkajs reads an Encoder through `buf` and `offset` only (its `buffer` getter and writeEncoder).
        const e = new Encoder(0);
        e.buf = bytes;
        e.offset = bytes.length;
        return e;
      };
      return built;
    };
  };
  defs[INSTALLED] = true;
  return { installed: true };
}

// ---------------------------------------------------------------------------
// Grouping a request's messages by partition
// ---------------------------------------------------------------------------

type Partitioner = (args: { topic: string; partitionMetadata: readonly unknown[]; message: unknown }) => number;
type Grouping = (args: { topic: string; partitionMetadata: readonly unknown[]; messages: readonly unknown[]; partitioner: Partitioner }) => Record<number, unknown[]>;

/**
 * kafkajs's groupMessagesPerPartition, in linear time: the same partitions,
 * messages in the same order. kafkajs's copies a partition's whole list for
 * every message it adds, so a request of k records for one partition (the
 * processors' scores of a host all go to one) costs k^2/2 copies and as
 * much garbage.
 */
export const groupMessagesPerPartition: Grouping = ({ topic, partitionMetadata, messages, partitioner }) => {
  const byPartition: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return byPartition;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (byPartition[partition] ??= []).push(message);
  }
  return byPartition;
};

/**
 * Puts the linear grouping where kafkajs will load its own. kafkajs binds
 * the function when its producer module loads, so this works only before
 * kafkajs is first loaded: entry points import kafka/preload.js first.
 * Afterwards it changes nothing and says so.
 */
export function installLinearGrouping(): InstallResult {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('kafkajs/package.json'));
  const { version } = require(join(root, 'package.json')) as { version: string };
  if (version !== KAFKAJS_VERSION) return { installed: false, reason: `kafkajs ${version} is not ${KAFKAJS_VERSION}` };
  const groupingPath = join(root, 'src/producer/groupMessagesPerPartition.js');
  const cache = require.cache;
  if (cache[groupingPath]?.exports === groupMessagesPerPartition) return { installed: true };
  if (cache[join(root, 'src/producer/sendMessages.js')]) return { installed: false, reason: 'kafkajs was loaded before: its producer keeps its own grouping' };
  // Loaded once (a real module record), then its exports replaced: kafkajs's require gets ours.
  require(groupingPath);
  cache[groupingPath]!.exports = groupMessagesPerPartition;
  return { installed: true };
}
