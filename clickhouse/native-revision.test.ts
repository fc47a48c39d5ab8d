import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEmbeddedEngine, type EmbeddedClickHouseEngine } from './embedded.js';
import { NativeFormatError, nativeColumnEnd, nativeForClientRevision, parseNativeType } from './native-revision.js';

describe('Native type shapes', () => {
  test('sizes and structure of the types dashboards return', () => {
    assert.deepEqual(parseNativeType('UInt64'), { kind: 'fixed', size: 8 });
    assert.deepEqual(parseNativeType("DateTime64(3, 'UTC')"), { kind: 'fixed', size: 8 });
    assert.deepEqual(parseNativeType("DateTime('Europe/Paris')"), { kind: 'fixed', size: 4 });
    assert.deepEqual(parseNativeType('Decimal(20, 4)'), { kind: 'fixed', size: 16 });
    assert.deepEqual(parseNativeType("Enum8('a' = 1, 'b,c' = 2)"), { kind: 'fixed', size: 1 });
    assert.deepEqual(parseNativeType('FixedString(3)'), { kind: 'fixed', size: 3 });
    assert.deepEqual(parseNativeType('LowCardinality(Nullable(String))'), { kind: 'lowcardinality', dictionary: { kind: 'string' } });
    assert.deepEqual(parseNativeType('Map(String, Array(UInt8))'), {
      kind: 'array',
      inner: { kind: 'tuple', items: [{ kind: 'string' }, { kind: 'array', inner: { kind: 'fixed', size: 1 } }] },
    });
    assert.deepEqual(parseNativeType("Tuple(a UInt8, `b c` Nullable(String), DateTime64(3, 'UTC'))"), {
      kind: 'tuple',
      items: [{ kind: 'fixed', size: 1 }, { kind: 'nullable', inner: { kind: 'string' } }, { kind: 'fixed', size: 8 }],
    });
    assert.throws(() => parseNativeType('JSON'), (e: unknown) => e instanceof NativeFormatError && /cast it/.test(e.message));
    assert.throws(() => parseNativeType('Variant(String, UInt8)'), NativeFormatError);
  });

  test('revision 0 passes through; truncated data is refused', () => {
    const b = Buffer.from([1, 1, 1, 0x78, 5, 0x55, 0x49, 0x6e, 0x74, 0x38, 7]);
    assert.equal(nativeForClientRevision(b, 0), b);
    assert.throws(() => nativeForClientRevision(b.subarray(0, b.length - 1), 54460), /ends early/);
  });
});

/** Reads revision-N Native the way clickhouse-go does and returns each block's column names and rows. */
function readBlocks(buf: Buffer, sentinel: string): { names: string[]; rows: number; sentinel: number[] }[] {
  const blocks: { names: string[]; rows: number; sentinel: number[] }[] = [];
  let pos = 0;
  const varUInt = (): number => {
    let r = 0;
    let s = 0;
    for (;;) {
      const b = buf[pos++]!;
      r += (b & 0x7f) * 2 ** s;
      if ((b & 0x80) === 0) return r;
      s += 7;
    }
  };
  const str = (): string => {
    const n = varUInt();
    const v = buf.toString('utf8', pos, pos + n);
    pos += n;
    return v;
  };
  while (pos < buf.length) {
    assert.deepEqual([...buf.subarray(pos, pos + 8)], [1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0], 'BlockInfo first');
    pos += 8;
    const columns = varUInt();
    const rows = varUInt();
    const names: string[] = [];
    let sentinelValues: number[] = [];
    for (let i = 0; i < columns; i++) {
      names.push(str());
      const type = str();
      assert.equal(buf[pos++], 0, `custom serialization flag after ${names[i]}'s type`);
      if (names[i] === sentinel) {
        assert.equal(type, 'UInt8');
        sentinelValues = [...buf.subarray(pos, pos + rows)];
        pos += rows;
      } else {
        // The module's own walker: a wrong length shows up as the next column's name being wrong.
        pos = nativeColumnEnd(buf, pos, type, rows);
      }
    }
    blocks.push({ names, rows, sentinel: sentinelValues });
  }
  return blocks;
}

