/**
 * schemas/pageloop.proto at run time: parsed once (the source of truth;
 * there is no generated code to go stale), and messages checked, encoded
 * and decoded by reflection over it with protobufjs. The derived messages
 * (schemas/derived.ts, schemas/dead-letter.ts) are small and go through
 * here whole; the EventBatch envelope does too, its column blocks going
 * through schemas/columns.ts.
 *
 * Numbers: every 64-bit field is a JS number. protobufjs hands back Long
 * objects for them; the decoders convert, and refuse a value no JS number
 * holds exactly (2^53+1, say) rather than round it. Encoders check every
 * value against its proto type (a u32 column given -1 or 1.5 is an error,
 * not a silent truncation), so what encodes decodes to the same thing.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { PageloopError, errorMessage } from '../lib/errors.js';
import { schemaFile } from './files.js';
import { exactSigned, exactUnsigned } from './proto-reader.js';
import { Bad, WireDecodeError, WireEncodeError, fail } from './wire-errors.js';

// ---------------------------------------------------------------------------
// The schema, loaded once
// ---------------------------------------------------------------------------

export const PACKAGE = 'pageloop.v1';

let cachedRoot: protobuf.Root | undefined;

/** The parsed and resolved pageloop.proto, field names in camelCase (as in the TS types). */
export function wireRoot(): protobuf.Root {
  if (!cachedRoot) {
    const root = protobuf.parse(readFileSync(schemaFile('pageloop.proto'), 'utf8'), { keepCase: false }).root;
    root.resolveAll();
    cachedRoot = root;
  }
  return cachedRoot;
}

export function pbType(name: string): protobuf.Type {
  return wireRoot().lookupType(`${PACKAGE}.${name}`);
}

// ---------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------

export type ScalarKind = 'u32' | 's32' | 'u64' | 's64' | 'f64' | 'bool' | 'str' | 'bytes';

const KIND_OF: Readonly<Record<string, ScalarKind>> = {
  uint32: 'u32',
  fixed32: 'u32',
  int32: 's32',
  sint32: 's32',
  sfixed32: 's32',
  uint64: 'u64',
  fixed64: 'u64',
  int64: 's64',
  sint64: 's64',
  sfixed64: 's64',
  double: 'f64',
  bool: 'bool',
  string: 'str',
  bytes: 'bytes',
};

export const EXPECTED: Readonly<Record<ScalarKind, string>> = {
  u32: 'an integer from 0 to 2^32-1',
  s32: 'an integer from -2^31 to 2^31-1',
  u64: 'an integer from 0 to 2^64-1',
  s64: 'an integer from -(2^53-1) to 2^53-1',
  f64: 'a number',
  bool: 'a boolean',
  str: 'a string',
  bytes: 'a Uint8Array',
};

export function scalarKind(field: protobuf.Field): ScalarKind {
  const kind = KIND_OF[field.type];
  // `float` is deliberately absent: it cannot hold a JS number exactly.
  if (!kind) throw new PageloopError('schema', `${field.fullName}: type ${field.type} is not supported by schemas/proto-reflect.ts`);
  return kind;
}

export function isValid(kind: ScalarKind, v: unknown): boolean {
  switch (kind) {
    case 'u32':
      return typeof v === 'number' && v >>> 0 === v;
    case 's32':
      return typeof v === 'number' && (v | 0) === v;
    case 'u64':
      // Past 2^53 a number is still an exact integer (the layout decoders
      // give one for a wild kernel address): it encodes and decodes as itself.
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 18446744073709551616;
    case 's64':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'f64':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'str':
      return typeof v === 'string';
    case 'bytes':
      return v instanceof Uint8Array;
  }
}

export function zeroOf(kind: ScalarKind): number | string | boolean | Uint8Array {
  switch (kind) {
    case 'str':
      return '';
    case 'bool':
      return false;
    case 'bytes':
      return new Uint8Array(0);
    default:
      return 0;
  }
}

export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return 'an array';
  return String(v);
}

interface LongLike {
  low: number;
  high: number;
}

/**
 * A decoded 64-bit value as a number, or undefined when no JS number holds
 * it exactly: signed values must be safe integers; unsigned ones past 2^53
 * must be exact doubles (what a JS producer could have written).
 */
function longToNumber(v: unknown, signed: boolean): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  const l = v as LongLike;
  return signed ? exactSigned(l.low >>> 0, l.high | 0) : exactUnsigned(l.low >>> 0, l.high >>> 0);
}

