/**
 * Mutations of JSON documents for the fuzz tests of what a person writes
 * (config files, profiles, hints): one edit at one JSON pointer (a value
 * replaced by another of any type, a key removed, an unknown key added, a
 * value wrapped in an array), so a test can check that the error names the
 * field the edit touched.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every JSON pointer in `doc` below the root, as segment lists. */
export function pointersOf(doc: Json, at: string[] = [], out: string[][] = []): string[][] {
  if (doc !== null && typeof doc === 'object') {
    const entries = Array.isArray(doc) ? doc.map((v, i) => [String(i), v] as const) : Object.entries(doc);
    for (const [k, v] of entries) {
      const p = [...at, k];
      out.push(p);
      pointersOf(v, p, out);
    }
  }
  return out;
}

export function pointerText(segments: readonly string[]): string {
  return segments.length === 0 ? '/' : segments.map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

export type JsonEdit =
  | { op: 'replace'; path: string[]; value: Json }
  | { op: 'remove'; path: string[] }
  | { op: 'add-key'; path: string[]; key: string; value: Json }
  | { op: 'wrap'; path: string[] };

function clone(doc: Json): Json {
  return JSON.parse(JSON.stringify(doc)) as Json;
}

/** `doc` with the edit applied (a copy), and the pointer the edit is at. */
export function applyEdit(doc: Json, edit: JsonEdit): { doc: Json; at: string[] } {
  const out = clone(doc);
  const parentPath = edit.op === 'add-key' ? edit.path : edit.path.slice(0, -1);
  let parent: Json = out;
  for (const s of parentPath) parent = (parent as Record<string, Json>)[s]!;
  const last = edit.path[edit.path.length - 1]!;
  const container = parent as Record<string, Json> & Json[];
  switch (edit.op) {
    case 'replace':
      container[last] = edit.value;
      return { doc: out, at: edit.path };
    case 'remove':
      if (Array.isArray(container)) container.splice(Number(last), 1);
      else delete container[last];
      return { doc: out, at: edit.path };
    case 'wrap':
      container[last] = [container[last]!];
      return { doc: out, at: edit.path };
    case 'add-key':
      if (parent === null || typeof parent !== 'object' || Array.isArray(parent)) return { doc: out, at: edit.path };
      (parent as Record<string, Json>)[edit.key] = edit.value;
      return { doc: out, at: [...edit.path, edit.key] };
  }
}

/** Keys a person might mistype, and keys that test the error text (a newline, a slash, a tilde). */
const keyArb = fc.oneof(fc.constantFrom('typo', 'Kafka', 'port ', 'a/b', 'a~b', 'line\nbreak', '', '__proto__x'), fc.string({ maxLength: 12 }));

const valueArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(-1, 0, 1.5, -0, 1e308, 2 ** 53 + 2, '', 'x', '-5', true, false, null, [], {}),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** One edit somewhere in `doc` (whose objects and arrays must not be empty at the root). */
export function editArb(doc: Json): fc.Arbitrary<JsonEdit> {
  const paths = pointersOf(doc);
  const objects = [[], ...paths].filter((p) => {
    let v: Json = doc;
    for (const s of p) v = (v as Record<string, Json>)[s]!;
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  });
  const path = fc.constantFrom(...paths);
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), path, value: valueArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), path }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('add-key' as const), path: fc.constantFrom(...objects), key: keyArb, value: valueArb }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), path }) },
  );
}

/** Whether two pointers lie on one branch (one is a prefix of the other): an error there names the edited field or its container. */
export function onOneBranch(a: string, b: string): boolean {
  const pa = a === '/' ? '' : a;
  const pb = b === '/' ? '' : b;
  return pa === pb || pb.startsWith(`${pa}/`) || pa.startsWith(`${pb}/`);
}