describe('Native from the engine, re-framed for clickhouse-go', () => {
  let dir: string;
  let engine: EmbeddedClickHouseEngine;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-native-'));
    engine = await openEmbeddedEngine({ dataDir: dir });
  });

  after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every column lands where the next one starts, block after block', async () => {
    const columns: [string, string][] = [
      ['u8', 'toUInt8(number)'],
      ['i64', 'toInt64(number) - 5'],
      ['f64', 'number / 3'],
      ['s', "repeat('x', number)"],
      ['fs', "toFixedString('ab', 2)"],
      ['d', "toDate('2024-01-01') + number"],
      ['dt', "toDateTime('2024-01-01 00:00:00', 'UTC') + number"],
      ['dt64', "toDateTime64('2024-01-01 00:00:00.123', 3, 'UTC')"],
      ['dec', 'toDecimal64(number, 2)'],
      ['uuid', "toUUID('00000000-0000-0000-0000-000000000001')"],
      ['ip4', "toIPv4('10.0.0.1')"],
      ['ip6', "toIPv6('::1')"],
      ['b', 'number % 2 = 0'],
      ['e', "CAST(if(number % 2 = 0, 'a', 'b') AS Enum8('a' = 1, 'b' = 2))"],
      ['nul', 'if(number % 2 = 1, NULL, number)'],
      ['n0', 'NULL'],
      ['arr', 'range(number % 4)'],
      ['arrs', "arrayMap(x -> toString(x), range(number % 3))"],
      ['lc', 'toLowCardinality(toString(number % 2))'],
      ['lcn', 'CAST(if(number % 3 = 0, NULL, toString(number)) AS LowCardinality(Nullable(String)))'],
      ['arrlc', "arrayMap(x -> toLowCardinality(toString(x)), range(number % 2))"],
      ['m', "map('k', number, 'j', number + 1)"],
      ['t', 'tuple(number, toString(number))'],
      ['nt', "CAST((1, 'x') AS Tuple(a UInt8, b String))"],
      ['pt', 'CAST((1.5, 2.5) AS Point)'],
      ['poly', 'CAST([[(0., 0.), (1., 1.)]] AS Polygon)'],
      ['i128', 'toInt128(number)'],
      ['u256', 'toUInt256(number)'],
      ['iv', 'toIntervalSecond(number)'],
      ['end', 'toUInt8(42)'],
    ];
    const sql = `SELECT ${columns.map(([n, e]) => `${e} AS ${n}`).join(', ')} FROM numbers(10)`;
    const r = await engine.execute({ sql, defaultFormat: 'Native', settings: { max_block_size: '3' } });
    assert.equal(r.format, 'Native');
    const blocks = readBlocks(nativeForClientRevision(r.body, 54460), 'end');
    assert.ok(blocks.length >= 2, 'several blocks');
    assert.equal(blocks.reduce((n, b) => n + b.rows, 0), 10);
    for (const b of blocks) {
      assert.deepEqual(b.names, columns.map(([n]) => n));
      assert.deepEqual(b.sentinel, Array(b.rows).fill(42));
    }
  });

  test('an empty result and a revision below the flag', async () => {
    const empty = await engine.execute({ sql: 'SELECT 1 AS x WHERE 0', defaultFormat: 'Native' });
    const out = nativeForClientRevision(empty.body, 54460);
    if (empty.body.length > 0) assert.deepEqual([...out.subarray(0, 8)], [1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0]);
    const one = await engine.execute({ sql: 'SELECT toUInt8(7) AS x', defaultFormat: 'Native' });
    // Below 54454: BlockInfo, but no flag byte.
    assert.deepEqual([...nativeForClientRevision(one.body, 54400)], [1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, ...one.body]);
  });
});
