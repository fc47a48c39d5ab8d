/**
 * The wire contract in TypeScript: typed messages for schemas/pageloop.proto
 * and their encoders/decoders, by runtime reflection over the .proto (the
 * source of truth; there is no generated code to go stale). protobufjs
 * encodes the small messages and the EventBatch envelope; the EventBatch
 * column blocks, nearly all of its bytes, go through schemas/columns.ts,
 * which writes the same protobuf over ten times faster and reads it about
 * five times faster (100k fault summaries).
 *
 * Numbers: every 64-bit field is a JS number. protobufjs hands back Long
 * objects for them; the decoders convert, and refuse a value no JS number
 * holds exactly (2^53+1, say) rather than round it. Encoders check every value against its proto type
 * (a u32 column given -1 or 1.5 is an error, not a silent truncation), so
 * what encodes decodes to the same thing.
 *
 * Errors: decoders throw WireDecodeError (code 'wire-decode', never
 * retriable) whose `reason` says what is wrong, for the dead-letter queue;
 * encoders throw WireEncodeError.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { PageloopError, errorMessage } from '../lib/errors.js';
import { checkFrames, eventTimeNs, type ProbeEvent, type ProbeEventType } from '../bpf/events.js';
import { Kind, layouts, type FieldLayout, type StructLayout } from '../bpf/layout.generated.js';
import { CodecError, Sink, Source, decodeColumns, encodeColumns, scanFields, writeMessageField, type ColumnLayout, type LayoutField } from './columns.js';
import { schemaFile } from './files.js';

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export class WireDecodeError extends PageloopError {
  /** The pageloop.v1 message that was being decoded, e.g. 'EventBatch'. */
  readonly messageType: string;
  /** What is wrong, without the message type (fit for a DeadLetter.reason). */
  readonly reason: string;

  constructor(messageType: string, reason: string, cause?: unknown) {
    super('wire-decode', `cannot decode pageloop.v1.${messageType}: ${reason}`, { cause });
    this.name = 'WireDecodeError';
    this.messageType = messageType;
    this.reason = reason;
  }
}

export class WireEncodeError extends PageloopError {
  readonly messageType: string;
  readonly reason: string;

  constructor(messageType: string, reason: string) {
    super('wire-encode', `cannot encode pageloop.v1.${messageType}: ${reason}`);
    this.name = 'WireEncodeError';
    this.messageType = messageType;
    this.reason = reason;
  }
}

/** Internal: a problem at a path; the public entry points wrap it in the typed errors. */
class Bad extends Error {}

function fail(reason: string): never {
  throw new Bad(reason);
}

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

function pbType(name: string): protobuf.Type {
  return wireRoot().lookupType(`${PACKAGE}.${name}`);
}

// ---------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------

type ScalarKind = 'u32' | 's32' | 'u64' | 's64' | 'f64' | 'bool' | 'str' | 'bytes';

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

const EXPECTED: Readonly<Record<ScalarKind, string>> = {
  u32: 'an integer from 0 to 2^32-1',
  s32: 'an integer from -2^31 to 2^31-1',
  u64: 'an integer from 0 to 2^64-1',
  s64: 'an integer from -(2^53-1) to 2^53-1',
  f64: 'a number',
  bool: 'a boolean',
  str: 'a string',
  bytes: 'a Uint8Array',
};

function scalarKind(field: protobuf.Field): ScalarKind {
  const kind = KIND_OF[field.type];
  // `float` is deliberately absent: it cannot hold a JS number exactly.
  if (!kind) throw new PageloopError('schema', `${field.fullName}: type ${field.type} is not supported by schemas/wire.ts`);
  return kind;
}

