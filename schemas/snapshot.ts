/**
 * A normalized description of the wire schema, committed as
 * schemas/snapshot/pageloop.v1.json, and the rules that say which changes
 * against it break consumers (compat.test.ts holds the .proto to them).
 *
 *   node dist/schemas/snapshot.js           compare the .proto with the snapshot
 *   node dist/schemas/snapshot.js --write   refresh the snapshot (refused on a breaking change)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import protobuf from 'protobufjs';
import { schemaFile, sourceSchemasDir } from './files.js';

export type FieldLabel = 'singular' | 'optional' | 'repeated' | 'map';

export interface FieldDescription {
  number: number;
  /** A scalar type name, or the full name of a message or enum (no leading dot). */
  type: string;
  label: FieldLabel;
  /** Map fields only. */
  keyType?: string;
}

export interface Reserved {
  /** Inclusive [from, to] ranges, sorted. */
  numbers: [number, number][];
  names: string[];
}

export interface MessageDescription {
  fields: Record<string, FieldDescription>;
  reserved: Reserved;
}

export interface EnumDescription {
  values: Record<string, number>;
  reserved: Reserved;
}

export interface SchemaDescription {
  messages: Record<string, MessageDescription>;
  enums: Record<string, EnumDescription>;
}

/** Parses .proto text as written (snake_case names kept). */
export function parseProto(text: string): protobuf.Root {
  const root = protobuf.parse(text, { keepCase: true }).root;
  root.resolveAll();
  return root;
}

export function loadProtoText(): string {
  return readFileSync(schemaFile('pageloop.proto'), 'utf8');
}

function describeReserved(reserved: (number[] | string)[] | undefined): Reserved {
  const numbers: [number, number][] = [];
  const names: string[] = [];
  for (const r of reserved ?? []) {
    if (typeof r === 'string') names.push(r);
    else numbers.push([r[0]!, r[1] ?? r[0]!]);
  }
  numbers.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  names.sort();
  return { numbers, names };
}

function sortedRecord<T>(entries: [string, T][]): Record<string, T> {
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries);
}

function describeField(field: protobuf.Field): FieldDescription {
  const resolved = field.resolvedType;
  const type = resolved ? resolved.fullName.replace(/^\./, '') : field.type;
  if (field instanceof protobuf.MapField) return { number: field.id, type, label: 'map', keyType: field.keyType };
  const options = field.options as Record<string, unknown> | undefined;
  const label: FieldLabel = field.repeated ? 'repeated' : options?.proto3_optional === true ? 'optional' : 'singular';
  return { number: field.id, type, label };
}

/** Every message and enum under root, by full name, in a stable order. */
export function describeSchema(root: protobuf.Root): SchemaDescription {
  const messages: [string, MessageDescription][] = [];
  const enums: [string, EnumDescription][] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      const name = child.fullName.replace(/^\./, '');
      if (child instanceof protobuf.Type) {
        messages.push([
          name,
          {
            // By number, as the .proto reads.
            fields: Object.fromEntries([...child.fieldsArray].sort((a, b) => a.id - b.id).map((f) => [f.name, describeField(f)])),
            reserved: describeReserved(child.reserved),
          },
        ]);
      } else if (child instanceof protobuf.Enum) {
        const values = Object.entries(child.values).sort(([, a], [, b]) => a - b);
        enums.push([name, { values: Object.fromEntries(values), reserved: describeReserved(child.reserved) }]);
      }
      if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) walk(child);
    }
  };
  walk(root);
  return { messages: sortedRecord(messages), enums: sortedRecord(enums) };
}

function isReservedNumber(r: Reserved, n: number): boolean {
  return r.numbers.some(([from, to]) => n >= from && n <= to);
}

function label(f: FieldDescription): string {
  return f.label === 'map' ? `map<${f.keyType ?? '?'}, ${f.type}>` : `${f.label} ${f.type}`;
}

/**
 * The changes from `before` to `after` that break a reader or writer of
 * `before` (an empty list means compatible). Adding messages, fields and enum
 * values is fine; so is removing a field or value whose number is reserved.
 */
