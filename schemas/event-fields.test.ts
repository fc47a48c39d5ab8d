/**
 * One declaration per event field: bpf/pageloop.h. event-fields.generated.ts
 * is generated from it (and must be current); every other place that
 * carries an event field is checked against it here, field by field, and
 * the first field that differs is named with the edit that fixes it:
 *   - pageloop.proto's column blocks (their field numbers are a frozen
 *     contract, so the .proto is edited by hand, not generated);
 *   - the ClickHouse `events` table after every migration, on the real
 *     engine (applied migrations never change: a new column is a new one);
 *   - the sink: its insert columns for `events`, the rows it writes (every
 *     field of every type, on the engine), and its fast fault decode (a
 *     fault field it does not know sends every batch the slow way).
 * See "Adding an event field" in CONTRIBUTING.md.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type protobuf from 'protobufjs';
import type { ProbeEvent } from '../bpf/events.js';
import { Kind } from '../bpf/layout.generated.js';
import { createClickHouseClient, type PageloopClickHouse } from '../clickhouse/client.js';
import { applyMigrations } from '../clickhouse/migrations.js';
import { buildBlocks } from '../sink/build.js';
import { decodeEventBatchFast } from '../sink/fast-decode.js';
import { insertBlock } from '../sink/insert.js';
import { COLUMNS } from '../sink/columns.js';
import { DATABASE, MIGRATIONS } from './clickhouse-tables.js';
import { encodeEventBatch } from './event-batch-codec.js';
import { eventBatchFromProbeEvents } from './event-batch-rows.js';
import { EVENT_BLOCK_KEYS } from './event-blocks.js';
import { EVENT_FIELDS, HEADER_FIELDS, type EventField } from './event-fields.generated.js';
import { pbType } from './proto-reflect.js';
import { TOPIC } from './topics.js';

const repo = new URL('../../', import.meta.url).pathname;
type StructType = keyof typeof EVENT_FIELDS;
const TYPES = Object.keys(EVENT_FIELDS) as StructType[];

/** A place's view of one field: its name there and its type there. */
interface Column {
  readonly name: string;
  readonly type: string;
}

/**
 * The first declared field that `actual` (in order when `ordered`) does not
 * carry as declared, or the first column of `actual` that is no declared
 * field (only when ordered: a table has other columns): a sentence naming
 * it, or undefined when they agree.
 */
function firstDifference(where: string, declared: readonly { field: string; want: Column }[], actual: readonly Column[], ordered: boolean): string | undefined {
  for (let i = 0; i < declared.length; i++) {
    const { field, want } = declared[i]!;
    const got = ordered ? actual[i] : actual.find((c) => c.name === want.name);
    if (got === undefined) return `${field}: ${where} has no ${want.name} (${want.type})`;
    if (got.name !== want.name) return `${field}: ${where} has ${got.name} (${got.type}) where bpf/pageloop.h has ${want.name} (${want.type})`;
    if (got.type !== want.type) return `${field}: ${where} has ${got.name} as ${got.type}, bpf/pageloop.h says ${want.type}`;
  }
  if (ordered && actual.length > declared.length) return `${where}: ${actual[declared.length]!.name} is no field of bpf/pageloop.h`;
  return undefined;
}

test('event-fields.generated.ts is current with pageloop.h', () => {
  execFileSync('node', [join(repo, 'scripts', 'gen-event-fields.mjs'), '--check'], { stdio: 'pipe' });
});

test('the check names the first field that differs, and what is wrong with it', () => {
  const declared = [
    { field: 'swap_in.address', want: { name: 'address', type: 'uint64' } },
    { field: 'swap_in.backing', want: { name: 'backing', type: 'uint32' } },
  ];
  const where = 'message SwapIns';
  assert.equal(firstDifference(where, declared, [{ name: 'address', type: 'uint64' }, { name: 'backing', type: 'uint32' }], true), undefined);
  assert.equal(firstDifference(where, declared, [{ name: 'address', type: 'uint64' }], true), 'swap_in.backing: message SwapIns has no backing (uint32)');
  assert.equal(firstDifference(where, declared, [{ name: 'backing', type: 'uint32' }, { name: 'address', type: 'uint64' }], true), 'swap_in.address: message SwapIns has backing (uint32) where bpf/pageloop.h has address (uint64)');
  assert.equal(firstDifference(where, declared, [{ name: 'address', type: 'sint64' }, { name: 'backing', type: 'uint32' }], true), 'swap_in.address: message SwapIns has address as sint64, bpf/pageloop.h says uint64');
  assert.equal(firstDifference(where, declared, [...declared.map((d) => d.want), { name: 'extra', type: 'uint32' }], true), 'message SwapIns: extra is no field of bpf/pageloop.h');
  // Unordered (a table): other columns are fine, a missing one is not.
  assert.equal(firstDifference('events', declared, [{ name: 'time', type: 'DateTime64(3)' }, ...declared.map((d) => d.want).reverse()], false), undefined);
  assert.equal(firstDifference('events', declared, [{ name: 'address', type: 'uint64' }], false), 'swap_in.backing: events has no backing (uint32)');
});

