/**
 * The writer writes what protobufjs writes: varints at every width, zigzag,
 * doubles, strings and sub-messages (in place, whatever their length); and
 * the generated-code spelling of its varint loops writes the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { prng } from '../lib/prng.js';
import { ProtoWriter, varint32Source, varintLoHiSource } from './proto-writer.js';

const MAX = Number.MAX_SAFE_INTEGER;
const bytesOf = (w: ProtoWriter): Buffer => Buffer.from(w.finish());

test('ProtoWriter writes the varints protobufjs writes, at every width', () => {
  const values = [0, 1, 127, 128, 255, 256, 16383, 16384, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 42, 2 ** 49, MAX];
  for (const v of values) {
    const sink = new ProtoWriter(1);
    sink.varint64(v);
    assert.deepStrictEqual(bytesOf(sink), Buffer.from(protobuf.Writer.create().uint64(v).finish()), `varint ${v}`);
    for (const s of [v, -v]) {
      const z = new ProtoWriter(1);
      z.zigzag64(s);
      assert.deepStrictEqual(bytesOf(z), Buffer.from(protobuf.Writer.create().sint64(s).finish()), `zigzag ${s}`);
    }
  }
  for (const v of [0, 1, -1, 63, -64, 64, 2 ** 31 - 1, -(2 ** 31)]) {
    const z = new ProtoWriter(1);
    z.zigzag32(v);
    assert.deepStrictEqual(bytesOf(z), Buffer.from(protobuf.Writer.create().sint32(v).finish()), `sint32 ${v}`);
  }
});

test('whole fields are the fields protobufjs writes', () => {
  const w = new ProtoWriter(1);
  const p = protobuf.Writer.create();
  w.uint32Field(1, 300);
  p.uint32((1 << 3) | 0).uint32(300);
  w.uint64Field(2, 2 ** 40 + 5);
  p.uint32((2 << 3) | 0).uint64(2 ** 40 + 5);
  w.doubleField(3, -1.5e-300);
  p.uint32((3 << 3) | 1).double(-1.5e-300);
  for (const s of ['', 'a', 'java\u00ff', '\u{1F600} emoji', 'x'.repeat(300)]) {
    w.stringField(4, s);
    p.uint32((4 << 3) | 2).string(s);
  }
  w.messageField(5, new Uint8Array([1, 2, 3]));
  p.uint32((5 << 3) | 2).bytes(new Uint8Array([1, 2, 3]));
  assert.deepStrictEqual(bytesOf(w), Buffer.from(p.finish()));
});

test('a sub-message written in place has its length in front, however long it grows', () => {
  // Body lengths around each varint width: the placeholder grows and the body moves.
  for (const len of [0, 1, 127, 128, 129, 16383, 16384, 70000]) {
    const w = new ProtoWriter(4);
    w.uint32Field(1, 7);
    const body = w.beginMessage(2);
    const payload = Buffer.alloc(len, 0x61);
    w.bytes(payload);
    w.endMessage(body);
    w.uint32Field(3, 9);
    const p = protobuf.Writer.create();
    p.uint32((1 << 3) | 0).uint32(7);
    p.uint32((2 << 3) | 2).bytes(payload);
    p.uint32((3 << 3) | 0).uint32(9);
    assert.deepStrictEqual(bytesOf(w), Buffer.from(p.finish()), `body of ${payload.length} bytes`);
  }
});

test('the generated-code varint loops write what ProtoWriter writes', () => {
  const v32 = new Function('b', 'v', `let p = 0; ${varint32Source('b', 'p', 'v')} return p;`) as (b: Buffer, v: number) => number;
  const loHi = new Function('b', 'lo', 'hi', `let p = 0; ${varintLoHiSource('b', 'p', 'lo', 'hi')} return p;`) as (b: Buffer, lo: number, hi: number) => number;
  const rand = prng(5);
  const b = Buffer.alloc(16);
  for (let i = 0; i < 2000; i++) {
    const lo = Math.floor(rand() * 2 ** 32);
    const hi = i % 3 === 0 ? 0 : Math.floor(rand() * 2 ** (i % 33));
    const w = new ProtoWriter(1);
    w.varint32(lo);
    assert.deepStrictEqual(b.subarray(0, v32(b, lo)), bytesOf(w), `varint32 ${lo}`);
    const w64 = new ProtoWriter(1);
    w64.varintLoHi(lo, hi);
    assert.deepStrictEqual(b.subarray(0, loHi(b, lo, hi)), bytesOf(w64), `varint lo ${lo} hi ${hi}`);
  }
});
