/**
 * Native format for clients that speak a TCP protocol revision over HTTP.
 *
 * clickhouse-go (Grafana's ClickHouse data source with protocol http) asks
 * for `default_format=Native&client_protocol_version=N` and decodes each
 * block as a server writes it for revision N: a BlockInfo header first, and
 * after each column's type a "custom serialization" flag byte (revision
 * 54454 and later). chDB has no client revision and writes revision-0
 * Native, without either. The column data itself is the same, so this
 * re-frames the blocks: it walks each column just far enough to know where
 * its data ends (which needs its type) and copies the data unchanged.
 *
 * Types whose Native encoding depends on the revision (Variant, Dynamic,
 * JSON, Object) or carries aggregate states are refused: cast them in SQL.
 */

/** The first revision whose Native blocks carry the per-column serialization flag. */
export const DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION = 54454;

/** BlockInfo as a server writes it: field 1 is_overflows=false, field 2 bucket_num=-1, end. */
const BLOCK_INFO = Buffer.from([0x01, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00]);

/** Just enough of a ClickHouse type to know how many bytes a column takes. */
export type NativeType =
  | { readonly kind: 'fixed'; readonly size: number }
  | { readonly kind: 'string' }
  | { readonly kind: 'nullable'; readonly inner: NativeType }
  | { readonly kind: 'array'; readonly inner: NativeType }
  | { readonly kind: 'tuple'; readonly items: readonly NativeType[] }
  | { readonly kind: 'lowcardinality'; readonly dictionary: NativeType };

export class NativeFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NativeFormatError';
  }
}

const FIXED_SIZES: Readonly<Record<string, number>> = {
  UInt8: 1, Int8: 1, Bool: 1, Enum8: 1, Nothing: 1,
  UInt16: 2, Int16: 2, Date: 2, Enum16: 2, BFloat16: 2,
  UInt32: 4, Int32: 4, Float32: 4, Date32: 4, DateTime: 4, IPv4: 4, Decimal32: 4, Time: 4,
  UInt64: 8, Int64: 8, Float64: 8, DateTime64: 8, Decimal64: 8, Time64: 8,
  UInt128: 16, Int128: 16, UUID: 16, IPv6: 16, Decimal128: 16,
  UInt256: 32, Int256: 32, Decimal256: 32,
};

const POINT: NativeType = { kind: 'tuple', items: [{ kind: 'fixed', size: 8 }, { kind: 'fixed', size: 8 }] };
const arrayOf = (inner: NativeType): NativeType => ({ kind: 'array', inner });

