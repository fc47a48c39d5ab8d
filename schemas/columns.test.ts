/**
 * The column codec speaks plain protobuf: what it writes protobufjs reads,
 * what protobufjs (or any encoder: unpacked, split, reordered, with unknown
 * fields) writes it reads, and bad bytes are CodecErrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { decodeColumns, encodeColumns, type ColumnLayout, type ColumnRecord } from './columns.js';
import { CodecError } from './proto-reader.js';

const PROTO = `
syntax = "proto3";
message H { repeated uint64 ts = 1; }
message T {
  uint32 rows = 1;
  H h = 2;
  repeated uint32 a = 3;
  repeated sint32 b = 4;
  repeated uint64 c = 5;
  repeated sint64 d = 6;
  repeated double e = 7;
  repeated string f = 8;
}`;
const root = protobuf.parse(PROTO, { keepCase: true }).root;
// Without resolveAll, protobufjs 7 writes proto3 repeated scalars unpacked.
root.resolveAll();
const T = root.lookupType('T');

const LAYOUT: ColumnLayout = {
  name: 'T',
  fields: [
    { id: 1, name: 'rows', kind: 'count' },
    { id: 2, name: 'h', kind: 'msg', layout: { name: 'H', fields: [{ id: 1, name: 'ts', kind: 'u64' }] } },
    { id: 3, name: 'a', kind: 'u32' },
    { id: 4, name: 'b', kind: 's32' },
    { id: 5, name: 'c', kind: 'u64' },
    { id: 6, name: 'd', kind: 's64' },
    { id: 7, name: 'e', kind: 'f64' },
    { id: 8, name: 'f', kind: 'str' },
  ],
};

const MAX = Number.MAX_SAFE_INTEGER;
/** The largest double below 2^64, and other u64 doubles past 2^53: exact integers a JS number can hold. */
const BIG_U64 = [2 ** 53, 2 ** 63, 2 ** 64 - 2 ** 11, 0xffffffff81000000];

const SAMPLE: ColumnRecord = {
  rows: 9,
  h: { ts: [0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, MAX, 2 ** 53, 2 ** 64 - 2 ** 11] },
  a: [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 - 1, 300],
  b: [0, -1, 1, -(2 ** 31), 2 ** 31 - 1, -64, 64, 2 ** 30, -(2 ** 30) - 1],
  c: [0, 1, 2 ** 28, 2 ** 35, 2 ** 49 - 1, 2 ** 49, MAX, ...BIG_U64.slice(0, 2)],
  d: [0, -1, 1, MAX, -MAX, 2 ** 40, -(2 ** 40), 2 ** 30, -(2 ** 30) - 1],
  e: [0, -0, 1.5, -2.25, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN],
  f: ['', 'a', 'java\u00ff', 'kworker/u16:3', '\u{1F600} emoji', 'x'.repeat(300), '', 'z', 'é'],
};

type LongLike = { toString(): string };

/** protobufjs's decode, numbers as exact decimal strings, to compare without rounding. */
function viaProtobufjs(bytes: Uint8Array): Record<string, unknown> {
  const m = T.decode(bytes) as unknown as Record<string, unknown>;
  const big = (v: unknown): string => (typeof v === 'number' ? BigInt(v).toString() : (v as LongLike).toString());
  const h = m.h as Record<string, unknown> | null;
  return {
    rows: m.rows,
    h: h ? { ts: (h.ts as unknown[]).map(big) } : undefined,
    a: m.a,
    b: m.b,
    c: (m.c as unknown[]).map(big),
    d: (m.d as unknown[]).map(big),
    e: m.e,
    f: m.f,
  };
}

function asDecimal(r: ColumnRecord): Record<string, unknown> {
  const big = (v: unknown): string => BigInt(v as number).toString();
  const h = r.h as ColumnRecord | undefined;
  return { rows: r.rows, h: h ? { ts: (h.ts as number[]).map(big) } : undefined, a: r.a, b: r.b, c: (r.c as number[]).map(big), d: (r.d as number[]).map(big), e: r.e, f: r.f };
}

test('what the codec writes, protobufjs reads as the same values', () => {
  const bytes = encodeColumns(LAYOUT, SAMPLE);
  assert.deepStrictEqual(viaProtobufjs(bytes), asDecimal(SAMPLE));
  assert.deepStrictEqual(decodeColumns(LAYOUT, bytes), SAMPLE);
});