function isValid(kind: ScalarKind, v: unknown): boolean {
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

function zeroOf(kind: ScalarKind): number | string | boolean | Uint8Array {
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

function show(v: unknown): string {
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
  const low = l.low >>> 0;
  const n = (signed ? l.high : l.high >>> 0) * 4294967296 + low;
  if (Number.isSafeInteger(n)) return n;
  // high * 2^32 is exact; the sum rounded iff its low 32 bits changed
  // (rounding below 2^64 moves it by far less than 2^32).
  return !signed && n % 4294967296 === low ? n : undefined;
}

function fromWireScalar(kind: ScalarKind, raw: unknown, path: string): unknown {
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

function asRecord(v: unknown, path: string): Record<string, unknown> {
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
function messageToWire(type: protobuf.Type, obj: unknown, path: string): Record<string, unknown> {
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
function messageFromWire(type: protobuf.Type, msg: unknown, path: string): Record<string, unknown> {
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

function protoDecode(typeName: string, bytes: Uint8Array): protobuf.Message {
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

function encodeWith<T>(typeName: string, value: T, check: (v: T) => void): Uint8Array {
  try {
    check(value);
    const plain = messageToWire(pbType(typeName), value, typeName);
    return pbType(typeName).encode(plain).finish();
  } catch (err) {
    if (err instanceof Bad) throw new WireEncodeError(typeName, err.message);
    throw err;
  }
}

function decodeWith<T>(typeName: string, bytes: Uint8Array, check: (v: T) => void): T {
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

function need(ok: boolean, reason: string): void {
  if (!ok) fail(reason);
}

// ---------------------------------------------------------------------------
// Identity and derived messages
// ---------------------------------------------------------------------------

export interface ProcessId {
  host: string;
  bootId: string;
  pid: number;
  startNs: number;
}

export type MappingKind = 'unspecified' | 'anon' | 'heap' | 'stack' | 'file';

export interface MappingName {
  kind: MappingKind;
  path: string;
  ordinal: number;
}

export interface Region {
  mapping: MappingName;
  offset: number;
  start: number;
  length: number;
}

export interface PageSizeScore {
  sizeKb: number;
  benefit: number;
  cost: number;
  net: number;
}

export interface AccessStats {
  faults: number;
  writeFaults: number;
  instrFaults: number;
  protFaults: number;
  majorFaults: number;
  promotions: number;
  promotionFailures: number;
  collapses: number;
  swapOuts: number;
  damonAccesses: number;
  touchedBytes: number;
}

export interface RegionScore {
  process: ProcessId;
  region: Region;
  windowStartNs: number;
  windowEndNs: number;
  sizes: PageSizeScore[];
  preferredSizeKb: number;
  access: AccessStats;
  executable: string;
  comm: string;
}

export interface PhaseSummary {
  hotSetHash: number;
  hotRegions: number;
  hotBytes: number;
  faultRate: number;
  majorFaultRate: number;
  promotionRate: number;
  swapOutRate: number;
}

export interface PhaseChange {
  process: ProcessId;
  atNs: number;
  phase: number;
  before: PhaseSummary;
  after: PhaseSummary;
  distance: number;
  reason: string;
}

export const HINT_ACTIONS = ['promote', 'keep_base_pages', 'mark_cold', 'page_out', 'reclaim_cgroup'] as const;
/** Hint.Action; 'unspecified' only ever appears in a message that is refused. */
export type HintActionKind = 'unspecified' | (typeof HINT_ACTIONS)[number];

export interface Hint {
  hintId: string;
  process: ProcessId;
  /** Absent for cgroup-wide actions (reclaim_cgroup). */
  region?: Region;
  action: HintActionKind;
  pageSizeKb: number;
  score: number;
  reason: string;
  issuedNs: number;
  expiresNs: number;
  cgroup: string;
  bytes: number;
}

export const HINT_OUTCOMES = ['applied', 'refused', 'failed', 'dry_run'] as const;
export type HintOutcome = 'unspecified' | (typeof HINT_OUTCOMES)[number];

export interface HintAction {
  hintId: string;
  process: ProcessId;
  region?: Region;
  action: HintActionKind;
  pageSizeKb: number;
  outcome: HintOutcome;
  reason: string;
  errno: number;
  bytesAffected: number;
  durationNs: number;
  atNs: number;
  cgroup: string;
}

export interface TunerChange {
  threshold: string;
  oldValue: number;
  newValue: number;
  objective: string;
  measured: number;
  target: number;
  atNs: number;
  scope: string;
  reason: string;
}

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  /** Empty when the record had no key. */
  key: Uint8Array;
  reason: string;
  raw: Uint8Array;
  consumer: string;
  timestampMs: number;
}

function checkProcess(p: ProcessId | undefined, path: string): void {
  need(p !== undefined, `${path}: missing (a process is host, boot id, pid, start time)`);
  need(p!.host !== '', `${path}.host: empty`);
  need(p!.bootId !== '', `${path}.bootId: empty`);
}

function checkRegion(r: Region | undefined, path: string): void {
  need(r !== undefined, `${path}: missing`);
  need(r!.mapping !== undefined, `${path}.mapping: missing (the ASLR-proof name of the region)`);
  need(r!.mapping.kind !== 'unspecified', `${path}.mapping.kind: unspecified`);
}

function checkRegionScore(s: RegionScore): void {
  checkProcess(s.process, 'process');
  need(s.process.pid !== 0, 'process.pid: 0');
  checkRegion(s.region, 'region');
  need(s.access !== undefined, 'access: missing');
}

function checkPhaseChange(c: PhaseChange): void {
  checkProcess(c.process, 'process');
  need(c.before !== undefined, 'before: missing');
  need(c.after !== undefined, 'after: missing');
}

function checkHint(h: Hint): void {
  need(typeof h.hintId === 'string' && h.hintId !== '', 'hintId: empty');
  checkProcess(h.process, 'process');
  need(h.action !== 'unspecified', 'action: unspecified');
  if (h.action === 'reclaim_cgroup') need(h.cgroup !== '', 'cgroup: empty (reclaim_cgroup names a cgroup)');
  else checkRegion(h.region, 'region');
}

function checkHintAction(a: HintAction): void {
  need(typeof a.hintId === 'string' && a.hintId !== '', 'hintId: empty');
  checkProcess(a.process, 'process');
  need(a.outcome !== 'unspecified', 'outcome: unspecified');
}

function checkTunerChange(c: TunerChange): void {
  need(typeof c.threshold === 'string' && c.threshold !== '', 'threshold: empty');
}

function checkDeadLetter(d: DeadLetter): void {
  need(typeof d.topic === 'string' && d.topic !== '', 'topic: empty');
}

export const encodeRegionScore = (v: RegionScore): Uint8Array => encodeWith('RegionScore', v, checkRegionScore);
export const decodeRegionScore = (b: Uint8Array): RegionScore => decodeWith('RegionScore', b, checkRegionScore);
export const encodePhaseChange = (v: PhaseChange): Uint8Array => encodeWith('PhaseChange', v, checkPhaseChange);
export const decodePhaseChange = (b: Uint8Array): PhaseChange => decodeWith('PhaseChange', b, checkPhaseChange);
export const encodeHint = (v: Hint): Uint8Array => encodeWith('Hint', v, checkHint);
export const decodeHint = (b: Uint8Array): Hint => decodeWith('Hint', b, checkHint);
export const encodeHintAction = (v: HintAction): Uint8Array => encodeWith('HintAction', v, checkHintAction);
export const decodeHintAction = (b: Uint8Array): HintAction => decodeWith('HintAction', b, checkHintAction);
export const encodeTunerChange = (v: TunerChange): Uint8Array => encodeWith('TunerChange', v, checkTunerChange);
export const decodeTunerChange = (b: Uint8Array): TunerChange => decodeWith('TunerChange', b, checkTunerChange);
export const encodeDeadLetter = (v: DeadLetter): Uint8Array => encodeWith('DeadLetter', v, checkDeadLetter);
export const decodeDeadLetter = (b: Uint8Array): DeadLetter => decodeWith('DeadLetter', b, checkDeadLetter);

// ---------------------------------------------------------------------------
// EventBatch: types
// ---------------------------------------------------------------------------

/** The event types that travel; 'bench' never leaves the host. */
export type WireEventType = Exclude<ProbeEventType, 'bench'>;

/** The columns of struct pl_header (kind is implied by the block). */
export interface HeaderColumns {
  tsNs: number[];
  startNs: number[];
  pid: number[];
  tid: number[];
  cpu: number[];
  hint: number[];
}

export interface FaultColumns {
  rows: number;
  h: HeaderColumns;
  address: number[];
  ip: number[];
  errorCode: number[];
  sampleWeight: number[];
}

export interface FaultSummaryColumns {
  rows: number;
  pid: number[];
  startNs: number[];
  regionStart: number[];
  regionBytes: number[];
  faults: number[];
  writeFaults: number[];
  instrFaults: number[];
  protFaults: number[];
  firstNs: number[];
  lastNs: number[];
  hint: number[];
}

export interface PromotionColumns {
  rows: number;
  h: HeaderColumns;
  address: number[];
  faultNs: number[];
  order: number[];
  gfp: number[];
  failed: number[];
  migratetype: number[];
}

export interface CollapseColumns {
  rows: number;
  h: HeaderColumns;
  status: number[];
  isolated: number[];
  callerPid: number[];
  callerComm: string[];
}

export interface CompactionColumns {
  rows: number;
  h: HeaderColumns;
  durationNs: number[];
  zoneStartPfn: number[];
  zoneEndPfn: number[];
  migrateScanned: number[];
  freeScanned: number[];
  status: number[];
  order: number[];
  sync: number[];
  direct: number[];
  proactive: number[];
  kthread: number[];
  comm: string[];
}

export interface CompactionDeferColumns {
  rows: number;
  h: HeaderColumns;
  order: number[];
  node: number[];
  considered: number[];
  deferShift: number[];
  orderFailed: number[];
  defer: number[];
}

export interface KcompactdWakeColumns {
  rows: number;
  h: HeaderColumns;
  node: number[];
  order: number[];
  zoneType: number[];
}

export interface SwapOutColumns {
  rows: number;
  h: HeaderColumns;
  address: number[];
  pages: number[];
  anon: number[];
  reclaimerPid: number[];
}

export interface SwapInColumns {
  rows: number;
  h: HeaderColumns;
  address: number[];
  backing: number[];
}

export interface SwapEntriesColumns {
  rows: number;
  h: HeaderColumns;
  count: number[];
}

export interface ReclaimColumns {
  rows: number;
  h: HeaderColumns;
  durationNs: number[];
  nrReclaimed: number[];
  order: number[];
  gfp: number[];
}

/** Sparse: sample i owns entries[i] consecutive (nameIndex, delta) pairs; nameIndex points into names. */
export interface VmstatColumns {
  rows: number;
  tsNs: number[];
  intervalNs: number[];
  entries: number[];
  names: string[];
  nameIndex: number[];
  delta: number[];
}

export interface PsiColumns {
  rows: number;
  tsNs: number[];
  cgroup: string[];
  someAvg10: number[];
  someAvg60: number[];
  someAvg300: number[];
  someTotalUs: number[];
  fullAvg10: number[];
  fullAvg60: number[];
  fullAvg300: number[];
  fullTotalUs: number[];
}

export interface DamonColumns {
  rows: number;
  tsNs: number[];
  pid: number[];
  startNs: number[];
  regionStart: number[];
  regionEnd: number[];
  nrAccesses: number[];
  age: number[];
}

/** Run-length order of the events: run[i] events of type[i]. Empty: blocks in EventType order. */
export interface EventOrder {
  type: WireEventType[];
  run: number[];
}

export interface FamilyLoss {
  family: string;
  /** Cumulative, per CPU. */
  perCpu: number[];
}

export interface FamilyDrops {
  family: string;
  /** Cumulative. */
  events: number;
}

export interface EventBlocks {
  faults: FaultColumns;
  faultSummaries: FaultSummaryColumns;
  promotions: PromotionColumns;
  collapses: CollapseColumns;
  compactions: CompactionColumns;
  compactionDefers: CompactionDeferColumns;
  kcompactdWakes: KcompactdWakeColumns;
  swapOuts: SwapOutColumns;
  swapIns: SwapInColumns;
  swapEntries: SwapEntriesColumns;
  reclaims: ReclaimColumns;
}

export interface SamplerBlocks {
  vmstat: VmstatColumns;
  psi: PsiColumns;
  damon: DamonColumns;
}

export interface BatchIdentity {
  host: string;
  bootId: string;
  collectorId: string;
  sequence: number;
}

/** A decoded batch: every block present (rows 0 when empty), every column `rows` long. */
export interface EventBatch extends BatchIdentity, EventBlocks, SamplerBlocks {
  firstEventNs: number;
  lastEventNs: number;
  order: EventOrder;
  loss: FamilyLoss[];
  dropped: FamilyDrops[];
}

/**
 * What encodeEventBatch takes: blocks may be left out, and a column may be
 * [] for "all zero" (as on the wire).
 */
export type EventBatchInput = BatchIdentity & {
  firstEventNs: number;
  lastEventNs: number;
} & Partial<EventBlocks & SamplerBlocks & { order: EventOrder; loss: FamilyLoss[]; dropped: FamilyDrops[] }>;

export interface VmstatSample {
  tsNs: number;
  intervalNs: number;
  /** Counter name -> change over the interval (negative for falling gauges). */
  deltas: Record<string, number>;
}

export interface PsiSample {
  tsNs: number;
  /** cgroup v2 path; '' for the whole host. */
  cgroup: string;
  someAvg10: number;
  someAvg60: number;
  someAvg300: number;
  someTotalUs: number;
  fullAvg10: number;
  fullAvg60: number;
  fullAvg300: number;
  fullTotalUs: number;
}

export interface DamonRegion {
  tsNs: number;
  pid: number;
  startNs: number;
  regionStart: number;
  regionEnd: number;
  nrAccesses: number;
  age: number;
}

// ---------------------------------------------------------------------------
// EventBatch: the block table
// ---------------------------------------------------------------------------

type EventBlockKey = keyof EventBlocks;
type SamplerKey = keyof SamplerBlocks;
type BlockKey = EventBlockKey | SamplerKey;

interface EventSpec {
  readonly type: WireEventType;
  readonly key: EventBlockKey;
  readonly eventType: number;
  /** pl_header.kind to restore; undefined for fault_summary (no header). */
  readonly kind: number | undefined;
  readonly hasHeader: boolean;
  /** Per-event columns (camelCase = the ProbeEvent property), header excluded. */
  readonly columns: readonly ColumnSpec[];
  /** Struct padding: never on the wire, always 0 (the BPF side zeroes it). */
  readonly pads: readonly string[];
  /** Decoded fields in struct order, pads in place, like bpf/layout.generated.ts's decoders build them. */
  readonly fields: readonly { readonly name: string; readonly column: ColumnSpec | undefined }[];
  /** Appends one event's values to its block's columns. */
  readonly push: (e: ProbeEvent, block: Block) => void;
  /** For one block, a function that builds its event i. */
  readonly make: (block: Block) => (i: number) => ProbeEvent;
  /**
   * Appends one ring-buffer record straight from its bytes (no event object
   * on the way), for types with a pl_*_event struct; undefined otherwise.
   */
  readonly pushRecord: ((buf: Buffer, at: number, block: Block) => void) | undefined;
}

interface ColumnSpec {
  readonly name: string;
  readonly kind: ScalarKind;
}

const EVENT_BLOCK_KEYS: Readonly<Record<WireEventType, EventBlockKey>> = {
  fault: 'faults',
  fault_summary: 'faultSummaries',
  promotion: 'promotions',
  collapse: 'collapses',
  compaction: 'compactions',
  compaction_defer: 'compactionDefers',
  kcompactd_wake: 'kcompactdWakes',
  swap_out: 'swapOuts',
  swap_in: 'swapIns',
  swap_entries: 'swapEntries',
  reclaim: 'reclaims',
};

const SAMPLER_KEYS: readonly SamplerKey[] = ['vmstat', 'psi', 'damon'];

/** Vmstat columns that are not one-per-row: the dictionary and the (index, delta) pairs. */
const FREE_COLUMNS: ReadonlySet<string> = new Set(['names', 'nameIndex', 'delta']);

interface BlockShape {
  readonly type: protobuf.Type;
  /** EventBatch field number of the block. */
  readonly id: number;
  /** For the fast codec (schemas/columns.ts). */
  readonly layout: ColumnLayout;
  /** Row-aligned columns, header first (as `h.tsNs` paths split in two). */
  readonly columns: readonly { readonly sub: 'h' | undefined; readonly name: string; readonly kind: ScalarKind }[];
  readonly free: readonly ColumnSpec[];
}

let cachedSpecs: { events: readonly EventSpec[]; byType: ReadonlyMap<string, EventSpec>; byNumber: ReadonlyMap<number, EventSpec> } | undefined;
const shapeCache = new Map<BlockKey, BlockShape>();

function batchType(): protobuf.Type {
  return pbType('EventBatch');
}

/** A block's message type as a column layout; only counts, columns and nested column messages fit. */
function columnLayout(type: protobuf.Type): ColumnLayout {
  const fields = type.fieldsArray.map((f): LayoutField => {
    if (f.resolvedType instanceof protobuf.Type) return { id: f.id, name: f.name, kind: 'msg', layout: columnLayout(f.resolvedType) };
    const kind = scalarKind(f);
    if (!f.repeated) {
      if (kind !== 'u32') throw new PageloopError('schema', `${type.name}.${f.name}: a block's only singular field is a uint32 count`);
      return { id: f.id, name: f.name, kind: 'count' };
    }
    if (kind === 'bool' || kind === 'bytes') throw new PageloopError('schema', `${type.name}.${f.name}: ${kind} columns are not supported`);
    return { id: f.id, name: f.name, kind };
  });
  return { name: type.name, fields };
}

function blockShape(key: BlockKey): BlockShape {
  let shape = shapeCache.get(key);
  if (!shape) {
    const field = batchType().fields[key];
    const type = field?.resolvedType;
    if (!field || !(type instanceof protobuf.Type)) throw new PageloopError('schema', `EventBatch.${key} is not a message field`);
    const columns: { sub: 'h' | undefined; name: string; kind: ScalarKind }[] = [];
    const free: ColumnSpec[] = [];
    for (const f of type.fieldsArray) {
      if (f.name === 'rows') continue;
      if (f.resolvedType instanceof protobuf.Type) {
        // The only nested message in a block is the header.
        for (const hf of f.resolvedType.fieldsArray) columns.push({ sub: 'h', name: hf.name, kind: scalarKind(hf) });
      } else if (FREE_COLUMNS.has(f.name) && key === 'vmstat') {
        free.push({ name: f.name, kind: scalarKind(f) });
      } else {
        if (!f.repeated) throw new PageloopError('schema', `${type.name}.${f.name}: block fields must be repeated columns`);
        columns.push({ sub: undefined, name: f.name, kind: scalarKind(f) });
      }
    }
    shape = { type, id: field.id, layout: columnLayout(type), columns, free };
    shapeCache.set(key, shape);
  }
  return shape;
}

function eventSpecs(): NonNullable<typeof cachedSpecs> {
  if (!cachedSpecs) {
    const eventTypes = wireRoot().lookupEnum(`${PACKAGE}.EventType`).values;
    const events: EventSpec[] = [];
    for (const [type, key] of Object.entries(EVENT_BLOCK_KEYS) as [WireEventType, EventBlockKey][]) {
      const upper = type.toUpperCase();
      const eventType = eventTypes[`EVENT_TYPE_${upper}`];
      if (eventType === undefined) throw new PageloopError('schema', `EventType has no EVENT_TYPE_${upper}`);
      const kinds = Kind as Readonly<Record<string, number>>;
      const struct = layouts[`pl_${type}_event`];
      const shape = blockShape(key);
      const columns = shape.columns.filter((c) => c.sub === undefined);
      const pads = struct ? struct.fields.filter((f) => isPad(f.name)).map((f) => f.name) : [];
      const structOrder = struct ? struct.fields.filter((f) => f.name !== 'h').map((f) => camelCase(f.name)) : [];
      const fields = structOrder
        .filter((name) => pads.includes(name) || columns.some((c) => c.name === name))
        .map((name) => ({ name, column: columns.find((c) => c.name === name) }));
      for (const c of columns) if (!structOrder.includes(c.name)) fields.push({ name: c.name, column: c });
      const base = {
        type,
        key,
        eventType,
        kind: kinds[`PL_KIND_${upper}`],
        hasHeader: shape.columns.some((c) => c.sub === 'h'),
        columns,
        pads,
        fields,
      };
      const headerColumns = shape.columns.filter((c) => c.sub === 'h').map((c) => c.name);
      events.push({ ...base, ...compileRowCodec(base, headerColumns), pushRecord: struct ? compileRecordPush(base, struct, headerColumns) : undefined });
    }
    events.sort((a, b) => a.eventType - b.eventType);
    cachedSpecs = {
      events,
      byType: new Map(events.map((s) => [s.type, s])),
      byNumber: new Map(events.map((s) => [s.eventType, s])),
    };
  }
  return cachedSpecs;
}

/** An event block as another decoder of the same bytes needs it (schemas/typed-decode.ts). */
export interface EventBlockWire {
  readonly type: WireEventType;
  readonly key: keyof EventBlocks;
  /** Its EventBatch field number. */
  readonly id: number;
  /** Its EventType number (in EventOrder). */
  readonly eventType: number;
  readonly layout: ColumnLayout;
}

/** Every event block, in EventType order; and the EventBatch field number of `order`. */
export function eventBlocksOnTheWire(): { blocks: readonly EventBlockWire[]; orderField: number } {
  const blocks = eventSpecs().events.map((s) => ({ type: s.type, key: s.key, id: blockShape(s.key).id, eventType: s.eventType, layout: blockShape(s.key).layout }));
  const order = batchType().fields.order;
  if (!order) throw new PageloopError('schema', 'EventBatch has no order field');
  return { blocks, orderField: order.id };
}

/** The wire column names (camelCase) of each event type, header excluded: for drift tests against bpf/pageloop.h. */
export function wireColumns(type: WireEventType): { header: boolean; columns: string[]; pads: string[] } {
  const spec = eventSpecs().byType.get(type)!;
  return { header: spec.hasHeader, columns: spec.columns.map((c) => c.name), pads: [...spec.pads] };
}

const isPad = (name: string): boolean => /^pad\d*$/.test(name);
const camelCase = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A name from the .proto or the layouts, safe to put in generated code. */
function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new PageloopError('schema', `'${name}' is not an identifier`);
  return name;
}

/**
 * The per-event row <-> column moves, generated per event type from the
 * field lists (as protobufjs generates its codecs): with fixed property
 * names and object literals V8 keeps every access monomorphic, where a
 * loop over names with obj[name] ran several times slower on 100k events.
 */
function compileRowCodec(spec: Omit<EventSpec, 'push' | 'make' | 'pushRecord'>, headerColumns: readonly string[]): Pick<EventSpec, 'push' | 'make'> {
  const push: string[] = [];
  if (spec.hasHeader) {
    push.push('const h = e.h, bh = b.h;');
    for (const f of headerColumns) push.push(`bh.${ident(f)}.push(h.${f});`);
  }
  for (const c of spec.columns) push.push(`b.${ident(c.name)}.push(e.${c.name});`);
  push.push('b.rows++;');

  const setup: string[] = [];
  const read = (column: string, zero: string): string => {
    const v = `c${setup.length}`;
    setup.push(`const ${v} = ${column}, ${v}z = ${v}.length === 0;`);
    return `${v}z ? ${zero} : ${v}[i]`;
  };
  const parts = [`type: ${JSON.stringify(spec.type)}`];
  if (spec.hasHeader) {
    if (!Number.isInteger(spec.kind)) throw new PageloopError('schema', `no pl_kind for ${spec.type}`);
    const h = HEADER_ORDER.map((f) => (f === 'kind' ? `kind: ${spec.kind!}` : `${ident(f)}: ${headerColumns.includes(f) ? read(`b.h.${f}`, '0') : '0'}`));
    parts.push(`h: { ${h.join(', ')} }`);
  }
  for (const f of spec.fields) {
    parts.push(f.column ? `${ident(f.name)}: ${read(`b.${f.name}`, JSON.stringify(zeroOf(f.column.kind)))}` : `${ident(f.name)}: 0`);
  }
  const make = `${setup.join('\n')}\nreturn function (i) { return { ${parts.join(', ')} }; };`;
  return {
    push: new Function('e', 'b', push.join('\n')) as EventSpec['push'],
    make: new Function('b', make) as EventSpec['make'],
  };
}

const TWO_32 = 4294967296;
const recordReaders = {
  u8: (b: Buffer, at: number) => b[at]!,
  u16: (b: Buffer, at: number) => b.readUInt16LE(at),
  u32: (b: Buffer, at: number) => b.readUInt32LE(at),
  s32: (b: Buffer, at: number) => b.readInt32LE(at),
  u64: (b: Buffer, at: number) => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * TWO_32,
  s64: (b: Buffer, at: number) => b.readUInt32LE(at) + b.readInt32LE(at + 4) * TWO_32,
  str: (b: Buffer, at: number, len: number) => {
    const end = b.indexOf(0, at);
    return b.toString('latin1', at, end === -1 || end > at + len ? at + len : end);
  },
};

/**
 * The record -> column move, generated per event type from the struct's
 * offsets in bpf/layout.generated.ts: the collector's fast path, which never
 * builds an event object. Values are the same the layout decoders give.
 */
function compileRecordPush(spec: Omit<EventSpec, 'push' | 'make' | 'pushRecord'>, struct: StructLayout, headerColumns: readonly string[]): EventSpec['pushRecord'] {
  const header = layouts.pl_header!;
  const reader = (f: FieldLayout, base: string): string => {
    if (f.count > 0) {
      if (f.type !== '__u8') throw new PageloopError('schema', `${struct.name}.${f.name}: only byte arrays (strings) can be columns`);
      return `r.str(buf, ${base} + ${f.offset}, ${f.count})`;
    }
    const kind = { __u8: 'u8', __u16: 'u16', __u32: 'u32', __s32: 's32', __u64: 'u64', __s64: 's64' }[f.type];
    if (!kind) throw new PageloopError('schema', `${struct.name}.${f.name}: type ${f.type} has no reader`);
    return `r.${kind}(buf, ${base} + ${f.offset})`;
  };
  const lines: string[] = [];
  if (spec.hasHeader) {
    lines.push('const bh = b.h;');
    for (const name of headerColumns) {
      const f = header.fields.find((x) => camelCase(x.name) === name);
      if (!f) throw new PageloopError('schema', `pl_header has no field for column h.${name}`);
      lines.push(`bh.${ident(name)}.push(${reader(f, 'at')});`);
    }
  }
  for (const c of spec.columns) {
    const f = struct.fields.find((x) => camelCase(x.name) === c.name);
    if (!f) throw new PageloopError('schema', `${struct.name} has no field for column ${c.name}`);
    lines.push(`b.${ident(c.name)}.push(${reader(f, 'at')});`);
  }
  lines.push('b.rows++;');
  const make = new Function('r', `return function (buf, at, b) {\n${lines.join('\n')}\n};`) as (r: typeof recordReaders) => NonNullable<EventSpec['pushRecord']>;
  return make(recordReaders);
}

type Block = Record<string, unknown> & { rows: number; h?: Record<string, unknown[]> };

function emptyBlock(key: BlockKey): Block {
  const shape = blockShape(key);
  const block: Block = { rows: 0 };
  for (const c of shape.columns) {
    if (c.sub === 'h') (block.h ??= {})[c.name] = [];
    else block[c.name] = [];
  }
  for (const c of shape.free) block[c.name] = [];
  return block;
}

function columnOf(block: Block, sub: 'h' | undefined, name: string): unknown[] | undefined {
  const holder = sub === 'h' ? block.h : block;
  const col = holder?.[name];
  return col === undefined ? undefined : (col as unknown[]);
}

// ---------------------------------------------------------------------------
// EventBatch: structure checks shared by encode and decode
// ---------------------------------------------------------------------------

function columnPath(path: string, c: { sub: 'h' | undefined; name: string }): string {
  return c.sub ? `${path}.h.${c.name}` : `${path}.${c.name}`;
}

function checkBatch(b: EventBatch): void {
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

function fullBatch(input: EventBatchInput): EventBatch {
  const b = { ...input } as Record<string, unknown>;
  for (const key of [...Object.values(EVENT_BLOCK_KEYS), ...SAMPLER_KEYS]) b[key] ??= emptyBlock(key);
  b.order ??= { type: [], run: [] };
  b.loss ??= [];
  b.dropped ??= [];
  return b as unknown as EventBatch;
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

/** Every block key, in field-number order (so the bytes come out in canonical order). */
function blockKeysInOrder(): BlockKey[] {
  return [...Object.values(EVENT_BLOCK_KEYS), ...SAMPLER_KEYS].sort((a, b) => blockShape(a).id - blockShape(b).id);
}

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

/** A checked batch to bytes; blocks in `direct` were written from records already. */
function writeEventBatch(b: EventBatch, direct: ReadonlyMap<BlockKey, RecordBlockWriter> | undefined): Uint8Array {
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
  const out = new Sink(64 * 1024);
  out.bytes(batchType().encode(head).finish());
  for (const key of blockKeysInOrder()) {
    const w = direct?.get(key);
    if (w) {
      writeMessageField(out, blockShape(key).id, recordBlockBytes(w));
      continue;
    }
    const wire = blockToWire(key, b[key] as unknown as Block);
    if (wire) writeMessageField(out, blockShape(key).id, encodeColumns(blockShape(key).layout, wire));
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
  const src = Source.of(bytes);
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

// ---------------------------------------------------------------------------
// EventBatch <-> ProbeEvent[] and sampler rows
// ---------------------------------------------------------------------------

export interface BatchMeta extends BatchIdentity {
  /** Ring-buffer loss per family, per CPU, cumulative (Probes.loss().perFamily). */
  loss?: Readonly<Record<string, readonly number[]>>;
  /** Collector queue drops per family or sampler, cumulative. */
  dropped?: Readonly<Record<string, number>>;
  vmstat?: readonly VmstatSample[];
  psi?: readonly PsiSample[];
  damon?: readonly DamonRegion[];
}

/** pl_header's fields in struct order (kind included), for decoded headers. */
const HEADER_ORDER: readonly string[] = (layouts.pl_header?.fields ?? []).map((f) => camelCase(f.name));

/** Columns from row objects whose keys are the column names. */
function rowsToBlock(key: SamplerKey, rows: readonly object[]): Block {
  const block = emptyBlock(key);
  block.rows = rows.length;
  for (const c of blockShape(key).columns) {
    const col = block[c.name] as unknown[];
    for (const row of rows) col.push((row as Record<string, unknown>)[c.name]);
  }
  return block;
}

function blockToRows<T>(key: SamplerKey, block: Block): T[] {
  const columns = blockShape(key).columns;
  const out: T[] = [];
  for (let i = 0; i < block.rows; i++) {
    const row: Record<string, unknown> = {};
    for (const c of columns) {
      const col = block[c.name] as unknown[];
      row[c.name] = col.length === 0 ? zeroOf(c.kind) : col[i];
    }
    out.push(row as T);
  }
  return out;
}

function vmstatToBlock(samples: readonly VmstatSample[]): VmstatColumns {
  const index = new Map<string, number>();
  const v: VmstatColumns = { rows: samples.length, tsNs: [], intervalNs: [], entries: [], names: [], nameIndex: [], delta: [] };
  for (const s of samples) {
    v.tsNs.push(s.tsNs);
    v.intervalNs.push(s.intervalNs);
    const entries = Object.entries(s.deltas);
    v.entries.push(entries.length);
    for (const [name, delta] of entries) {
      let at = index.get(name);
      if (at === undefined) {
        at = v.names.length;
        index.set(name, at);
        v.names.push(name);
      }
      v.nameIndex.push(at);
      v.delta.push(delta);
    }
  }
  return v;
}

function vmstatFromBlock(v: VmstatColumns): VmstatSample[] {
  const out: VmstatSample[] = [];
  let at = 0;
  for (let i = 0; i < v.rows; i++) {
    const deltas: Record<string, number> = {};
    const n = v.entries.length === 0 ? 0 : v.entries[i]!;
    for (let k = 0; k < n; k++, at++) deltas[v.names[v.nameIndex[at]!]!] = v.delta[at]!;
    out.push({ tsNs: v.tsNs.length === 0 ? 0 : v.tsNs[i]!, intervalNs: v.intervalNs.length === 0 ? 0 : v.intervalNs[i]!, deltas });
  }
  return out;
}

/**
 * Builds the columnar batch for a drained set of events (in the order
 * given) plus sampler records. Bench events are left out: they only exist
 * for the drain benchmark and are not part of the contract.
 */
export function eventBatchFromProbeEvents(meta: BatchMeta, events: readonly ProbeEvent[]): EventBatch {
  return eventBatchFromRecords(meta, [], events);
}

/** pl_header offsets the fast path reads directly: ts_ns and kind. */
const HEADER_TS_OFFSET = 0;
const HEADER_KIND_OFFSET = 24;
const FRAME_HEADER = 8;

/** Throws RingRecordError for a batch whose frames do not fit it: the walks below read fields unchecked. */
function checkFraming(frames: readonly Buffer[]): void {
  for (const buf of frames) checkFrames(buf);
}

/**
 * Builds the columnar batch from drained ring-buffer batches (framed as the
 * addon hands them over: u32 length, u32 0, record padded to 8) followed by
 * events built in user space (fault summaries), with sampler records. The
 * result equals eventBatchFromProbeEvents(meta, [...decoded frames, ...events]).
 */
export function eventBatchFromRecords(meta: BatchMeta, frames: readonly Buffer[], events: readonly ProbeEvent[]): EventBatch {
  checkFraming(frames);
  const specs = eventSpecs();
  const batch = fullBatch({
    host: meta.host,
    bootId: meta.bootId,
    collectorId: meta.collectorId,
    sequence: meta.sequence,
    firstEventNs: 0,
    lastEventNs: 0,
  });
  let first = Infinity;
  let last = -Infinity;
  const note = (t: number): void => {
    if (t < first) first = t;
    if (t > last) last = t;
  };
  const order = batch.order;
  const noteType = (type: WireEventType): void => {
    const n = order.type.length;
    if (n > 0 && order.type[n - 1] === type) order.run[n - 1]!++;
    else {
      order.type.push(type);
      order.run.push(1);
    }
  };
  const byKind = new Map<number, EventSpec>();
  for (const spec of specs.events) if (spec.kind !== undefined && spec.pushRecord) byKind.set(spec.kind, spec);
  for (const buf of frames) {
    let at = 0;
    while (at + FRAME_HEADER <= buf.length) {
      const length = buf.readUInt32LE(at);
      const record = at + FRAME_HEADER;
      at = record + ((length + 7) & ~7);
      const spec = byKind.get(buf.readUInt16LE(record + HEADER_KIND_OFFSET));
      if (!spec) continue; // bench records are not part of the contract
      spec.pushRecord!(buf, record, batch[spec.key] as unknown as Block);
      note(buf.readUInt32LE(record + HEADER_TS_OFFSET) + buf.readUInt32LE(record + HEADER_TS_OFFSET + 4) * TWO_32);
      noteType(spec.type);
    }
  }
  for (const e of events) {
    if (e.type === 'bench') continue;
    const spec = specs.byType.get(e.type)!;
    spec.push(e, batch[spec.key] as unknown as Block);
    note(eventTimeNs(e));
    noteType(e.type);
  }
  if (meta.vmstat) batch.vmstat = vmstatToBlock(meta.vmstat);
  if (meta.psi) batch.psi = rowsToBlock('psi', meta.psi) as unknown as PsiColumns;
  if (meta.damon) batch.damon = rowsToBlock('damon', meta.damon) as unknown as DamonColumns;
  for (const s of [...(meta.vmstat ?? []), ...(meta.psi ?? []), ...(meta.damon ?? [])]) note(s.tsNs);
  if (first !== Infinity) {
    batch.firstEventNs = first;
    batch.lastEventNs = last;
  }
  batch.loss = Object.entries(meta.loss ?? {}).map(([family, perCpu]) => ({ family, perCpu: [...perCpu] }));
  batch.dropped = Object.entries(meta.dropped ?? {}).map(([family, events]) => ({ family, events }));
  return batch;
}

// ---------------------------------------------------------------------------
// EventBatch straight from ring-buffer records to bytes (the collector's path)
// ---------------------------------------------------------------------------

/**
 * One column of one block, written while the records are read: packed
 * varints (or tagged strings) in `sink`; `nonZero` ORs every value, because
 * an all-zero column is left off the wire as encodeEventBatch leaves it off.
 */
interface ColumnOut {
  readonly sink: Sink;
  nonZero: number;
  /** A string column's entry: a whole field (tag, length, bytes), since repeated strings are not packed. */
  readonly str: (s: string) => void;
}

/** What a run of records tells the batch: its length, and the first and last header times so far. */
interface RunState {
  rows: number;
  first: number;
  last: number;
}

/** A block whose columns are written from the records, with no arrays in between. */
interface RecordBlockWriter {
  readonly type: WireEventType;
  readonly key: EventBlockKey;
  /** Per blockShape(key).columns entry, in that order. */
  readonly columns: readonly ColumnOut[];
  rows: number;
  /**
   * Writes the run of records of this kind that starts at `at` (a frame
   * header) and returns where the run ends: the first record of another
   * kind, or `end`. One call per run keeps every column's buffer and
   * position in locals, which is most of the speed.
   */
  readonly writeRun: (buf: Buffer, at: number, end: number, st: RunState) => number;
}

/** Thrown by a record writer for a value only the object path handles (it then names the bad value). */
class NeedsObjectPath extends Error {}

/** Code that appends the varint of lo + hi * 2^32 (both uint32 in locals) at b[p]. */
function varintLoHiCode(b: string, p: string, lo: string, hi: string): string {
  return `while (${hi} !== 0) { ${b}[${p}++] = (${lo} & 127) | 128; ${lo} = ((${lo} >>> 7) | (${hi} << 25)) >>> 0; ${hi} >>>= 7; } while (${lo} > 127) { ${b}[${p}++] = (${lo} & 127) | 128; ${lo} >>>= 7; } ${b}[${p}++] = ${lo};`;
}

function varint32Code(b: string, p: string, v: string): string {
  return `while (${v} > 127) { ${b}[${p}++] = (${v} & 127) | 128; ${v} >>>= 7; } ${b}[${p}++] = ${v};`;
}

/** Little-endian reads as byte arithmetic: cheaper than Buffer's checked readers in a hot loop. */
const u16At = (o: string): string => `(buf[${o}] | (buf[${o} + 1] << 8))`;
const u32At = (o: string): string => `((buf[${o}] | (buf[${o} + 1] << 8) | (buf[${o} + 2] << 16) | (buf[${o} + 3] << 24)) >>> 0)`;
const s32At = (o: string): string => `(buf[${o}] | (buf[${o} + 1] << 8) | (buf[${o} + 2] << 16) | (buf[${o} + 3] << 24))`;

/** Bytes a column can take per row, at most: what the run's space is reserved by. */
function maxBytesPerRow(f: FieldLayout, kind: ScalarKind): number {
  if (kind === 'str') return 3 + 2 * f.count; // tag, length, and latin1 -> utf8 at most doubles
  return kind === 'u64' || kind === 's64' ? 10 : 5;
}

/**
 * The write of one struct field into column j (buffer bj, position pj,
 * nonzero-OR nzj), as encodeEventBatch would write the value the layout
 * decoders give; undefined when this pairing has no direct form (the batch
 * then takes the object path). A u64 past 2^53 goes out as the double the
 * decoders make of it (the wire carries only exact JavaScript numbers); an
 * s64 past +-(2^53-1) is refused, as the object path refuses it.
 */
function columnWrite(f: FieldLayout, kind: ScalarKind, j: number): string | undefined {
  const o = `rec + ${f.offset}`;
  const [b, p, nz] = [`b${j}`, `p${j}`, `nz${j}`];
  if (f.count > 0) {
    if (f.type !== '__u8' || kind !== 'str') return undefined;
    return `{ const s = r.str(buf, ${o}, ${f.count}); if (s.length > 0) ${nz} = 1; c[${j}].sink.pos = ${p}; c[${j}].str(s); ${p} = c[${j}].sink.pos; }`;
  }
  const read = f.type === '__u8' ? `buf[${o}]` : f.type === '__u16' ? u16At(o) : f.type === '__u32' ? u32At(o) : f.type === '__s32' ? s32At(o) : undefined;
  if (read !== undefined) {
    if ((kind === 'u32' || kind === 'u64') && f.type !== '__s32') return `{ let v = ${read}; ${nz} |= v; ${varint32Code(b, p, 'v')} }`;
    if (kind === 's32' && f.type !== '__u32') return `{ const x = ${read}; ${nz} |= x; let v = ((x << 1) ^ (x >> 31)) >>> 0; ${varint32Code(b, p, 'v')} }`;
    if (kind === 's64' && f.type !== '__u32') {
      return `{ const x = ${read}; ${nz} |= x; const sign = x >> 31; let lo = ((x << 1) ^ sign) >>> 0, hi = sign >>> 0; ${varintLoHiCode(b, p, 'lo', 'hi')} }`;
    }
    return undefined;
  }
  if (f.type === '__u64' && kind === 'u64') {
    return `{ let lo = ${u32At(o)}, hi = ${u32At(`${o} + 4`)}; ${nz} |= lo | hi; if (hi >= 0x200000) { const d = lo + hi * ${TWO_32}; lo = d % ${TWO_32}; hi = (d - lo) / ${TWO_32}; } ${varintLoHiCode(b, p, 'lo', 'hi')} }`;
  }
  if (f.type === '__s64' && kind === 's64') {
    // Zigzag on the halves, (x << 1) ^ (x >> 63), within +-(2^53-1) where the object path is exact.
    return `{ const xl = ${u32At(o)}, xh = ${s32At(`${o} + 4`)}; if (xh < -0x200000 || xh >= 0x200000 || (xh === -0x200000 && xl === 0)) throw new r.NeedsObjectPath(); ${nz} |= xl | xh; const sign = xh >> 31; let lo = ((xl << 1) ^ sign) >>> 0, hi = (((xh << 1) | (xl >>> 31)) ^ sign) >>> 0; ${varintLoHiCode(b, p, 'lo', 'hi')} }`;
  }
  return undefined;
}

function layoutFieldId(layout: ColumnLayout, sub: 'h' | undefined, name: string): number {
  const holder = sub === 'h' ? layout.fields.find((f) => f.kind === 'msg') : undefined;
  const fields = holder && holder.kind === 'msg' ? holder.layout.fields : layout.fields;
  const f = fields.find((x) => x.name === name);
  if (!f) throw new PageloopError('schema', `${layout.name}: no field ${sub ? 'h.' : ''}${name}`);
  return f.id;
}

/** Undefined when some column of this type has no direct form. */
function compileRecordWriter(spec: EventSpec, struct: StructLayout): RecordBlockWriter | undefined {
  const shape = blockShape(spec.key);
  const header = layouts.pl_header!;
  const columns: ColumnOut[] = shape.columns.map((c) => {
    // Small: writeRun reserves what a run needs; most kinds never see a record.
    const sink = new Sink(1024);
    const id = layoutFieldId(shape.layout, c.sub, c.name);
    return {
      sink,
      nonZero: 0,
      str: (s: string) => {
        const len = Buffer.byteLength(s, 'utf8');
        sink.tag(id, 2);
        sink.varint32(len);
        sink.ensure(len);
        sink.pos += sink.buf.write(s, sink.pos, len, 'utf8');
      },
    };
  });
  const writes: string[] = [];
  const maxBytes: number[] = [];
  for (let j = 0; j < shape.columns.length; j++) {
    const c = shape.columns[j]!;
    const f = (c.sub === 'h' ? header.fields : struct.fields).find((x) => camelCase(x.name) === c.name);
    if (!f) throw new PageloopError('schema', `${struct.name} has no field for column ${c.sub ? 'h.' : ''}${c.name}`);
    const write = columnWrite(f, c.kind, j);
    if (write === undefined) return undefined;
    writes.push(write);
    maxBytes.push(maxBytesPerRow(f, c.kind));
  }
  const js = shape.columns.map((_, j) => j);
  const stride = FRAME_HEADER + ((struct.size + 7) & ~7);
  const code = [
    'return function (buf, at, end, st) {',
    // Room for every record of the frame being ours, so no write checks it.
    `const most = Math.floor((end - at) / ${stride}) + 1;`,
    ...js.map((j) => `c[${j}].sink.ensure(most * ${maxBytes[j]});`),
    ...js.map((j) => `let b${j} = c[${j}].sink.buf, p${j} = c[${j}].sink.pos, nz${j} = c[${j}].nonZero;`),
    'let rows = 0, first = st.first, last = st.last;',
    `while (at + ${FRAME_HEADER} <= end) {`,
    '  const rec = at + ' + FRAME_HEADER + ';',
    `  if (${u16At(`rec + ${HEADER_KIND_OFFSET}`)} !== ${spec.kind}) break;`,
    `  const t = ${u32At(`rec + ${HEADER_TS_OFFSET}`)} + ${u32At(`rec + ${HEADER_TS_OFFSET + 4}`)} * ${TWO_32};`,
    '  if (t < first) first = t;',
    '  if (t > last) last = t;',
    ...writes.map((w) => '  ' + w),
    '  rows++;',
    `  at = rec + ((${u32At('at')} + 7) & ~7);`,
    '}',
    ...js.map((j) => `c[${j}].sink.pos = p${j}; c[${j}].nonZero = nz${j};`),
    'w.rows += rows; st.first = first; st.last = last; st.rows = rows;',
    'return at;',
    '};',
  ].join('\n');
  const make = new Function('r', 'c', 'w', code) as (
    r: typeof recordReaders & { NeedsObjectPath: typeof NeedsObjectPath },
    c: readonly ColumnOut[],
    w: { rows: number },
  ) => RecordBlockWriter['writeRun'];
  const writer = { type: spec.type, key: spec.key, columns, rows: 0, writeRun: (() => 0) as RecordBlockWriter['writeRun'] };
  writer.writeRun = make({ ...recordReaders, NeedsObjectPath }, columns, writer);
  return writer;
}

let recordWriters: (RecordBlockWriter | undefined | null)[] | undefined;

/** Indexed by pl_kind: the writer of its block; undefined if its type takes the object path; null if it is not on the wire. */
function recordWritersByKind(): (RecordBlockWriter | undefined | null)[] {
  if (!recordWriters) {
    const byKind: (RecordBlockWriter | undefined | null)[] = new Array<null>(65536).fill(null);
    for (const spec of eventSpecs().events) {
      const struct = layouts[`pl_${spec.type}_event`];
      if (spec.kind !== undefined && struct) byKind[spec.kind] = compileRecordWriter(spec, struct);
    }
    recordWriters = byKind;
  }
  return recordWriters;
}

/** A written block as encodeColumns writes it: fields in layout order, all-zero columns left out (the first kept if all are). */
function recordBlockBytes(w: RecordBlockWriter): Uint8Array {
  const shape = blockShape(w.key);
  const keep = w.columns.map((c) => c.nonZero !== 0);
  if (!keep.includes(true)) keep[0] = true;
  const out = new Sink(1024);
  const column = (into: Sink, sub: 'h' | undefined, f: LayoutField): void => {
    const j = shape.columns.findIndex((c) => c.sub === sub && c.name === f.name);
    if (j < 0 || !keep[j]) return;
    const sink = w.columns[j]!.sink;
    if (f.kind !== 'str') {
      into.tag(f.id, 2);
      into.varint32(sink.pos);
    }
    into.bytes(sink.finish());
  };
  for (const f of shape.layout.fields) {
    if (f.kind === 'count') {
      out.tag(f.id, 0);
      out.varint32(w.rows);
    } else if (f.kind === 'msg') {
      const inner = new Sink(1024);
      for (const hf of f.layout.fields) column(inner, 'h', hf);
      if (inner.pos > 0) writeMessageField(out, f.id, inner.finish());
    } else {
      column(out, undefined, f);
    }
  }
  return out.finish();
}

/**
 * encodeEventBatch(eventBatchFromRecords(meta, frames, events)), without the
 * batch in between for the ring-buffer records: each record's fields go
 * straight into their columns' varints. The collector's hot path; the same
 * bytes (a test holds them equal). Takes the object path for a batch with a
 * type or a value it has no direct form for.
 */
export function encodeEventBatchFromRecords(meta: BatchMeta, frames: readonly Buffer[], events: readonly ProbeEvent[]): Uint8Array {
  checkFraming(frames);
  const byKind = recordWritersByKind();
  const used: RecordBlockWriter[] = [];
  const objectPath = (): Uint8Array => encodeEventBatch(eventBatchFromRecords(meta, frames, events));
  try {
    const order: { type: WireEventType[]; run: number[] } = { type: [], run: [] };
    const st = { first: Infinity, last: -Infinity, rows: 0 };
    for (const buf of frames) {
      let at = 0;
      while (at + FRAME_HEADER <= buf.length) {
        const record = at + FRAME_HEADER;
        const w = byKind[buf.readUInt16LE(record + HEADER_KIND_OFFSET)];
        if (w === null) {
          at = record + ((buf.readUInt32LE(at) + 7) & ~7); // bench records are not part of the contract
          continue;
        }
        if (w === undefined) return objectPath();
        if (w.rows === 0) used.push(w);
        at = w.writeRun(buf, at, buf.length, st);
        const n = order.type.length;
        if (n > 0 && order.type[n - 1] === w.type) order.run[n - 1]! += st.rows;
        else {
          order.type.push(w.type);
          order.run.push(st.rows);
        }
      }
    }
    const b = eventBatchFromRecords(meta, [], events);
    const direct = new Map<BlockKey, RecordBlockWriter>();
    for (const w of used) {
      // Records and events of one type in one batch: the object path keeps them in one block.
      if (b[w.key].rows > 0) return objectPath();
      (b[w.key] as unknown as Block).rows = w.rows;
      direct.set(w.key, w);
    }
    const hadTimes = b.order.type.length > 0 || (meta.vmstat?.length ?? 0) + (meta.psi?.length ?? 0) + (meta.damon?.length ?? 0) > 0;
    let { first, last } = st;
    if (hadTimes) {
      first = Math.min(first, b.firstEventNs);
      last = Math.max(last, b.lastEventNs);
    }
    if (first !== Infinity) {
      b.firstEventNs = first;
      b.lastEventNs = last;
    }
    for (let i = 0; i < b.order.type.length; i++) {
      const n = order.type.length;
      if (i === 0 && n > 0 && order.type[n - 1] === b.order.type[0]) order.run[n - 1]! += b.order.run[0]!;
      else {
        order.type.push(b.order.type[i]!);
        order.run.push(b.order.run[i]!);
      }
    }
    b.order = order;
    checkBatch(b);
    return writeEventBatch(b, direct);
  } catch (err) {
    if (err instanceof NeedsObjectPath) return objectPath();
    if (err instanceof Bad) throw new WireEncodeError('EventBatch', err.message);
    throw err;
  } finally {
    for (const w of used) {
      w.rows = 0;
      for (const c of w.columns) {
        c.sink.pos = 0;
        c.nonZero = 0;
      }
    }
  }
}

/** The events of a batch, in their original order (or in EventType order when the batch has none). */
export function probeEventsFromEventBatch(batch: EventBatch): ProbeEvent[] {
  const specs = eventSpecs();
  const runs: [EventSpec, number][] =
    batch.order.type.length > 0
      ? batch.order.type.map((t, i) => [specs.byType.get(t)!, batch.order.run[i]!])
      : specs.events.map((s) => [s, batch[s.key].rows]);
  const cursor = new Map<string, number>();
  const out: ProbeEvent[] = [];
  for (const [spec, run] of runs) {
    const block = batch[spec.key] as unknown as Block;
    let i = cursor.get(spec.type) ?? 0;
    if (i + run > block.rows) throw new WireDecodeError('EventBatch', `order: more ${spec.type} events than rows in ${spec.key}`);
    const make = spec.make(block);
    for (const end = i + run; i < end; i++) out.push(make(i));
    cursor.set(spec.type, i);
  }
  return out;
}

/** The sampler records of a batch, as rows. */
export function samplesFromEventBatch(batch: SamplerBlocks): { vmstat: VmstatSample[]; psi: PsiSample[]; damon: DamonRegion[] } {
  return {
    vmstat: vmstatFromBlock(batch.vmstat),
    psi: blockToRows<PsiSample>('psi', batch.psi as unknown as Block),
    damon: blockToRows<DamonRegion>('damon', batch.damon as unknown as Block),
  };
}

/** Total events (not sampler rows) in a batch. */
export function eventCount(batch: EventBatch): number {
  let n = 0;
  for (const spec of eventSpecs().events) n += batch[spec.key].rows;
  return n;
}