/** Field `key` of a message, resolved to its message type. */
function messageOf(type: protobuf.Type, key: string): protobuf.Type {
  const field = type.fields[key];
  assert.ok(field, `${type.name} has a field ${key}`);
  return field.resolve().resolvedType as protobuf.Type;
}

/** The next field number free in a message (past its fields and reserved numbers). */
function nextNumber(type: protobuf.Type): number {
  let max = 0;
  for (const f of type.fieldsArray) max = Math.max(max, f.id);
  for (const r of type.reserved ?? []) if (Array.isArray(r)) max = Math.max(max, r[1]!);
  return max + 1;
}

function protoColumns(type: protobuf.Type, excluded: ReadonlySet<string>): Column[] {
  return type.fieldsArray.filter((f) => !excluded.has(f.name)).map((f) => ({ name: f.name, type: f.repeated ? f.type : `non-repeated ${f.type}` }));
}

function protoCheck(type: protobuf.Type, where: string, label: string, fields: readonly EventField[], excluded: ReadonlySet<string>): void {
  const declared = fields.map((f) => ({ field: `${label}.${f.name}`, want: { name: f.key, type: f.proto } }));
  const diff = firstDifference(where, declared, protoColumns(type, excluded), true);
  if (diff === undefined) return;
  const missing = fields.find((f, i) => protoColumns(type, excluded)[i]?.name !== f.key);
  const fix = missing ? ` (the fix, when the field is new: \`repeated ${missing.proto} ${missing.name} = ${nextNumber(type)};\` at the end of message ${type.name}; never renumber a field)` : '';
  assert.fail(`${diff}${fix}`);
}

test('pageloop.proto carries every event field, in struct order, with the type its C type maps to', () => {
  const headers = pbType('Headers');
  protoCheck(headers, 'message Headers', 'header', HEADER_FIELDS.filter((f) => f.name !== 'kind'), new Set());
  const batch = pbType('EventBatch');
  for (const type of TYPES) {
    const block = messageOf(batch, EVENT_BLOCK_KEYS[type]);
    assert.equal(block.fields.h?.resolve().resolvedType, headers, `message ${block.name} (${type}) opens with Headers h`);
    protoCheck(block, `message ${block.name}`, type, EVENT_FIELDS[type], new Set(['rows', 'h']));
  }
});

/** Every field that has a column of its own, as `type.field` -> the column it declares. */
function clickhouseColumns(): { field: string; want: Column }[] {
  const out: { field: string; want: Column }[] = [];
  const add = (label: string, fields: readonly EventField[]): void => {
    for (const f of fields) if (f.clickhouse) out.push({ field: `${label}.${f.name}`, want: { name: f.clickhouse.column, type: f.clickhouse.type } });
  };
  add('header', HEADER_FIELDS);
  for (const type of TYPES) add(type, EVENT_FIELDS[type]);
  return out;
}