export function fromWireScalar(kind: ScalarKind, raw: unknown, path: string): unknown {
  if (raw === undefined || raw === null) return zeroOf(kind);
  if (kind === 'u64' || kind === 's64') {
    const n = longToNumber(raw, kind === 's64');
    if (n === undefined) fail(`${path}: ${String(raw)} is not exactly a JavaScript number`);
    return n;
  }
  if (kind === 'bytes') {
    const b = raw as Uint8Array;
    // A view, not a copy: Buffer (what protobufjs returns on Node) is a Uint8Array subclass.
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  return raw;
}

// ---------------------------------------------------------------------------
// Enums: proto ACTION_PROMOTE <-> TS 'promote'
// ---------------------------------------------------------------------------

interface EnumNames {
  readonly toName: ReadonlyMap<number, string>;
  readonly toNumber: ReadonlyMap<string, number>;
}

const enumCache = new WeakMap<protobuf.Enum, EnumNames>();

/** 'MappingKind' -> 'MAPPING_KIND_': the prefix every value carries (proto style). */
function enumPrefix(e: protobuf.Enum): string {
  return `${e.name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}_`;
}

function enumNames(e: protobuf.Enum): EnumNames {
  let names = enumCache.get(e);
  if (!names) {
    const prefix = enumPrefix(e);
    const toName = new Map<number, string>();
    const toNumber = new Map<string, number>();
    for (const [key, value] of Object.entries(e.values)) {
      const name = (key.startsWith(prefix) ? key.slice(prefix.length) : key).toLowerCase();
      toName.set(value, name);
      toNumber.set(name, value);
    }
    names = { toName, toNumber };
    enumCache.set(e, names);
  }
  return names;
}

function enumToWire(e: protobuf.Enum, v: unknown, path: string): number {
  const n = typeof v === 'string' ? enumNames(e).toNumber.get(v) : undefined;
  if (n === undefined) fail(`${path}: ${show(v)} is not one of ${[...enumNames(e).toNumber.keys()].join(', ')}`);
  return n;
}

function enumFromWire(e: protobuf.Enum, raw: unknown, path: string): string {
  const name = enumNames(e).toName.get(typeof raw === 'number' ? raw : 0);
  if (name === undefined) fail(`${path}: unknown ${e.name} value ${String(raw)}`);
  return name;
}

// ---------------------------------------------------------------------------
// Whole messages, by reflection (the derived topics: small messages)
// ---------------------------------------------------------------------------

export function asRecord(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`${path}: expected an object, got ${show(v)}`);
  return v as Record<string, unknown>;
}

function valueToWire(field: protobuf.Field, v: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageToWire(rt, v, path);
  if (rt instanceof protobuf.Enum) return enumToWire(rt, v, path);
  const kind = scalarKind(field);
  if (!isValid(kind, v)) fail(`${path}: expected ${EXPECTED[kind]}, got ${show(v)}`);
  return v;
}

/** A typed object -> a plain object protobufjs can encode. Unknown keys are errors (they would vanish). */
export function messageToWire(type: protobuf.Type, obj: unknown, path: string): Record<string, unknown> {
  const src = asRecord(obj, path);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(src)) {
    if (!type.fields[key]) fail(`${path}.${key}: not a field of ${type.name}`);
  }
  for (const field of type.fieldsArray) {
    const v = src[field.name];
    if (v === undefined || v === null) continue;
    const p = `${path}.${field.name}`;
    if (field.repeated) {
      if (!Array.isArray(v)) fail(`${p}: expected an array, got ${show(v)}`);
      out[field.name] = v.map((x, i) => valueToWire(field, x, `${p}[${i}]`));
    } else {
      out[field.name] = valueToWire(field, v, p);
    }
  }
  return out;
}

function valueFromWire(field: protobuf.Field, raw: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageFromWire(rt, raw, path);
  if (rt instanceof protobuf.Enum) return enumFromWire(rt, raw, path);
  return fromWireScalar(scalarKind(field), raw, path);
}

/** A decoded protobufjs message -> a plain typed object. Absent sub-messages are left out. */
export function messageFromWire(type: protobuf.Type, msg: unknown, path: string): Record<string, unknown> {
  const src = msg as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const raw = src[field.name];
    const p = `${path}.${field.name}`;
    if (field.repeated) {
      const list = (raw ?? []) as unknown[];
      out[field.name] = list.map((x, i) => valueFromWire(field, x, `${p}[${i}]`));
    } else if (field.resolvedType instanceof protobuf.Type) {
      if (raw !== null && raw !== undefined) out[field.name] = valueFromWire(field, raw, p);
    } else {
      out[field.name] = valueFromWire(field, raw, p);
    }
  }
  return out;
}

export function protoDecode(typeName: string, bytes: Uint8Array): protobuf.Message {
  if (!(bytes instanceof Uint8Array)) throw new WireDecodeError(typeName, `expected bytes, got ${show(bytes)}`);
  try {
    // A plain Uint8Array view, never a Buffer: protobufjs's BufferReader
    // clamps a string that runs past the end instead of failing, so a
    // truncated record would decode into a plausible message.
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return pbType(typeName).decode(view);
  } catch (err) {
    throw new WireDecodeError(typeName, `malformed protobuf (${errorMessage(err)}) in ${bytes.length} bytes`, err);
  }
}

export function encodeWith<T>(typeName: string, value: T, check: (v: T) => void): Uint8Array {
  try {
    check(value);
    const plain = messageToWire(pbType(typeName), value, typeName);
    return pbType(typeName).encode(plain).finish();
  } catch (err) {
    if (err instanceof Bad) throw new WireEncodeError(typeName, err.message);
    throw err;
  }
}

export function decodeWith<T>(typeName: string, bytes: Uint8Array, check: (v: T) => void): T {
  const msg = protoDecode(typeName, bytes);
  try {
    const value = messageFromWire(pbType(typeName), msg, typeName) as T;
    check(value);
    return value;
  } catch (err) {
    if (err instanceof Bad) throw new WireDecodeError(typeName, err.message, err);
    throw err;
  }
}
