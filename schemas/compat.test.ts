/**
 * The schema is held against the committed snapshot
 * (schemas/snapshot/pageloop.v1.json) and the test fails on a breaking
 * change. The second half proves it: each kind of breaking change, made to
 * a copy of the real .proto, is caught; allowed changes are not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareSchemas, describeSchema, formatSnapshot, loadProtoText, parseProto, readSnapshot, type SchemaDescription } from './snapshot.js';

const PROTO = loadProtoText();

function describe(text: string): SchemaDescription {
  return describeSchema(parseProto(text));
}

/** Replaces `from` with `to` inside one message or enum block of the .proto text; fails if absent. */
function edit(text: string, block: string, from: string | RegExp, to: string): string {
  const open = new RegExp(`\\n(\\s*)(message|enum) ${block} \\{`).exec(text);
  assert.ok(open, `block ${block} is in the .proto`);
  const start = open.index;
  // The block ends at the first closing brace at its own indentation.
  const end = text.indexOf(`\n${open[1]}}`, start + 1);
  const body = text.slice(start, end);
  const changed = body.replace(from, to);
  assert.notEqual(changed, body, `${String(from)} is in ${block}`);
  return text.slice(0, start) + changed + text.slice(end);
}

function removeBlock(text: string, block: string): string {
  const open = new RegExp(`\\n(message|enum) ${block} \\{`).exec(text);
  assert.ok(open, `block ${block} is in the .proto`);
  const end = text.indexOf('\n}', open.index + 1) + 2;
  return text.slice(0, open.index) + text.slice(end);
}

test('the .proto is compatible with the committed snapshot', () => {
  const problems = compareSchemas(readSnapshot(), describe(PROTO));
  assert.deepEqual(problems, [], `breaking changes:\n${problems.join('\n')}`);
});

test('the snapshot is a normalized description: every message, field, enum and reservation', () => {
  const snapshot = readSnapshot();
  const batch = snapshot.messages['pageloop.v1.EventBatch'];
  assert.ok(batch);
  assert.deepEqual(batch.fields.sequence, { number: 4, type: 'uint64', label: 'singular' });
  assert.deepEqual(batch.fields.faults, { number: 16, type: 'pageloop.v1.Faults', label: 'singular' });
  assert.deepEqual(snapshot.messages['pageloop.v1.Faults']?.fields.address, { number: 3, type: 'uint64', label: 'repeated' });
  assert.deepEqual(snapshot.enums['pageloop.v1.EventType']?.reserved, { numbers: [[11, 11]], names: ['EVENT_TYPE_BENCH'] });
  assert.equal(snapshot.enums['pageloop.v1.Hint.Action']?.values.ACTION_RECLAIM_CGROUP, 5);
  // Stable: describing the same text twice formats to the same bytes.
  assert.equal(formatSnapshot(describe(PROTO)), formatSnapshot(describe(PROTO)));
});

