#!/usr/bin/env node
// Generates schemas/event-fields.generated.ts from bpf/pageloop.h: for every
// ring-buffer event struct that travels (struct pl_<type>_event, bench
// excepted), its EventBatch column interface and, per field, what the other
// places that carry it must declare: the .proto column type, and the
// ClickHouse `events` column (name and type). So an event field is written
// once, in the header; schemas/event-fields.test.ts then checks the .proto,
// the ClickHouse table and the sink's insert columns against this file,
// field by field, and names the first that differs.
//
// A field's ClickHouse column is its C name with the type its C type maps to
// (CLICKHOUSE_TYPE); CLICKHOUSE_EXCEPTIONS lists the fields whose column is
// named or typed otherwise (columns shared across event types, flags kept as
// UInt8). A new field normally needs no entry there.
//
// Plain JS beside bpf/gen-layout.mjs (whose header parser it uses), so it
// runs before the TypeScript build.
//
// usage: node scripts/gen-event-fields.mjs [--check]   (--check: fail if the file is stale)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHeader } from '../bpf/gen-layout.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const headerPath = join(root, 'bpf', 'pageloop.h');
const outPath = join(root, 'schemas', 'event-fields.generated.ts');

/** Event structs that never leave the host (the drain benchmark's synthetic records). */
const NOT_ON_THE_WIRE = new Set(['bench']);

/** C type -> the .proto column type (pageloop.proto: __s32/__s64 columns are zigzag). */
const PROTO_TYPE = { __u8: 'uint32', __u16: 'uint32', __u32: 'uint32', __u64: 'uint64', __s32: 'sint32', __s64: 'sint64' };

/** C type -> the ClickHouse column type, unless CLICKHOUSE_EXCEPTIONS says otherwise. */
const CLICKHOUSE_TYPE = { __u8: 'UInt8', __u16: 'UInt16', __u32: 'UInt32', __u64: 'UInt64', __s32: 'Int32', __s64: 'Int64' };
const CLICKHOUSE_STRING = 'LowCardinality(String)';

/**
 * Fields whose `events` column is not `<C name> <mapped C type>`, by
 * `<type>.<field>` or, for every type, by `<field>`. `null`: no column of
 * its own (the header's kind is the `type` column; a fault's sample weight
 * becomes `weight` and the per-error-bit weights, computed by the sink).
 */
const CLICKHOUSE_EXCEPTIONS = {
  kind: null,
  'fault.sample_weight': null,
  // One page_order column for every type's order (promotions' is a __u32).
  order: { column: 'page_order', type: 'Int32' },
  'collapse.caller_comm': { column: 'comm' },
  'swap_entries.count': { column: 'swap_entries' },
  // Flags and small enums, 0/1/2.
  'promotion.failed': { type: 'UInt8' },
  'compaction.sync': { type: 'UInt8' },
  'compaction.direct': { type: 'UInt8' },
  'compaction.proactive': { type: 'UInt8' },
  'compaction.kthread': { type: 'UInt8' },
  'compaction_defer.defer': { type: 'UInt8' },
  'swap_out.anon': { type: 'UInt8' },
  'swap_in.backing': { type: 'UInt8' },
};

const isPad = (name) => /^pad\d*$/.test(name);
const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const pascal = (s) => camel(s).replace(/^./, (c) => c.toUpperCase());

function fieldRow(type, f, used) {
  if (f.count && f.type !== '__u8') throw new Error(`${type}.${f.name}: only __u8 arrays (strings) travel; ${f.type}[${f.count}] has no column type`);
  const cType = f.count ? `${f.type}[${f.count}]` : f.type;
  const proto = f.count ? 'string' : PROTO_TYPE[f.type];
  const key = `${type}.${f.name}`;
  let clickhouse = { column: f.name, type: f.count ? CLICKHOUSE_STRING : CLICKHOUSE_TYPE[f.type] };
  for (const k of [key, f.name]) {
    if (!(k in CLICKHOUSE_EXCEPTIONS)) continue;
    used.add(k);
    const ex = CLICKHOUSE_EXCEPTIONS[k];
    clickhouse = ex === null ? null : { ...clickhouse, ...ex };
    break;
  }
  return { name: f.name, key: camel(f.name), cType, proto, clickhouse };
}