/** Top-level comma-separated arguments of a type, respecting quotes and parentheses. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'" || c === '`' || c === '"') {
      i++;
      while (i < s.length && s[i] !== c) i += s[i] === '\\' ? 2 : 1;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out.filter((a) => a !== '');
}

/** A Tuple element may be `name Type`; the name does not change the encoding. */
function tupleElementType(arg: string): string {
  const quoted = /^`(?:[^`\\]|\\.)*`\s+/.exec(arg);
  if (quoted) return arg.slice(quoted[0].length);
  const named = /^([A-Za-z_][A-Za-z0-9_]*)\s+(.+)$/s.exec(arg);
  // `name Type` unless the whole thing is itself a type with a space inside its arguments.
  if (named?.[2] && !/^[A-Za-z_][A-Za-z0-9_]*\(/.test(arg)) return named[2];
  return arg;
}

function withoutNullable(t: NativeType): NativeType {
  return t.kind === 'nullable' ? t.inner : t;
}

/** The encoding-relevant shape of a ClickHouse type name, e.g. `Array(LowCardinality(Nullable(String)))`. */
export function parseNativeType(name: string): NativeType {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(([\s\S]*)\))?\s*$/.exec(name);
  if (!m?.[1]) throw new NativeFormatError(`cannot read the type '${name}'`);
  const base = m[1];
  const args = m[2] === undefined ? [] : splitArgs(m[2]);
  const arg = (i: number): string => {
    const a = args[i];
    if (a === undefined) throw new NativeFormatError(`type '${name}' lacks argument ${i + 1}`);
    return a;
  };
  const fixed = FIXED_SIZES[base];
  if (fixed !== undefined) return { kind: 'fixed', size: fixed };
  if (base.startsWith('Interval')) return { kind: 'fixed', size: 8 };
  switch (base) {
    case 'String':
      return { kind: 'string' };
    case 'FixedString': {
      const n = Number(arg(0));
      if (!Number.isInteger(n) || n < 1) throw new NativeFormatError(`bad FixedString size in '${name}'`);
      return { kind: 'fixed', size: n };
    }
    case 'Decimal': {
      const p = Number(arg(0));
      return { kind: 'fixed', size: p <= 9 ? 4 : p <= 18 ? 8 : p <= 38 ? 16 : 32 };
    }
    case 'Nullable':
      return { kind: 'nullable', inner: parseNativeType(arg(0)) };
    case 'Array':
      return arrayOf(parseNativeType(arg(0)));
    case 'LowCardinality':
      // The dictionary holds the values without Nullable (NULL is index 0).
      return { kind: 'lowcardinality', dictionary: withoutNullable(parseNativeType(arg(0))) };
    case 'Tuple':
      return { kind: 'tuple', items: args.map((a) => parseNativeType(tupleElementType(a))) };
    case 'Nested':
      return arrayOf({ kind: 'tuple', items: args.map((a) => parseNativeType(tupleElementType(a))) });
    case 'Map':
      return arrayOf({ kind: 'tuple', items: [parseNativeType(arg(0)), parseNativeType(arg(1))] });
    case 'SimpleAggregateFunction':
      return parseNativeType(args.slice(1).join(', '));
    case 'Point':
      return POINT;
    case 'Ring':
    case 'LineString':
      return arrayOf(POINT);
    case 'MultiLineString':
    case 'Polygon':
      return arrayOf(arrayOf(POINT));
    case 'MultiPolygon':
      return arrayOf(arrayOf(arrayOf(POINT)));
    default:
      throw new NativeFormatError(
        `the type ${name} cannot be sent as Native to a revision-aware client by the embedded endpoint; cast it (e.g. toString(...)) in the query`,
      );
  }
}

/** A bounds-checked cursor over a Native payload. */
class Cursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new NativeFormatError(`Native data ends early at byte ${this.pos} (needs ${n} more)`);
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  varUInt(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new NativeFormatError('bad varint in Native data');
    }
  }
  uint64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new NativeFormatError('implausible size in Native data');
    return Number(v);
  }
  string(): string {
    const n = this.varUInt();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

/** Serialization state prefixes come first, for the whole column, before any data. */
function skipPrefix(t: NativeType, c: Cursor): void {
  switch (t.kind) {
    case 'lowcardinality':
      c.skip(8); // keys serialization version
      return;
    case 'nullable':
    case 'array':
      skipPrefix(t.inner, c);
      return;
    case 'tuple':
      for (const item of t.items) skipPrefix(item, c);
      return;
    default:
      return;
  }
}

const LC_HAS_ADDITIONAL_KEYS = 1 << 9;
const LC_NEED_GLOBAL_DICTIONARY = 1 << 8;

function skipData(t: NativeType, rows: number, c: Cursor): void {
  if (rows === 0) return;
  switch (t.kind) {
    case 'fixed':
      c.skip(rows * t.size);
      return;
    case 'string':
      for (let i = 0; i < rows; i++) c.skip(c.varUInt());
      return;
    case 'nullable':
      c.skip(rows); // null map
      skipData(t.inner, rows, c);
      return;
    case 'array': {
      // Offsets are cumulative from 0 within the block: the last is the element count.
      c.need(rows * 8);
      c.skip((rows - 1) * 8);
      const total = c.uint64();
      skipData(t.inner, total, c);
      return;
    }
    case 'tuple':
      for (const item of t.items) skipData(item, rows, c);
      return;
    case 'lowcardinality': {
      const flags = c.uint64();
      if (flags & LC_NEED_GLOBAL_DICTIONARY) throw new NativeFormatError('LowCardinality with a shared dictionary is not supported');
      if (flags & LC_HAS_ADDITIONAL_KEYS) skipData(t.dictionary, c.uint64(), c);
      const indexes = c.uint64();
      const indexSize = [1, 2, 4, 8][flags & 0xff];
      if (indexSize === undefined) throw new NativeFormatError('bad LowCardinality index type');
      c.skip(indexes * indexSize);
      return;
    }
  }
}

/** Where the data of a column of `typeName` with `rows` rows, starting at `pos`, ends. */
export function nativeColumnEnd(buf: Buffer, pos: number, typeName: string, rows: number): number {
  const c = new Cursor(buf);
  c.pos = pos;
  if (rows > 0) {
    const t = parseNativeType(typeName);
    skipPrefix(t, c);
    skipData(t, rows, c);
  }
  return c.pos;
}

/**
 * Revision-0 Native (what chDB writes) as a server writes it for a client
 * of `revision`. Revision 0 returns the input as is.
 */
export function nativeForClientRevision(body: Buffer, revision: number): Buffer {
  if (revision <= 0) return body;
  const withFlag = revision >= DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION;
  const c = new Cursor(body);
  const out: Buffer[] = [];
  const copyFrom = (start: number): void => {
    if (c.pos > start) out.push(body.subarray(start, c.pos));
  };
  const types = new Map<string, NativeType>();
  while (c.pos < body.length) {
    out.push(BLOCK_INFO);
    let start = c.pos;
    const columns = c.varUInt();
    const rows = c.varUInt();
    for (let i = 0; i < columns; i++) {
      c.string(); // name
      const typeName = c.string();
      copyFrom(start);
      if (withFlag) out.push(Buffer.of(0));
      start = c.pos;
      let t = types.get(typeName);
      if (!t) {
        t = parseNativeType(typeName);
        types.set(typeName, t);
      }
      if (rows > 0) {
        skipPrefix(t, c);
        skipData(t, rows, c);
      }
    }
    copyFrom(start);
  }
  return Buffer.concat(out);
}
