/**
 * The ClickHouse-compatible HTTP endpoint (what Grafana queries) on the real
 * embedded engine, sent requests nobody vouches for, over a raw socket:
 * mutated queries, odd request targets (`//host:99999`), unknown and
 * contradicting parameters, bad credentials, Content-Encoding that lies,
 * multipart bodies that do not parse. Every request gets a whole HTTP
 * answer: a result, or a ClickHouse error (X-ClickHouse-Exception-Code and
 * "Code: N. DB::Exception: ..." text, no stack trace), or Node's own 400 for
 * what is not HTTP; the endpoint keeps serving after each one and nothing
 * rejects unhandled. Read-only endpoint, loopback only, bounded runs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { openEmbeddedEngine, type EmbeddedClickHouseEngine } from '../../clickhouse/embedded.js';
import { parseRequestParams, requestCredentials, splitInlineInsert, startClickHouseHttpEndpoint, type ClickHouseHttpEndpoint } from './http-endpoint.js';
import { fuzzParams, mutate, mutationArb } from '../../test/fuzz.js';

const RUNS = 200;
const TIMEOUT = { timeout: 60_000 };
/** How long one request may take before the property calls it a hang. */
const ANSWER_WITHIN_MS = 10_000;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `request` bytes on a fresh connection and reads until the server closes it (Connection: close). */
function send(port: number, request: Buffer): Promise<RawAnswer | 'no answer'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms to ${JSON.stringify(request.subarray(0, 200).toString('latin1'))}`));
    }, ANSWER_WITHIN_MS);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer is fine; no answer is judged below
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) return resolve('no answer');
      const headers: Record<string, string> = {};
      for (const line of m[2]!.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(m[1]), headers, body: m[3]! });
    });
    // write, not end: a half-closed connection is closed by the server before it answers.
    socket.write(request);
  });
}

const QUERIES = [
  'SELECT 1',
  'SELECT number, toString(number) AS s FROM numbers(5) FORMAT JSONEachRow',
  'SELECT * FROM pl_fuzz.t WHERE k > {min:UInt32} ORDER BY k',
  'SELECT count() FROM pl_fuzz.t FORMAT Native',
  "INSERT INTO pl_fuzz.t FORMAT JSONEachRow {\"k\":1,\"v\":\"x\"}",
  'SHOW TABLES FROM pl_fuzz',
];

const PARAMS: [string, fc.Arbitrary<string>][] = [
  ['param_min', fc.oneof(fc.constant('2'), fc.string({ maxLength: 8 }))],
  ['default_format', fc.constantFrom('JSON', 'TabSeparated', 'Native', 'RowBinary', 'NoSuchFormat', '')],
  ['database', fc.constantFrom('pl_fuzz', 'default', 'missing', '')],
  ['client_protocol_version', fc.constantFrom('54460', '0', '-1', '1e9', 'x', '54405')],
  ['enable_http_compression', fc.constantFrom('1', '0', 'true', 'x')],
  ['max_threads', fc.constantFrom('1', '-3', 'many')],
  ['session_id', fc.constantFrom('', 's1')],
  ['compress', fc.constantFrom('0', '1')],
  ['query_id', fc.string({ maxLength: 10 })],
  ['readonly', fc.constantFrom('0', '1', '2')],
  ['no_such_setting', fc.constant('1')],
];

const paramsArb = fc.subarray(PARAMS, { maxLength: 3 }).chain((picked) =>
  picked.length === 0 ? fc.constant<[string, string][]>([]) : fc.tuple(...picked.map(([name, value]) => value.map((v) => [name, v] as [string, string]))),
);

const queryArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...QUERIES) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...QUERIES), fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([q, ms]) => Buffer.from(ms.reduce((b, m) => mutate(b, m), Buffer.from(q) as Uint8Array)).toString('latin1')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

const targetArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(queryArb, paramsArb).map(([q, ps]) => `/?${new URLSearchParams([['query', q], ...ps]).toString()}`) },
  { weight: 1, arbitrary: fc.constantFrom('/', '/ping', '/replicas_status', '/nope', '//x:99999', '//[', '/?query', '/?query=%zz', '/?%', '*', '//a b/?query=1') },
  { weight: 1, arbitrary: fc.webPath().map((p) => `/${p}`) },
);

const credentialsArb: fc.Arbitrary<[string, string][]> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<[string, string][]>([]) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<[string, string][]>(
      [['Authorization', `Basic ${Buffer.from('default:').toString('base64')}`]],
      [['Authorization', `Basic ${Buffer.from('default:wrong').toString('base64')}`]],
      [['Authorization', 'Basic !!!not-base64']],
      [['X-ClickHouse-User', 'nobody'], ['X-ClickHouse-Key', 'k']],
    ),
  },
);

const bodyArb: fc.Arbitrary<{ headers: [string, string][]; body: Buffer }> = fc.oneof(
  fc.constant({ headers: [] as [string, string][], body: Buffer.alloc(0) }),
  fc.constant({ headers: [] as [string, string][], body: Buffer.alloc(0) }),
  queryArb.map((q) => ({ headers: [] as [string, string][], body: Buffer.from(q, 'latin1') })),
  queryArb.map((q) => ({ headers: [['Content-Encoding', 'gzip']] as [string, string][], body: gzipSync(q) })),
  fc.uint8Array({ maxLength: 64 }).map((b) => ({ headers: [['Content-Encoding', 'gzip']] as [string, string][], body: Buffer.from(b) })),
  fc.constantFrom('br', 'deflate', 'zstd', 'x-gzip, gzip').chain((enc) => fc.uint8Array({ maxLength: 32 }).map((b) => ({ headers: [['Content-Encoding', enc]] as [string, string][], body: Buffer.from(b) }))),
  fc.tuple(fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 80 })).map(([boundary, b]) => ({ headers: [['Content-Type', `multipart/form-data; boundary=${boundary}`]] as [string, string][], body: Buffer.from(b) })),
  queryArb.map((q) => ({
    headers: [['Content-Type', 'multipart/form-data; boundary=XyZ']] as [string, string][],
    body: Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="query"\r\n\r\n${q}\r\n--XyZ--\r\n`, 'latin1'),
  })),
);

