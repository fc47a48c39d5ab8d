/**
 * Config, profile and hint JSON: good documents pass; each bad one is
 * refused with a UsageError naming the JSON pointer of the bad field and
 * what was expected; files report syntax errors with line and column.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { SchemaError, findJsonSyntaxError, loadJsonFile, validateConfig, validateHint, validateProfile } from './validate.js';

const GOOD_CONFIG = {
  $schema: './schemas/config.schema.json',
  host: 'node-7',
  kafka: {
    brokers: ['127.0.0.1:9092', 'kafka-2.internal:9093'],
    clientId: 'pageloop',
    ssl: { rejectUnauthorized: true, ca: '/etc/pageloop/ca.pem' },
    sasl: { mechanism: 'scram-sha-512', username: 'pageloop', password: 'secret' },
  },
  probes: {
    families: ['fault', 'promotion', 'collapse', 'compaction', 'swap'],
    targets: { pids: [], cgroups: ['/sys/fs/cgroup/app.slice'] },
    faultMode: 'aggregated',
    faultSampleEvery: 1,
    regionShift: 21,
    ringBufferBytes: 16 * 1024 * 1024,
    faultTableEntries: 65536,
    faultSweepIntervalMs: 1000,
    swapEntries: false,
    maxBatchBytes: 1 << 20,
    promotionWindowMs: 10,
  },
  collector: {
    batch: { maxEvents: 50_000, maxBytes: 1 << 20, maxDelayMs: 1000 },
    queue: { maxBytes: 64 << 20 },
    compression: 'gzip',
    metrics: { port: 9464, host: '127.0.0.1' },
    samplers: { vmstat: { intervalMs: 1000 }, psi: { intervalMs: 1000 }, damon: { enabled: true } },
  },
  processors: {
    windowMs: 10_000,
    groupId: 'pageloop',
    scorer: { pageSizesKb: [64, 2048, 32768], minFaults: 16, zeroingNsPerKb: 40, compactionWeight: 1.5 },
    phases: { threshold: 0.4, minDwellMs: 5000 },
    planner: { minScore: 0.1, hintTtlMs: 60_000, maxHintsPerWindow: 100 },
    tuner: { enabled: true, objective: 'p99_fault_latency_ns', target: 2000 },
  },
  feedback: {
    allow: { cgroups: ['/sys/fs/cgroup/app.slice'], executables: ['/usr/bin/java'], comms: ['java'] },
    dryRun: true,
    rateLimits: { perProcessPerMinute: 10, perHostPerMinute: 100 },
  },
  clickhouse: { url: 'http://clickhouse.internal:8123', database: 'pageloop', cluster: 'fleet' },
};

const HTTPS_CONFIG = { ...GOOD_CONFIG, clickhouse: { ...GOOD_CONFIG.clickhouse, url: 'https://ch:8443' } };

const GOOD_PROFILE = {
  version: 1,
  executable: '/usr/bin/java',
  regions: [
    { name: { kind: 'heap' }, offset: 0, length: 64 << 20, benefit: { '64': 0.1, '2048': 0.6, '32768': 0.7 }, preferredSizeKb: 2048 },
    { name: { kind: 'file', path: '/usr/lib/jvm/libjvm.so' }, offset: 4096, length: 2 << 20, benefit: { '2048': 0.05 } },
    { name: { kind: 'anon', ordinal: 3 }, offset: 0, length: 4096, benefit: { '64': -0.2 } },
  ],
};

const GOOD_HINT = {
  hintId: 'h-000042',
  process: { host: 'node-7', bootId: '5e1f4c0e', pid: 4242, startNs: 1_234_567_890 },
  region: { mapping: { kind: 'file', path: '/usr/lib/jvm/libjvm.so' }, offset: 0, start: 0x7f00_0000_0000, length: 2 << 20 },
  action: 'promote',
  pageSizeKb: 2048,
  score: 0.83,
  reason: 'hot text',
  issuedNs: 100,
  expiresNs: 60_000_000_100,
};

/** Deep copy with one change at a path (a key set to undefined is deleted). */
function withChange(doc: object, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

function refusal(fn: () => unknown): SchemaError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.ok(err instanceof SchemaError);
    return err;
  }
  assert.fail('the document was accepted');
}