test('compareSchemas catches every kind of breaking change', () => {
  // Against the committed snapshot: exactly what the first test would see.
  const base = readSnapshot();
  // Renumbering goes to a number EventBatch does not use (44 is program_costs now).
  const cases: [string, string, RegExp][] = [
    [
      'a field renumbered',
      edit(PROTO, 'EventBatch', 'uint64 sequence = 4;', 'uint64 sequence = 99;'),
      /^pageloop\.v1\.EventBatch\.sequence \(4\): removed without reserving 4$/,
    ],
    ['a field removed', edit(PROTO, 'EventBatch', /\n\s*string collector_id = 3;/, ''), /^pageloop\.v1\.EventBatch\.collector_id \(3\): removed without reserving 3$/],
    [
      'a field number reused for another name',
      edit(PROTO, 'EventBatch', 'string collector_id = 3;', 'string collector = 3;'),
      /^pageloop\.v1\.EventBatch\.collector_id \(3\): number 3 reused by 'collector'$/,
    ],
    [
      'a type change',
      edit(PROTO, 'EventBatch', 'uint64 sequence = 4;', 'string sequence = 4;'),
      /^pageloop\.v1\.EventBatch\.sequence \(4\): type changed from uint64 to string$/,
    ],
    [
      'a wire-compatible type change (still a contract change)',
      edit(PROTO, 'Faults', 'repeated uint32 error_code = 5;', 'repeated int32 error_code = 5;'),
      /^pageloop\.v1\.Faults\.error_code \(5\): type changed from uint32 to int32$/,
    ],
    [
      'a message type change',
      edit(PROTO, 'RegionScore', 'ProcessId process = 1;', 'Region process = 1;'),
      /^pageloop\.v1\.RegionScore\.process \(1\): type changed from pageloop\.v1\.ProcessId to pageloop\.v1\.Region$/,
    ],
    [
      'a label change (repeated to singular)',
      edit(PROTO, 'Faults', 'repeated uint64 address = 3;', 'uint64 address = 3;'),
      /^pageloop\.v1\.Faults\.address \(3\): label changed from repeated uint64 to singular uint64$/,
    ],
    [
      'a label change (singular to proto3 optional)',
      edit(PROTO, 'Hint', 'uint32 page_size_kb = 5;', 'optional uint32 page_size_kb = 5;'),
      /^pageloop\.v1\.Hint\.page_size_kb \(5\): label changed from singular uint32 to optional uint32$/,
    ],
    [
      'an enum value removed',
      edit(PROTO, 'Action', /\n\s*ACTION_PAGE_OUT = 4;/, ''),
      /^pageloop\.v1\.Hint\.Action\.ACTION_PAGE_OUT \(4\): removed without reserving 4$/,
    ],
    [
      'an enum value renumbered',
      edit(PROTO, 'MappingKind', 'MAPPING_KIND_FILE = 4;', 'MAPPING_KIND_FILE = 5;'),
      /^pageloop\.v1\.MappingKind\.MAPPING_KIND_FILE: renumbered from 4 to 5$/,
    ],
    [
      'an enum number reused',
      edit(PROTO, 'Outcome', 'OUTCOME_DRY_RUN = 4;', 'OUTCOME_SIMULATED = 4;'),
      /^pageloop\.v1\.HintAction\.Outcome\.OUTCOME_DRY_RUN \(4\): number 4 reused by 'OUTCOME_SIMULATED'$/,
    ],
    [
      'a reserved enum number taken back',
      edit(PROTO, 'EventType', /reserved 11;\n\s*reserved "EVENT_TYPE_BENCH";/, 'EVENT_TYPE_SYNTHETIC = 11;'),
      /^pageloop\.v1\.EventType\.EVENT_TYPE_SYNTHETIC \(11\): uses reserved number 11$/,
    ],
    ['a message removed', removeBlock(PROTO, 'TunerChange'), /^message pageloop\.v1\.TunerChange was removed$/],
    ['an enum removed (with its field retyped)', removeBlock(edit(PROTO, 'MappingName', 'MappingKind kind = 1;', 'uint32 kind = 1;'), 'MappingKind'), /^enum pageloop\.v1\.MappingKind was removed$/],
  ];
  for (const [what, text, expected] of cases) {
    const problems = compareSchemas(base, describe(text));
    assert.ok(
      problems.some((p) => expected.test(p)),
      `${what}: expected a problem matching ${String(expected)}, got ${JSON.stringify(problems)}`,
    );
  }
});

test('a field reserved in the snapshot cannot come back', () => {
  const removed = edit(PROTO, 'EventBatch', /\n\s*string collector_id = 3;/, '\n  reserved 3;\n  reserved "collector_id";');
  const before = describe(removed);
  const reused = edit(removed, 'EventBatch', /\n\s*reserved 3;\n\s*reserved "collector_id";/, '\n  string collector_id = 3;');
  assert.deepEqual(compareSchemas(before, describe(reused)), [
    'pageloop.v1.EventBatch.collector_id (3): uses reserved number 3',
    "pageloop.v1.EventBatch.collector_id: uses reserved name 'collector_id'",
  ]);
});

test('allowed changes pass: new fields, messages and enum values; removals that reserve their number', () => {
  const base = readSnapshot();
  const allowed: [string, string][] = [
    ['a new field', edit(PROTO, 'EventBatch', 'uint64 sequence = 4;', 'uint64 sequence = 4;\n  string kernel_release = 8;')],
    ['a new column', edit(PROTO, 'FaultSummaries', 'repeated uint32 exited = 14;', 'repeated uint32 exited = 14;\n  repeated uint32 cgroup_index = 15;')],
    ['a new enum value', edit(PROTO, 'Action', 'ACTION_RECLAIM_CGROUP = 5;', 'ACTION_RECLAIM_CGROUP = 5;\n    ACTION_DEMOTE_ZSWAP = 6;')],
    ['a new message', `${PROTO}\nmessage Heartbeat {\n  string host = 1;\n}\n`],
    ['a field removed with its number reserved', edit(PROTO, 'EventBatch', /\n\s*string collector_id = 3;/, '\n  reserved 3;\n  reserved "collector_id";')],
    ['an enum value removed with its number reserved', edit(PROTO, 'Action', /\n\s*ACTION_PAGE_OUT = 4;/, '\n    reserved 4;')],
    ['comments and layout', PROTO.replace(/\n\s*\/\/[^\n]*/g, '')],
  ];
  for (const [what, text] of allowed) assert.deepEqual(compareSchemas(base, describe(text)), [], what);
});