const fuzzRequestArb = fc.record({ method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'HEAD', 'PUT', 'OPTIONS'), target: targetArb, credentials: credentialsArb, body: bodyArb, extra: fc.constantFrom<[string, string][]>([], [['X-ClickHouse-Format', 'JSONCompact']], [['X-ClickHouse-Database', 'missing']], [['Accept-Encoding', 'br, gzip']]) });

/** Requests a client would send, with a parameter or setting of the fuzzed sort: the share that reaches the engine. */
const plainRequestArb = fc.record({
  method: fc.constantFrom('GET', 'POST'),
  target: fc.tuple(fc.constantFrom(...QUERIES.filter((q) => !q.startsWith('INSERT'))), fc.subarray(PARAMS.slice(1, 6), { maxLength: 1 })).chain(([q, ps]) =>
    (ps.length === 0 ? fc.constant<[string, string][]>([]) : fc.tuple(...ps.map(([n, v]) => v.map((x) => [n, x] as [string, string])))).map((extra) => `/?${new URLSearchParams([['query', q], ['param_min', '2'], ...extra]).toString()}`),
  ),
  credentials: fc.constant<[string, string][]>([]),
  body: fc.constant({ headers: [] as [string, string][], body: Buffer.alloc(0) }),
  extra: fc.constant<[string, string][]>([]),
});

const requestArb = fc.oneof({ weight: 1, arbitrary: plainRequestArb }, { weight: 3, arbitrary: fuzzRequestArb });

function requestBytes(r: { method: string; target: string; credentials: [string, string][]; body: { headers: [string, string][]; body: Buffer }; extra: [string, string][] }): Buffer {
  const body = r.method === 'POST' || r.method === 'PUT' ? r.body.body : Buffer.alloc(0);
  const headers: [string, string][] = [['Host', '127.0.0.1'], ['Connection', 'close'], ...r.credentials, ...r.extra, ...(body.length > 0 || r.method === 'POST' ? [...r.body.headers, ['Content-Length', String(body.length)] as [string, string]] : [])];
  // The target is sent as generated (latin1 bytes), so a mutated query may put odd bytes on the request line.
  const head = `${r.method} ${r.target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, ' ')}`).join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** What a ClickHouse client can act on, or Node's own refusal of what is not HTTP. */