describe('on the embedded engine', () => {
  let dir: string;
  let ch: PageloopClickHouse;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-event-fields-'));
    ch = await createClickHouseClient({ database: DATABASE, dataDir: dir });
    await applyMigrations(ch, MIGRATIONS);
  });
  after(async () => {
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the ClickHouse events table, after every migration, has each event field as its column and type', async () => {
    const actual = await ch.queryRows<Column>(`SELECT name, type FROM system.columns WHERE database = '${DATABASE}' AND table = 'events' ORDER BY position`);
    assert.ok(actual.length > 40, 'the events table exists and has its columns');
    const declared = clickhouseColumns();
    const diff = firstDifference('the ClickHouse events table', declared, actual, false);
    const missing = declared.find((d) => !actual.some((c) => c.name === d.want.name));
    const fix = missing ? ` (the fix, when the field is new: a migration appended to schemas/clickhouse-tables.ts MIGRATIONS with \`ALTER TABLE events ADD COLUMN IF NOT EXISTS ${missing.want.name} ${missing.want.type}\`; never edit an applied one)` : '';
    assert.equal(diff, undefined, `${diff}${fix}`);
  });

  test('the sink writes every field of every event type into its column', async () => {
    const events = TYPES.map((type) => everyFieldSet(type));
    const batch = eventBatchFromProbeEvents({ host: 'h', bootId: 'b', collectorId: 'c', sequence: 1 }, events.map((e) => e.event));
    const record = { topic: TOPIC.events, partition: 0, offset: 0, timestampMs: Date.UTC(2030, 0, 1), key: Buffer.from('h'), value: Buffer.from(encodeEventBatch(batch)) };
    const { tables, bad } = await buildBlocks([record]);
    assert.deepEqual(bad, []);
    await insertBlock(ch, TOPIC.events, 0, { first: 0, last: 0 }, tables);
    for (const { type, want } of events) {
      const rows = await ch.queryRows<Record<string, unknown>>(`SELECT ${want.map((w) => w.column).join(', ')} FROM events WHERE type = '${type}'`);
      assert.equal(rows.length, 1, `one ${type} row`);
      for (const w of want) {
        const got = String(rows[0]![w.column]);
        assert.equal(got, String(w.value), `${w.field}: the sink wrote ${got} into events.${w.column}, the ${type} event had ${String(w.value)} (sink/rows-events.ts must write it)`);
      }
    }
  });
});

/**
 * An event of `type` with every field set, each to its own value (negative
 * for the signed ones; 1 for those stored as UInt8 flags), and what each
 * field's ClickHouse column must then hold.
 */
function everyFieldSet(type: StructType): { type: StructType; event: ProbeEvent; want: { field: string; column: string; value: number | string }[] } {
  const want: { field: string; column: string; value: number | string }[] = [];
  let next = 1;
  const valueOf = (label: string, f: EventField): number | string => {
    const n = next++;
    const v = f.proto === 'string' ? `${type}-${n}` : f.clickhouse?.type === 'UInt8' ? 1 : f.cType.startsWith('__s') ? -n : n;
    if (f.clickhouse) want.push({ field: `${label}.${f.name}`, column: f.clickhouse.column, value: v });
    return v;
  };
  const h: Record<string, number | string> = {};
  for (const f of HEADER_FIELDS) h[f.key] = f.name === 'kind' ? Kind[`PL_KIND_${type.toUpperCase()}` as keyof typeof Kind] : valueOf('header', f);
  const event: Record<string, unknown> = { type, h };
  for (const f of EVENT_FIELDS[type] as readonly EventField[]) event[f.key] = valueOf(type, f);
  return { type, event: event as unknown as ProbeEvent, want };
}

test("the sink inserts each event field's column, of the table's type", () => {
  const diff = firstDifference("the sink's insert columns for events (sink/columns.ts COLUMNS.events)", clickhouseColumns(), COLUMNS.events, false);
  assert.equal(diff, undefined, `${diff} (and sink/rows-events.ts must write it)`);
});

test("the sink's fast fault decode takes a batch with every fault field set, and returns each", () => {
  const h: Record<string, number> = {};
  HEADER_FIELDS.forEach((f, i) => (h[f.key] = 1 + i));
  h.kind = Kind.PL_KIND_FAULT;
  const event: Record<string, unknown> = { type: 'fault', h };
  EVENT_FIELDS.fault.forEach((f, i) => (event[f.key] = 100 + i));
  const batch = eventBatchFromProbeEvents({ host: 'h', bootId: 'b', collectorId: 'c', sequence: 1 }, [event as unknown as ProbeEvent]);
  const faults = decodeEventBatchFast(encodeEventBatch(batch)).faults as unknown as Record<string, unknown> & { h: Record<string, unknown> };
  const typed = (v: unknown): v is Float64Array => v instanceof Float64Array;
  for (const f of HEADER_FIELDS) {
    if (f.name === 'kind') continue;
    assert.ok(typed(faults.h[f.key]), `header.${f.name}: sink/fast-decode.ts did not read it (it sends a batch with a fault field it does not know the slow way)`);
    assert.deepEqual(Array.from(faults.h[f.key] as Float64Array), [h[f.key]], `header.${f.name}`);
  }
  for (const f of EVENT_FIELDS.fault) {
    assert.ok(typed(faults[f.key]), `fault.${f.name}: sink/fast-decode.ts did not read it (it sends a batch with a fault field it does not know the slow way)`);
    assert.deepEqual(Array.from(faults[f.key] as Float64Array), [event[f.key]], `fault.${f.name}`);
  }
});