test('good documents pass and come back typed', () => {
  assert.deepEqual(validateConfig(GOOD_CONFIG), GOOD_CONFIG);
  assert.deepEqual(validateConfig({}), {});
  assert.deepEqual(validateConfig({ kafka: { ssl: true } }), { kafka: { ssl: true } });
  assert.deepEqual(validateProfile(GOOD_PROFILE), GOOD_PROFILE);
  assert.deepEqual(validateProfile({ version: 1, regions: [] }), { version: 1, regions: [] });
});

test('a hint validates into the full wire Hint, protobuf defaults filled in', () => {
  const hint = validateHint({ $schema: './schemas/hint.schema.json', ...GOOD_HINT });
  assert.deepStrictEqual(hint, {
    ...GOOD_HINT,
    region: { ...GOOD_HINT.region, mapping: { kind: 'file', path: '/usr/lib/jvm/libjvm.so', ordinal: 0 } },
    cgroup: '',
    bytes: 0,
  });
  // What the planner emits (a full Hint, as JSON) validates to itself.
  assert.deepStrictEqual(validateHint(JSON.parse(JSON.stringify(hint))), hint);
  const reclaim = validateHint({
    hintId: 'h-1',
    process: { host: 'node-7', bootId: 'b', pid: 0, startNs: 0 },
    action: 'reclaim_cgroup',
    cgroup: '/sys/fs/cgroup/batch.slice',
    bytes: 1 << 30,
    issuedNs: 1,
    expiresNs: 2,
  });
  assert.equal(reclaim.action, 'reclaim_cgroup');
  assert.equal(reclaim.region, undefined);
});

