/**
 * The reader reads what protobufjs writes. The unrolled common-shape reads
 * agree with the general varint where they answer and step aside (-1, pos
 * unmoved) where they do not; the checked reads say where bytes are bad;
 * the "or bail" reads throw NOT_FAST at anything but the common shapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { prng } from '../lib/prng.js';
import { CodecError, NOT_FAST, ProtoReader, exactSigned, exactUnsigned, exactZigzag, scanFields, splitFieldsOrBail } from './proto-reader.js';

const readerOf = (bytes: Uint8Array): ProtoReader => ProtoReader.of(bytes);
const varintBytes = (v: number | string): Uint8Array => protobuf.Writer.create().uint64(v).finish();
const bails = (fn: () => unknown): void => assert.throws(fn, (err: unknown) => err === NOT_FAST);

/** Random u64 decimal strings of every bit width. */
function u64s(n: number, seed: number): bigint[] {
  const rand = prng(seed);
  const out: bigint[] = [0n, 1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 64n - 1n];
  for (let i = 0; i < n; i++) {
    const bits = 1 + (i % 64);
    const hi = BigInt(Math.floor(rand() * 2 ** 32));
    const lo = BigInt(Math.floor(rand() * 2 ** 32));
    out.push(((hi << 32n) | lo) & ((1n << BigInt(bits)) - 1n));
  }
  return out;
}

test('the unrolled reads agree with varint64 where they answer, and step aside where they do not', () => {
  for (const v of u64s(3000, 11)) {
    const bytes = varintBytes(v.toString());
    const ref = readerOf(bytes);
    ref.varint64();
    assert.equal((BigInt(ref.hi) << 32n) | BigInt(ref.lo), v);
    assert.equal(ref.pos, bytes.length);

    const r32 = readerOf(bytes);
    const got32 = r32.tryVarint32();
    if (v < 2n ** 32n) assert.deepEqual([got32, r32.pos], [Number(v), bytes.length], `tryVarint32 ${v}`);
    else assert.deepEqual([got32, r32.pos], [-1, 0], `tryVarint32 ${v}`);

    const r49 = readerOf(bytes);
    const got49 = r49.tryVarint49();
    if (v < 2n ** 49n) assert.deepEqual([got49, r49.pos], [Number(v), bytes.length], `tryVarint49 ${v}`);
    else assert.deepEqual([got49, r49.pos], [-1, 0], `tryVarint49 ${v}`);

    // varint32 truncates a wide varint, as protobuf says uint32 does.
    assert.equal(readerOf(bytes).varint32(), Number(v & 0xffffffffn));
  }
});

test('a varint cut by the end is -1 for the unrolled reads and an error for the checked ones', () => {
  const bytes = varintBytes(2 ** 40);
  const cut = new ProtoReader(Buffer.from(bytes), 0, 3);
  assert.equal(cut.tryVarint32(), -1);
  assert.equal(cut.tryVarint49(), -1);
  assert.equal(cut.pos, 0);
  assert.throws(() => cut.varint32(), (err: unknown) => err instanceof CodecError && /truncated varint at byte 3/.test(err.message));
  bails(() => new ProtoReader(Buffer.from(bytes), 0, 3).u32OrBail());
  const eleven = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.throws(() => readerOf(eleven).varint64(), (err: unknown) => err instanceof CodecError && /varint longer than 10 bytes/.test(err.message));
});