export function eventFields(parsed) {
  const used = new Set();
  const header = parsed.structs.find((s) => s.name === 'pl_header');
  if (!header) throw new Error('pageloop.h has no struct pl_header');
  const events = [];
  for (const s of parsed.structs) {
    const m = /^pl_(\w+)_event$/.exec(s.name);
    if (!m || NOT_ON_THE_WIRE.has(m[1])) continue;
    if (s.fields[0]?.struct !== 'pl_header') throw new Error(`${s.name}: an event struct opens with struct pl_header h`);
    const fields = s.fields.slice(1).filter((f) => !isPad(f.name));
    for (const f of fields) if (f.struct) throw new Error(`${s.name}.${f.name}: nested structs have no column`);
    events.push({ type: m[1], struct: s.name, fields: fields.map((f) => fieldRow(m[1], f, used)) });
  }
  const headerFields = header.fields.map((f) => fieldRow('header', f, used));
  const unused = Object.keys(CLICKHOUSE_EXCEPTIONS).filter((k) => !used.has(k));
  if (unused.length) throw new Error(`CLICKHOUSE_EXCEPTIONS names fields pageloop.h does not have: ${unused.join(', ')}`);
  return { header: headerFields, events };
}

function rowText(r) {
  const ch = r.clickhouse ? `{ column: '${r.clickhouse.column}', type: '${r.clickhouse.type}' }` : 'null';
  return `    { name: '${r.name}', key: '${r.key}', cType: '${r.cType}', proto: '${r.proto}', clickhouse: ${ch} },`;
}

export function generate(parsed) {
  const { header, events } = eventFields(parsed);
  const out = [];
  out.push('// Generated by scripts/gen-event-fields.mjs from bpf/pageloop.h. Do not edit:');
  out.push('// change the header, then run node scripts/gen-event-fields.mjs (scripts/build.sh does).');
  out.push('/* eslint-disable */');
  out.push('');
  out.push('/** One field of an event struct, and what the .proto and the ClickHouse `events` table declare for it. */');
  out.push('export interface EventField {');
  out.push('  /** The C name, which is also the .proto column name. */');
  out.push('  readonly name: string;');
  out.push('  /** The camelCase name: the ProbeEvent key and the EventBatch column key. */');
  out.push('  readonly key: string;');
  out.push('  readonly cType: string;');
  out.push('  /** The .proto type of its column (repeated). */');
  out.push('  readonly proto: string;');
  out.push('  /** Its column in the ClickHouse `events` table; null when it has none of its own. */');
  out.push('  readonly clickhouse: { readonly column: string; readonly type: string } | null;');
  out.push('}');
  out.push('');
  out.push('/** struct pl_header: the Headers columns of every event block (kind is not a column: the block says it). */');
  out.push('export const HEADER_FIELDS: readonly EventField[] = [');
  for (const r of header) out.push(rowText(r).slice(2));
  out.push('];');
  out.push('');
  out.push('/** The fields of each event struct that travels, header and pads excluded, in struct order. */');
  out.push('export const EVENT_FIELDS = {');
  for (const e of events) {
    out.push(`  ${e.type}: [`);
    for (const r of e.fields) out.push(rowText(r));
    out.push('  ],');
  }
  out.push('} as const satisfies Record<string, readonly EventField[]>;');
  out.push('');
  out.push('/** The columns of struct pl_header (kind is implied by the block). */');
  out.push('export interface HeaderColumns {');
  for (const r of header) if (r.name !== 'kind') out.push(`  ${r.key}: number[];`);
  out.push('}');
  for (const e of events) {
    out.push('');
    out.push(`/** The columns of struct ${e.struct}. */`);
    out.push(`export interface ${pascal(e.type)}Columns {`);
    out.push('  rows: number;');
    out.push('  h: HeaderColumns;');
    for (const r of e.fields) out.push(`  ${r.key}: ${r.proto === 'string' ? 'string' : 'number'}[];`);
    out.push('}');
  }
  out.push('');
  return out.join('\n');
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const text = generate(parseHeader(readFileSync(headerPath, 'utf8')));
  if (process.argv.includes('--check')) {
    const current = existsSync(outPath) ? readFileSync(outPath, 'utf8') : '';
    if (current !== text) {
      console.error(`${outPath} is stale: run node scripts/gen-event-fields.mjs`);
      process.exit(1);
    }
  } else if (!existsSync(outPath) || readFileSync(outPath, 'utf8') !== text) {
    writeFileSync(outPath, text);
  }
}