test('each bad config is refused with the path of the bad field', () => {
  const cases: [unknown, string, RegExp][] = [
    [withChange(GOOD_CONFIG, ['collector', 'batch', 'maxBytes'], 12), '/collector/batch/maxBytes', /must be integer >= 1024 \(got 12\)/],
    [withChange(GOOD_CONFIG, ['collector', 'batch', 'maxBytes'], '1MB'), '/collector/batch/maxBytes', /must be integer from 1024 to/],
    [withChange(GOOD_CONFIG, ['probes', 'families'], ['fault', 'pagecache']), '/probes/families/1', /must be one of fault, promotion, collapse, compaction, swap \(got "pagecache"\)/],
    [withChange(GOOD_CONFIG, ['probes', 'families'], []), '/probes/families', /must have at least 1 item/],
    [withChange(GOOD_CONFIG, ['probes', 'families'], ['swap', 'swap']), '/probes/families/1', /repeats item 0/],
    [withChange(GOOD_CONFIG, ['probes', 'faultMode'], 'sampled'), '/probes/faultMode', /must be one of aggregated, raw/],
    [withChange(GOOD_CONFIG, ['probes', 'regionShift'], 8), '/probes/regionShift', /must be integer >= 12/],
    [withChange(GOOD_CONFIG, ['probes', 'ringBufferBytes'], 5000), '/probes/ringBufferBytes', /must be a power of two \(got 5000\)/],
    [withChange(GOOD_CONFIG, ['probes', 'targets', 'pids'], [1]), '/probes/targets', /give pids or cgroups, not both/],
    [withChange(GOOD_CONFIG, ['probes', 'targets', 'pids'], [0]), '/probes/targets/pids/0', /must be integer >= 1/],
    [withChange(GOOD_CONFIG, ['probes', 'bench'], { pid: 1 }), '/probes/bench', /is not a known property \(known: families, targets/],
    [withChange(GOOD_CONFIG, ['kafka', 'sasl', 'mechanism'], 'gssapi'), '/kafka/sasl/mechanism', /must be one of plain, scram-sha-256, scram-sha-512 \(got "gssapi"\)/],
    [withChange(GOOD_CONFIG, ['kafka', 'ssl'], 'yes'), '/kafka/ssl', /must be boolean or object \(got "yes"\)/],
    [withChange(GOOD_CONFIG, ['kafka', 'ssl', 'verify'], false), '/kafka/ssl/verify', /is not a known property/],
    [withChange(GOOD_CONFIG, ['kafka', 'brokers'], ['localhost']), '/kafka/brokers/0', /must be host:port \(got "localhost"\)/],
    [withChange(GOOD_CONFIG, ['collector', 'compression'], 'zstd'), '/collector/compression', /must be one of none, gzip/],
    [withChange(GOOD_CONFIG, ['collector', 'metrics', 'port'], 70000), '/collector/metrics/port', /must be integer <= 65535/],
    [withChange(GOOD_CONFIG, ['collector', 'samplers', 'damon', 'enabled'], 'true'), '/collector/samplers/damon/enabled', /must be boolean/],
    [withChange(GOOD_CONFIG, ['processors', 'scorer', 'pageSizesKb'], [64, 1000]), '/processors/scorer/pageSizesKb/1', /must be a power of two/],
    [withChange(GOOD_CONFIG, ['processors', 'sink'], {}), '/processors/sink', /is not a known property/],
    [withChange(GOOD_CONFIG, ['feedback', 'allow', 'comms'], ['a-name-longer-than-15']), '/feedback/allow/comms/0', /must be at most 15 characters/],
    [withChange(GOOD_CONFIG, ['feedback', 'allow', 'executables'], ['java']), '/feedback/allow/executables/0', /must be an absolute path/],
    [withChange(GOOD_CONFIG, ['feedback', 'rateLimits', 'perHostPerMinute'], -1), '/feedback/rateLimits/perHostPerMinute', /must be integer >= 0/],
    [withChange(GOOD_CONFIG, ['clickhouse', 'url'], 'not a url'), '/clickhouse/url', /must be a uri/],
    [withChange(GOOD_CONFIG, ['clickhouse', 'database'], 'drop table'), '/clickhouse/database', /must be an identifier/],
    [withChange(GOOD_CONFIG, ['clickhouse', 'cluster'], 'two words'), '/clickhouse/cluster', /must be '' \(one server\) or a cluster name/],
    [withChange(GOOD_CONFIG, ['clickhouse', 'url'], 'ftp://clickhouse.internal'), '/clickhouse/url', /must be an http:\/\/ or https:\/\/ URL/],
    [withChange(GOOD_CONFIG, ['clickhouse', 'tls'], { ca: '/etc/pki/ca.pem' }), '/clickhouse/tls', /is for an https:\/\/ url \(got \/clickhouse\/url "http:\/\/clickhouse.internal:8123"\)/],
    [withChange(HTTPS_CONFIG, ['clickhouse', 'tls'], { ca: '/ca.pem', cert: '/c.pem' }), '/clickhouse/tls/key', /is required with \/clickhouse\/tls\/cert/],
    [withChange(HTTPS_CONFIG, ['clickhouse', 'tls'], { cert: '/c.pem', key: '/k.pem' }), '/clickhouse/tls/ca', /is required/],
    [withChange(GOOD_CONFIG, ['clickhouse', 'username'], ''), '/clickhouse/username', /must not be empty/],
    [withChange(GOOD_CONFIG, ['host'], 'two words'), '/host', /must be a host name without spaces/],
    [withChange(GOOD_CONFIG, ['colector'], {}), '/colector', /is not a known property \(known: host, kafka, probes, collector, processors, feedback, clickhouse\)/],
    [[], '/', /must be object/],
  ];
  for (const [doc, path, expected] of cases) {
    const err = refusal(() => validateConfig(doc));
    assert.ok(
      err.issues.some((i) => i.path === path && expected.test(i.message)),
      `${path}: expected ${String(expected)}, got: ${err.message}`,
    );
    assert.ok(err.message.startsWith(`config: `), err.message);
    assert.ok(err.message.includes(`${path}: `), err.message);
  }
});

test('the message reads as "config: /path: expectation"', () => {
  const err = refusal(() => validateConfig({ collector: { batch: { maxBytes: 12 } } }));
  assert.equal(err.message, 'config: /collector/batch/maxBytes: must be integer >= 1024 (got 12)');
  const several = refusal(() => validateConfig({ kafka: { sasl: { mechanism: 'md5', username: 'u', password: 'p' } }, probes: { families: ['fault', 'nope'] } }));
  assert.deepEqual(
    several.issues.map((i) => i.path),
    ['/kafka/sasl/mechanism', '/probes/families/1'],
  );
});

test('each bad profile is refused with the path of the bad field', () => {
  const region0 = (key: string, value: unknown): unknown => withChange(GOOD_PROFILE, ['regions', 0, key], value);
  const cases: [unknown, string, RegExp][] = [
    [withChange(GOOD_PROFILE, ['version'], 2), '/version', /must be 1 \(got 2\)/],
    [withChange(GOOD_PROFILE, ['regions'], undefined), '/regions', /is required/],
    [withChange(GOOD_PROFILE, ['executable'], 'java'), '/executable', /must be an absolute path/],
    [region0('name', { kind: 'shm' }), '/regions/0/name/kind', /must be one of anon, heap, stack, file/],
    [withChange(GOOD_PROFILE, ['regions', 1, 'name'], { kind: 'file' }), '/regions/1/name/path', /is required/],
    [withChange(GOOD_PROFILE, ['regions', 2, 'name', 'ordinal'], -1), '/regions/2/name/ordinal', /must be integer >= 0/],
    [region0('offset', 1.5), '/regions/0/offset', /must be integer/],
    [region0('length', 0), '/regions/0/length', /must be integer >= 1/],
    [region0('benefit', {}), '/regions/0/benefit', /must have at least 1 property/],
    [region0('benefit', { '2MB': 1 }), '/regions/0/benefit/2MB', /is not a valid key: keys are page sizes in KiB/],
    [region0('benefit', { '2048': 'high' }), '/regions/0/benefit/2048', /must be number \(got "high"\)/],
    [region0('benefit', { '48': 1 }), '/regions/0/benefit/48', /is not a page size/],
    [withChange(GOOD_PROFILE, ['regions', 1, 'preferredSizeKb'], 64), '/regions/1/preferredSizeKb', /must be one of the page sizes in benefit \(2048\) \(got 64\)/],
    [region0('preferredSizeKb', 4096), '/regions/0/preferredSizeKb', /must be one of the page sizes in benefit/],
    [region0('hot', true), '/regions/0/hot', /is not a known property/],
  ];
  for (const [doc, path, expected] of cases) {
    const err = refusal(() => validateProfile(doc));
    assert.ok(
      err.issues.some((i) => i.path === path && expected.test(i.message)),
      `${path}: expected ${String(expected)}, got: ${err.message}`,
    );
    assert.ok(err.message.startsWith('profile: '), err.message);
  }
});

test('each bad hint is refused with the path of the bad field', () => {
  const cases: [unknown, string, RegExp][] = [
    [withChange(GOOD_HINT, ['action'], 'compact'), '/action', /must be one of promote, keep_base_pages, mark_cold, page_out, reclaim_cgroup/],
    [withChange(GOOD_HINT, ['action'], 'unspecified'), '/action', /must be one of/],
    [withChange(GOOD_HINT, ['hintId'], ''), '/hintId', /must not be empty/],
    [withChange(GOOD_HINT, ['process', 'startNs'], undefined), '/process/startNs', /is required/],
    [withChange(GOOD_HINT, ['process', 'startNs'], 2 ** 53), '/process/startNs', /must be integer <= 9007199254740991/],
    [withChange(GOOD_HINT, ['process', 'pid'], 0), '/process/pid', /must be integer >= 1/],
    [withChange(GOOD_HINT, ['region'], undefined), '/region', /is required/],
    [withChange(GOOD_HINT, ['region', 'mapping', 'path'], undefined), '/region/mapping/path', /is required/],
    [withChange(GOOD_HINT, ['region', 'mapping', 'path'], 'libjvm.so'), '/region/mapping/path', /must be an absolute path/],
    [withChange(GOOD_HINT, ['pageSizeKb'], undefined), '/pageSizeKb', /is required/],
    [withChange(GOOD_HINT, ['pageSizeKb'], 1000), '/pageSizeKb', /must be a power of two/],
    [withChange(GOOD_HINT, ['expiresNs'], 50), '/expiresNs', /must be after issuedNs/],
    [withChange(GOOD_HINT, ['action'], 'reclaim_cgroup'), '/cgroup', /is required/],
    [withChange(GOOD_HINT, ['score'], 'high'), '/score', /must be number/],
    [withChange(GOOD_HINT, ['ttl'], 5), '/ttl', /is not a known property/],
  ];
  for (const [doc, path, expected] of cases) {
    const err = refusal(() => validateHint(doc));
    assert.ok(
      err.issues.some((i) => i.path === path && expected.test(i.message)),
      `${path}: expected ${String(expected)}, got: ${err.message}`,
    );
    assert.ok(err.message.startsWith('hint: '), err.message);
  }
});

test('findJsonSyntaxError points at the first bad character', () => {
  const cases: [string, number, number, RegExp][] = [
    ['{"a": }', 1, 7, /unexpected "}", expected a value/],
    ['{"a": 1,}', 1, 9, /trailing comma before '}'/],
    ['[1, 2,]', 1, 7, /trailing comma before '\]'/],
    ['[1 2]', 1, 4, /expected ',' or '\]'/],
    ['{a: 1}', 1, 2, /expected a property name in double quotes/],
    ['{"a" 1}', 1, 6, /expected ':' after the property name/],
    ['"abc', 1, 1, /unterminated string/],
    ['"a\u0001"', 1, 3, /control character in string/],
    ['"\\x"', 1, 2, /bad escape "x"/],
    ['', 1, 1, /unexpected end of input, expected a value/],
    ['{"a": 1} x', 1, 10, /unexpected "x" after the JSON value/],
    ['01', 1, 2, /after the JSON value/],
    ['{\n  "host": "a",\n  "kafka": {"brokers": ["a:1",]}\n}', 3, 31, /trailing comma before '\]'/],
    ['{"a": tru}', 1, 7, /expected a value/],
    ['-', 1, 1, /expected a value/],
  ];
  for (const [text, line, column, reason] of cases) {
    const found = findJsonSyntaxError(text);
    assert.ok(found, `${JSON.stringify(text)} is reported`);
    assert.deepEqual([found.line, found.column], [line, column], `${JSON.stringify(text)}: ${found.reason}`);
    assert.match(found.reason, reason);
  }
  assert.equal(findJsonSyntaxError(JSON.stringify(GOOD_CONFIG, null, 2)), undefined);
  assert.equal(findJsonSyntaxError(' [1, -2.5e+3, "\\u00e9\\n", true, false, null, {}, []] '), undefined);
});

test('findJsonSyntaxError agrees with JSON.parse on mutated documents', () => {
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const source = JSON.stringify({ ...GOOD_PROFILE, note: 'caf\u00e9 "quoted" \\ tab\t', n: [-0.5, 1e21, 0] }, null, 1);
  const alphabet = '{}[]":,. -+eE0123456789tfnul\\\n';
  for (let i = 0; i < 3000; i++) {
    const at = Math.floor(rand() * source.length);
    const r = rand();
    const ch = alphabet[Math.floor(rand() * alphabet.length)]!;
    const text = r < 0.33 ? source.slice(0, at) + source.slice(at + 1) : r < 0.66 ? source.slice(0, at) + ch + source.slice(at) : source.slice(0, at) + ch + source.slice(at + 1);
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false;
    }
    assert.equal(findJsonSyntaxError(text) === undefined, parses, `disagreement on ${JSON.stringify(text)}`);
  }
});