export function compareSchemas(before: SchemaDescription, after: SchemaDescription): string[] {
  const problems: string[] = [];
  for (const [name, old] of Object.entries(before.messages)) {
    const now = after.messages[name];
    if (!now) {
      problems.push(`message ${name} was removed`);
      continue;
    }
    const byNumber = new Map(Object.entries(now.fields).map(([f, d]) => [d.number, [f, d] as const]));
    for (const [fieldName, was] of Object.entries(old.fields)) {
      const found = byNumber.get(was.number);
      const where = `${name}.${fieldName} (${was.number})`;
      if (!found) {
        if (!isReservedNumber(now.reserved, was.number)) problems.push(`${where}: removed without reserving ${was.number}`);
        continue;
      }
      const [newName, is] = found;
      if (newName !== fieldName) problems.push(`${where}: number ${was.number} reused by '${newName}'`);
      if (is.type !== was.type || is.keyType !== was.keyType) problems.push(`${where}: type changed from ${was.type} to ${is.type}`);
      if (is.label !== was.label) problems.push(`${where}: label changed from ${label(was)} to ${label(is)}`);
    }
    for (const [fieldName, is] of Object.entries(now.fields)) {
      if (!Object.values(old.fields).some((f) => f.number === is.number) && isReservedNumber(old.reserved, is.number)) {
        problems.push(`${name}.${fieldName} (${is.number}): uses reserved number ${is.number}`);
      }
      if (!(fieldName in old.fields) && old.reserved.names.includes(fieldName)) {
        problems.push(`${name}.${fieldName}: uses reserved name '${fieldName}'`);
      }
    }
  }
  for (const [name, old] of Object.entries(before.enums)) {
    const now = after.enums[name];
    if (!now) {
      problems.push(`enum ${name} was removed`);
      continue;
    }
    const byNumber = new Map(Object.entries(now.values).map(([v, n]) => [n, v]));
    for (const [valueName, was] of Object.entries(old.values)) {
      const is = now.values[valueName];
      if (is === undefined) {
        const reuser = byNumber.get(was);
        if (reuser !== undefined) problems.push(`${name}.${valueName} (${was}): number ${was} reused by '${reuser}'`);
        else if (!isReservedNumber(now.reserved, was)) problems.push(`${name}.${valueName} (${was}): removed without reserving ${was}`);
      } else if (is !== was) {
        problems.push(`${name}.${valueName}: renumbered from ${was} to ${is}`);
      }
    }
    for (const [valueName, is] of Object.entries(now.values)) {
      if (!(valueName in old.values) && isReservedNumber(old.reserved, is)) {
        problems.push(`${name}.${valueName} (${is}): uses reserved number ${is}`);
      }
      if (!(valueName in old.values) && old.reserved.names.includes(valueName)) {
        problems.push(`${name}.${valueName}: uses reserved name '${valueName}'`);
      }
    }
  }
  return problems;
}

export const SNAPSHOT_NAME = 'pageloop.v1.json';

/** The committed snapshot's path in the source tree. */
export function snapshotPath(): string {
  return join(sourceSchemasDir(), 'snapshot', SNAPSHOT_NAME);
}

export function readSnapshot(path = snapshotPath()): SchemaDescription {
  return JSON.parse(readFileSync(path, 'utf8')) as SchemaDescription;
}

/** Pretty JSON, but anything short (a field, a reserved list) on one line: small, readable diffs. */
export function formatSnapshot(d: SchemaDescription): string {
  const format = (v: unknown, indent: string): string => {
    const compact = JSON.stringify(v);
    if (v === null || typeof v !== 'object' || compact.length + indent.length <= 100) return compact;
    const inner = `${indent}  `;
    if (Array.isArray(v)) return `[\n${v.map((x) => inner + format(x, inner)).join(',\n')}\n${indent}]`;
    const entries = Object.entries(v as Record<string, unknown>);
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${format(x, inner)}`).join(',\n')}\n${indent}}`;
  };
  return `${format(d, '')}\n`;
}

function main(argv: readonly string[]): number {
  const write = argv.includes('--write');
  const current = describeSchema(parseProto(loadProtoText()));
  const path = snapshotPath();
  let committed: SchemaDescription | undefined;
  try {
    committed = readSnapshot(path);
  } catch {
    committed = undefined;
  }
  const problems = committed ? compareSchemas(committed, current) : [];
  if (problems.length > 0) {
    process.stderr.write(`pageloop.proto breaks ${path}:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.stderr.write('Reserve removed numbers instead; a breaking change needs a new package (pageloop.v2).\n');
    return 1;
  }
  const fresh = committed !== undefined && formatSnapshot(committed) === formatSnapshot(current);
  if (write) {
    if (fresh) process.stdout.write(`${path} is up to date\n`);
    else {
      mkdirSync(join(sourceSchemasDir(), 'snapshot'), { recursive: true });
      writeFileSync(path, formatSnapshot(current));
      process.stdout.write(`wrote ${path}\n`);
    }
  } else {
    process.stdout.write(fresh ? `compatible; ${path} is up to date\n` : `compatible; run with --write to record the additions in ${path}\n`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