test('what protobufjs writes, the codec reads, byte-identical to its own encoding', () => {
  // protobufjs takes u64 numbers up to 2^64 as LongBits; give it the safe ones as numbers.
  const safe = { ...SAMPLE, h: { ts: [0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, MAX] }, c: [0, 1, 2 ** 28, 2 ** 35, MAX] };
  const bytes = T.encode(safe).finish();
  assert.deepStrictEqual(decodeColumns(LAYOUT, bytes), safe);
  assert.deepStrictEqual(Buffer.from(encodeColumns(LAYOUT, safe)), Buffer.from(bytes));
});

test('unpacked values, split packed runs, any field order and unknown fields all decode', () => {
  const w = protobuf.Writer.create();
  w.uint32((99 << 3) | 0).uint64(12345); // unknown varint field
  w.uint32((5 << 3) | 0).uint64(7); // c, unpacked
  w.uint32((3 << 3) | 2).fork().uint32(1).uint32(2).ldelim(); // a, packed run 1
  w.uint32((98 << 3) | 2).bytes(new Uint8Array([1, 2, 3])); // unknown bytes field
  w.uint32((3 << 3) | 2).fork().uint32(3).ldelim(); // a, packed run 2
  w.uint32((7 << 3) | 1).double(2.5); // e, unpacked
  w.uint32((97 << 3) | 5).fixed32(1); // unknown fixed32
  w.uint32((96 << 3) | 1).fixed64(1); // unknown fixed64
  w.uint32((4 << 3) | 0).sint32(-5); // b, unpacked
  w.uint32((6 << 3) | 0).sint64(-6); // d, unpacked
  w.uint32((1 << 3) | 0).uint32(3); // rows, last
  w.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 0).uint64(9).ldelim(); // h, twice: merged
  w.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 0).uint64(10).ldelim();
  assert.deepStrictEqual(decodeColumns(LAYOUT, w.finish()), { rows: 3, h: { ts: [9, 10] }, a: [1, 2, 3], b: [-5], c: [7], d: [-6], e: [2.5], f: [] });
});

test('a wide varint for a 32-bit column is truncated as protobuf says', () => {
  const w = protobuf.Writer.create();
  w.uint32((3 << 3) | 0).int64(-1); // 10-byte varint of 2^64-1
  w.uint32((4 << 3) | 0).int32(-2); // int32 -2 written as a 10-byte varint; zigzag reads 2^32-2 -> 2147483647
  assert.deepStrictEqual(decodeColumns(LAYOUT, w.finish()).a, [2 ** 32 - 1]);
});

test('bad bytes are CodecErrors that say where', () => {
  const good = encodeColumns(LAYOUT, SAMPLE);
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, good.length - 1), /runs past the end|truncated/],
    [new Uint8Array([(5 << 3) | 2, 3, 0x80, 0x80, 0x80]), /truncated varint/],
    [new Uint8Array([(5 << 3) | 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /varint longer than 10 bytes/],
    [new Uint8Array([(1 << 3) | 2, 0]), /T\.rows: wire type 2, expected a varint/],
    [new Uint8Array([(2 << 3) | 0, 0]), /T\.h: wire type 0, expected a message/],
    [new Uint8Array([(8 << 3) | 0, 0]), /T\.f: wire type 0, expected a string/],
    [new Uint8Array([(7 << 3) | 0, 0]), /T\.e: wire type 0 does not fit a f64 column/],
    [new Uint8Array([(7 << 3) | 2, 3, 0, 0, 0]), /T\.e: 3 bytes is not a whole number of doubles/],
    [new Uint8Array([(9 << 3) | 3]), /wire type 3/],
    [new Uint8Array([0x00, 0x00]), /field number 0/],
    [new Uint8Array([(8 << 3) | 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41]), /length 4294967295 at byte 6 runs past the end/],
    // 2^53 + 1: no double holds it.
    [new Uint8Array([(5 << 3) | 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), /T\.c\[0\]: 9007199254740993 is not exactly a JavaScript number/],
    // zigzag of 2^53 (the sint64 2^53): past the safe range.
    [new Uint8Array([(6 << 3) | 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]), /T\.d\[0\]: a zigzag value of 18014398509481984 is not a safe integer/],
  ];
  for (const [bytes, reason] of cases) {
    assert.throws(
      () => decodeColumns(LAYOUT, bytes),
      (err: unknown) => err instanceof CodecError && reason.test(err.message),
      `expected ${String(reason)}`,
    );
  }
});