test('loadJsonFile names the file, and the line and column of a syntax error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-validate-'));
  try {
    const good = join(dir, 'good.json');
    writeFileSync(good, `\ufeff${JSON.stringify(GOOD_CONFIG, null, 2)}`);
    assert.deepEqual(loadJsonFile(good, validateConfig), GOOD_CONFIG);

    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{\n  "host": "a",\n  "kafka": {"brokers": ["a:1",]}\n}\n');
    assert.throws(() => loadJsonFile(broken, validateConfig), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.message, `${broken}:3:31: invalid JSON: trailing comma before ']' (offset 47)`);
      return true;
    });

    const invalid = join(dir, 'profile.json');
    writeFileSync(invalid, JSON.stringify(withChange(GOOD_PROFILE, ['regions', 0, 'name', 'kind'], 'shm')));
    assert.throws(() => loadJsonFile(invalid, validateProfile), (err: unknown) => {
      assert.ok(err instanceof SchemaError);
      assert.equal(err.message, `${invalid}: profile: /regions/0/name/kind: must be one of anon, heap, stack, file (got "shm")`);
      return true;
    });

    assert.throws(() => loadJsonFile(join(dir, 'missing.json'), validateHint), (err: unknown) => err instanceof UsageError && err.message.startsWith(`${join(dir, 'missing.json')}: cannot read: `));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