function checkAnswer(a: RawAnswer, request: Buffer): void {
  const what = JSON.stringify(request.subarray(0, 160).toString('latin1'));
  assert.ok(!/\n\s+at [\w.<>]+ \(/.test(a.body), `a stack trace in the answer to ${what}: ${a.body.slice(0, 300)}`);
  if (a.status === 200) return;
  const head = request.subarray(0, 5).equals(Buffer.from('HEAD '));
  if (a.status === 404 && (head || /^There is no handle /.test(a.body))) return;
  if (a.headers['x-clickhouse-exception-code'] !== undefined) {
    // A HEAD answer has no body, by HTTP.
    if (!head) assert.match(a.body, /^Code: \d+\. DB::Exception: /, `error body of ${what}`);
    return;
  }
  // Node's HTTP parser refuses a request line or header it cannot parse: 400 (or 505, 431), no ClickHouse error.
  assert.ok([400, 431, 505].includes(a.status) && a.headers['x-clickhouse-server-display-name'] === undefined, `status ${a.status} without a ClickHouse error for ${what}: ${a.body.slice(0, 200)}`);
}

describe('the HTTP endpoint on the embedded engine, fuzzed', () => {
  let dir: string;
  let engine: EmbeddedClickHouseEngine;
  let endpoint: ClickHouseHttpEndpoint;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-http-fuzz-'));
    engine = await openEmbeddedEngine({ dataDir: dir });
    await engine.execute({ sql: 'CREATE DATABASE IF NOT EXISTS pl_fuzz' });
    await engine.execute({ sql: 'CREATE TABLE pl_fuzz.t (k UInt32, v String) ENGINE = MergeTree ORDER BY k' });
    await engine.execute({ sql: "INSERT INTO pl_fuzz.t VALUES (1, 'a'), (2, 'b'), (3, 'c')" });
    endpoint = await startClickHouseHttpEndpoint({ engine, host: '127.0.0.1', port: 0, readonly: true });
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await endpoint?.close();
    await engine?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a request target Node accepts but URL() does not (//host:99999) gets an error answer and the endpoint lives on', TIMEOUT, async () => {
    for (const target of ['//x:99999', '//[', '//a b/?query=1']) {
      const request = Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1');
      const a = await send(endpoint.port, request);
      assert.notEqual(a, 'no answer', `no answer to ${target}`);
      checkAnswer(a as RawAnswer, request);
    }
    const ping = await send(endpoint.port, Buffer.from('GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    assert.equal(ping !== 'no answer' && ping.body, 'Ok.\n');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  });

  it('random requests: a whole answer a client can act on, every time; the endpoint still answers /ping after each', TIMEOUT, async () => {
    let answered = 0;
    let results = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const request = requestBytes(r);
        const a = await send(endpoint.port, request);
        assert.notEqual(a, 'no answer', `the connection closed without an answer to ${JSON.stringify(request.subarray(0, 160).toString('latin1'))}`);
        checkAnswer(a as RawAnswer, request);
        answered++;
        statuses.set((a as RawAnswer).status, (statuses.get((a as RawAnswer).status) ?? 0) + 1);
        if ((a as RawAnswer).headers['x-clickhouse-query-id'] !== undefined && (a as RawAnswer).status === 200) results++;
        const ping = await send(endpoint.port, Buffer.from('GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        assert.ok(ping !== 'no answer' && ping.body === 'Ok.\n', 'the endpoint stopped answering /ping');
        assert.deepEqual(unhandled, [], 'an unhandled rejection');
      }),
      fuzzParams(RUNS),
    );
    // Some requests must get through to the engine, or the property tested only refusals.
    assert.ok(results >= 10, `only ${results} of ${answered} requests ran a query (statuses ${JSON.stringify([...statuses])})`);
  });

  it('the pure pieces on random input: parameters, credentials and inline inserts never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })), { maxLength: 8 }), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 200 }), (entries, auth, body) => {
        parseRequestParams(entries, { 'x-clickhouse-database': auth });
        requestCredentials({ authorization: `Basic ${auth}` }, new URLSearchParams(entries));
        splitInlineInsert(Buffer.from(body));
        splitInlineInsert(Buffer.concat([Buffer.from('INSERT INTO t FORMAT '), Buffer.from(body)]));
      }),
      fuzzParams(1000),
    );
  });
});
