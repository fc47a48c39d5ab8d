/**
 * What a person writes, fuzzed: config files, profiles and hints with one
 * field edited (another type, removed, an unknown key beside it, wrapped in
 * an array), random JSON, and files that are not JSON at all (cut short,
 * bytes flipped, nested thousands deep). Each ends in the typed value or a
 * UsageError (SchemaError for a schema failure) whose message is one line
 * that names the file and, for a schema failure, a JSON pointer on the
 * branch of the edited field; never another throw, never a hang.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../lib/errors.js';
import { MAX_JSON_NESTING, SchemaError, loadJsonFile, validateConfig, validateHint, validateProfile } from './validate.js';
import { decodeHint } from './derived.js';
import { hintValue } from '../test/sink-records.js';
import { decodesOrRefuses, fuzzParams, mutatedArb } from '../test/fuzz.js';
import { applyEdit, editArb, onOneBranch, type Json } from '../test/json-mutations.js';

const RUNS = 500;
const TIMEOUT = { timeout: 20_000 };

const CONFIG: Json = {
  host: 'node-3',
  kafka: {
    brokers: ['127.0.0.1:9092'],
    clientId: 'pl',
    ssl: { rejectUnauthorized: false, ca: '/etc/ca.pem', cert: '/etc/c.pem', key: '/etc/k.pem' },
    sasl: { mechanism: 'plain', username: 'u', password: 'p' },
    topics: { partitions: { events: 48, hints: 12 }, replicationFactor: 3 },
  },
  probes: {
    families: ['fault', 'swap'],
    targets: { pids: [12, 13], cgroups: [] },
    faultMode: 'raw',
    faultSampleEvery: 4,
    regionShift: 21,
    ringBufferBytes: 1 << 22,
    faultTableEntries: 4096,
    faultSweepIntervalMs: 500,
    swapEntries: true,
    maxBatchBytes: 1 << 18,
    promotionWindowMs: 5,
  },
  collector: {
    batch: { maxEvents: 1000, maxBytes: 1 << 20, maxDelayMs: 200 },
    queue: { maxBytes: 1 << 26 },
    compression: 'none',
    metrics: { port: 9000, host: '127.0.0.1', user: 'prom', password: 'pw' },
    samplers: { vmstat: { intervalMs: 2000 }, psi: { intervalMs: 2000 }, damon: { enabled: false } },
  },
  processors: {
    windowMs: 5000,
    groupId: 'g',
    scorer: { pageSizesKb: [2048], minFaults: 4, zeroingNsPerKb: 30, compactionWeight: 2 },
    phases: { threshold: 0.5, minDwellMs: 1000 },
    planner: { minScore: 0.2, hintTtlMs: 30_000, maxHintsPerWindow: 8, maxHintsPerHostWindow: 64 },
    tuner: { enabled: false, objective: 'fault_rate', target: 10 },
  },
  feedback: { allow: { cgroups: ['/a.slice'], executables: ['/usr/bin/x'], comms: ['x'] }, dryRun: false, rateLimits: { perProcessPerMinute: 5, perHostPerMinute: 50 } },
  clickhouse: { url: 'https://127.0.0.1:8443', database: 'pl', username: 'pl', password: 'pw', tls: { ca: '/etc/ca.pem', cert: '/etc/c.pem', key: '/etc/k.pem' }, cluster: 'c1' },
};

const PROFILE: Json = {
  version: 1,
  executable: '/usr/bin/java',
  regions: [
    { name: { kind: 'heap' }, offset: 0, length: 4 << 20, benefit: { '4': 0, '2048': 0.8 }, preferredSizeKb: 2048 },
    { name: { kind: 'file', path: '/usr/lib/libjvm.so' }, offset: 8192, length: 2 << 20, benefit: { '64': 0.1 } },
  ],
};

const HINT = JSON.parse(JSON.stringify(decodeHint(hintValue('node-a', 1)))) as Json;

const DOCS: { name: string; doc: Json; validate: (obj: unknown) => unknown }[] = [
  { name: 'config', doc: CONFIG, validate: validateConfig },
  { name: 'profile', doc: PROFILE, validate: validateProfile },
  { name: 'hint', doc: HINT, validate: validateHint },
];

const isUsage = (e: unknown): boolean => e instanceof UsageError;

/** The checks on a refusal: one line, and (for a schema failure) pointers that name the edited field's branch. */
function checkRefusal(err: unknown, editedAt: string | undefined): void {
  const message = (err as Error).message;
  assert.ok(!message.includes('\n'), `the message spans lines: ${JSON.stringify(message)}`);
  if (err instanceof SchemaError && editedAt !== undefined) {
    // A cross-field rule may name a field beside the edited one's container
    // (preferredSizeKb, when a benefit key is removed): within two levels up.
    const near = editedAt.split('/').slice(0, -2).join('/') || '/';
    assert.ok(
      err.issues.some((i) => onOneBranch(i.path, editedAt) || (near !== '/' && onOneBranch(near, i.path))),
      `edited ${editedAt}, but the error names only ${err.issues.map((i) => i.path).join(', ')}`,
    );
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pageloop-validate-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config, profile and hint documents, fuzzed', () => {
  it('the starting documents are valid', () => {
    for (const d of DOCS) assert.doesNotThrow(() => d.validate(JSON.parse(JSON.stringify(d.doc))), d.name);
  });

  for (const d of DOCS) {
    it(`${d.name}: one field edited: valid, or a one-line SchemaError naming a pointer on that field's branch`, TIMEOUT, () => {
      fc.assert(
        fc.property(editArb(d.doc), (edit) => {
          const { doc, at } = applyEdit(d.doc, edit);
          const r = decodesOrRefuses(() => d.validate(doc), isUsage);
          if (!r.ok) checkRefusal(r.error, `/${at.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`);
        }),
        fuzzParams(RUNS),
      );
    });

    it(`${d.name}: any JSON value: valid or a one-line SchemaError`, TIMEOUT, () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
          const r = decodesOrRefuses(() => d.validate(value), isUsage);
          if (!r.ok) checkRefusal(r.error, undefined);
        }),
        fuzzParams(RUNS),
      );
    });
  }

  it('files: cut, flipped or spliced JSON text, and text that is not JSON: the value or a one-line UsageError naming the file', TIMEOUT, () => {
    const texts = DOCS.map((d) => Buffer.from(JSON.stringify(d.doc, null, 2)));
    const file = join(dir, 'doc.json');
    fc.assert(
      fc.property(fc.oneof(mutatedArb(texts), fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 200 }).map((s) => Buffer.from(s))), fc.constantFrom(...DOCS), (bytes, d) => {
        writeFileSync(file, bytes);
        const r = decodesOrRefuses(() => loadJsonFile(file, d.validate), isUsage);
        if (!r.ok) {
          checkRefusal(r.error, undefined);
          assert.ok((r.error as Error).message.startsWith(file), `the error does not start with the file: ${(r.error as Error).message}`);
        }
      }),
      fuzzParams(300),
    );
  });

  it('files nested far too deep, cut or whole: a UsageError, not a stack overflow', () => {
    const file = join(dir, 'deep.json');
    const n = MAX_JSON_NESTING * 50;
    for (const text of ['['.repeat(n), '{"a":'.repeat(n), `${'['.repeat(n)}${']'.repeat(n)}`, `{"probes":${'{"x":'.repeat(n)}1${'}'.repeat(n)}}`]) {
      writeFileSync(file, text);
      assert.throws(() => loadJsonFile(file, validateConfig), (e: unknown) => e instanceof UsageError && e.message.startsWith(file), text.slice(0, 20));
    }
    writeFileSync(file, '['.repeat(n));
    assert.throws(() => loadJsonFile(file, validateConfig), new RegExp(`nested more than ${MAX_JSON_NESTING} levels deep`));
  });

  it('a missing file and a directory: a UsageError naming the path', () => {
    assert.throws(() => loadJsonFile(join(dir, 'nope.json'), validateConfig), (e: unknown) => e instanceof UsageError && e.message.startsWith(join(dir, 'nope.json')) && /cannot read/.test(e.message));
    assert.throws(() => loadJsonFile(dir, validateConfig), (e: unknown) => e instanceof UsageError && e.message.startsWith(dir));
  });
});