test('or bail: only the common shapes', () => {
  bails(() => readerOf(varintBytes(2 ** 32)).u32OrBail()); // past 32 bits
  bails(() => readerOf(new Uint8Array([0x85, 0x80, 0x80, 0x80, 0x80, 0x00])).u32OrBail()); // a sixth byte
  bails(() => readerOf(new Uint8Array([5, 1, 2])).spanOrBail()); // runs past the end
  bails(() => readerOf(new Uint8Array([0])).skipOrBail(3)); // a group
  bails(() => readerOf(new Uint8Array([1, 2, 3])).skipOrBail(5)); // fixed32 past the end
  assert.deepEqual(readerOf(new Uint8Array([2, 9, 9, 7])).spanOrBail(), [1, 3]);

  const packed = protobuf.Writer.create();
  for (const v of [0, 1, 300, 2 ** 35, 2 ** 49 - 1]) packed.uint64(v);
  const bytes = packed.finish();
  const out = new Float64Array(5);
  assert.equal(readerOf(bytes).packedU64IntoOrBail(out), 5);
  assert.deepEqual([...out], [0, 1, 300, 2 ** 35, 2 ** 49 - 1]);
  bails(() => readerOf(bytes).packedU64IntoOrBail(new Float64Array(4))); // more values than rows
  bails(() => readerOf(varintBytes(2 ** 49)).packedU64IntoOrBail(new Float64Array(1))); // eight bytes

  const s32 = protobuf.Writer.create();
  for (const v of [0, -1, 1, -(2 ** 31), 2 ** 31 - 1]) s32.sint32(v);
  const signed = new Int32Array(5);
  assert.equal(readerOf(s32.finish()).packed32IntoOrBail(signed, true), 5);
  assert.deepEqual([...signed], [0, -1, 1, -(2 ** 31), 2 ** 31 - 1]);
});

test('scanFields and splitFieldsOrBail see the same top-level fields', () => {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('host');
  w.uint32((16 << 3) | 2).bytes(new Uint8Array([7, 7, 7]));
  w.uint32((3 << 3) | 0).uint64(2 ** 40);
  w.uint32((4 << 3) | 1).double(1.5);
  w.uint32((5 << 3) | 5).fixed32(9);
  w.uint32((7 << 3) | 2).bytes(new Uint8Array([1]));
  const bytes = w.finish();
  const spans = scanFields(readerOf(bytes));
  assert.deepEqual(spans.map((s) => [s.id, s.wire]), [[1, 2], [16, 2], [3, 0], [4, 1], [5, 5], [7, 2]]);
  assert.equal(spans.at(-1)!.end, bytes.length);

  const { spans: picked, rest } = splitFieldsOrBail(readerOf(bytes), new Set([16, 7]));
  assert.deepEqual(Buffer.from(bytes.subarray(...picked.get(16)!)), Buffer.from([7, 7, 7]));
  assert.deepEqual(Buffer.from(bytes.subarray(...picked.get(7)!)), Buffer.from([1]));
  const others = spans.filter((s) => s.id !== 16 && s.id !== 7).map((s) => bytes.subarray(s.start, s.end));
  assert.deepEqual(rest, Buffer.concat(others));

  // A wanted field twice (it would merge) or not length-delimited, and field number 0: not for the fast path.
  bails(() => splitFieldsOrBail(readerOf(Buffer.concat([bytes, bytes])), new Set([16])));
  bails(() => splitFieldsOrBail(readerOf(bytes), new Set([3])));
  bails(() => splitFieldsOrBail(readerOf(new Uint8Array([0, 0])), new Set([1])));
  assert.throws(() => scanFields(readerOf(new Uint8Array([0, 0]))), (err: unknown) => err instanceof CodecError && /field number 0 at byte 0/.test(err.message));
});

test('64-bit values become numbers only when exact', () => {
  const TWO_32 = 2 ** 32;
  assert.equal(exactUnsigned(5, 0), 5);
  assert.equal(exactUnsigned(TWO_32 - 1, 2 ** 21 - 1), Number.MAX_SAFE_INTEGER);
  assert.equal(exactUnsigned(0, 2 ** 21), 2 ** 53); // past 2^53 but a double holds it
  assert.equal(exactUnsigned(1, 2 ** 21), undefined); // 2^53 + 1
  assert.equal(exactUnsigned(0, TWO_32 - 1), 2 ** 64 - TWO_32);
  assert.equal(exactSigned(TWO_32 - 1, -1), -1);
  assert.equal(exactSigned(1, -(2 ** 21)), -(2 ** 53) + 1);
  assert.equal(exactSigned(0, -(2 ** 21)), undefined); // -2^53
  assert.equal(exactSigned(0, 2 ** 21), undefined); // 2^53
  assert.equal(exactZigzag(1, 0), -1);
  assert.equal(exactZigzag(2, 0), 1);
  assert.equal(exactZigzag(TWO_32 - 2, 2 ** 22 - 1), Number.MAX_SAFE_INTEGER);
  assert.equal(exactZigzag(TWO_32 - 3, 2 ** 22 - 1), -Number.MAX_SAFE_INTEGER);
  assert.equal(exactZigzag(0, 2 ** 22), undefined);
});
