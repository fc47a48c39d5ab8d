import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { openEmbeddedEngine, type EmbeddedClickHouseEngine } from '../../clickhouse/embedded.js';
import { createEmbeddedConnection } from '../../clickhouse/embedded-connection.js';
import { PageloopError, UsageError } from '../../lib/errors.js';
import { makeTestPki } from '../../test/tls-certs.js';
import {
  contentTypeFor,
  httpStatusForError,
  parseRequestParams,
  requestCredentials,
  responseCodec,
  splitInlineInsert,
  startClickHouseHttpEndpoint,
  type ClickHouseHttpEndpoint,
} from './http-endpoint.js';

describe('HTTP interface pieces', () => {
  test('error names map to the HTTP status ClickHouse uses', () => {
    assert.equal(httpStatusForError('SYNTAX_ERROR'), 400);
    assert.equal(httpStatusForError('UNKNOWN_TABLE'), 404);
    assert.equal(httpStatusForError('AUTHENTICATION_FAILED'), 403);
    assert.equal(httpStatusForError('REQUIRED_PASSWORD'), 401);
    assert.equal(httpStatusForError('NOT_IMPLEMENTED'), 501);
    assert.equal(httpStatusForError('READONLY'), 500);
    assert.equal(httpStatusForError(undefined), 500);
  });

  test('content types follow the format', () => {
    assert.equal(contentTypeFor('TabSeparated'), 'text/tab-separated-values; charset=UTF-8');
    assert.equal(contentTypeFor('CSVWithNames'), 'text/csv; charset=UTF-8; header=present');
    assert.equal(contentTypeFor('JSONEachRow'), 'application/x-ndjson; charset=UTF-8');
    assert.equal(contentTypeFor('JSON'), 'application/json; charset=UTF-8');
    assert.equal(contentTypeFor('Native'), 'application/octet-stream');
  });

  test('responses are compressed only when asked with enable_http_compression and Accept-Encoding', () => {
    assert.equal(responseCodec('1', 'gzip, deflate'), 'gzip');
    assert.equal(responseCodec('1', 'br'), 'br');
    assert.equal(responseCodec(undefined, 'gzip'), undefined);
    assert.equal(responseCodec('0', 'gzip'), undefined);
    assert.equal(responseCodec('1', 'zstd'), undefined);
  });

  test('credentials from Basic auth, X-ClickHouse headers or URL parameters', () => {
    const basic = `Basic ${Buffer.from('default:s3:cret').toString('base64')}`;
    assert.deepEqual(requestCredentials({ authorization: basic }, new URLSearchParams()), { user: 'default', password: 's3:cret' });
    assert.deepEqual(requestCredentials({ 'x-clickhouse-user': 'u', 'x-clickhouse-key': 'k' }, new URLSearchParams()), { user: 'u', password: 'k' });
    assert.deepEqual(requestCredentials({}, new URLSearchParams('user=a&password=b')), { user: 'a', password: 'b' });
    assert.deepEqual(requestCredentials({}, new URLSearchParams()), { user: 'default', password: '' });
  });

  test('URL parameters sort into query, context, parameters and settings', () => {
    const p = parseRequestParams(
      new URLSearchParams('query=SELECT+1&database=d&default_format=JSON&query_id=q&param_x=1&max_threads=2&user=u&wait_end_of_query=1').entries(),
      {},
    );
    assert.deepEqual(p, { query: 'SELECT 1', database: 'd', defaultFormat: 'JSON', queryId: 'q', settings: { max_threads: '2' }, params: { x: '1' } });
    assert.equal(parseRequestParams([['session_id', 's']], {}).unsupported, 'session_id');
    assert.equal(parseRequestParams([['compress', '1']], {}).unsupported, 'compress');
    assert.equal(parseRequestParams([['compress', '0']], {}).unsupported, undefined);
    assert.equal(parseRequestParams([], { 'x-clickhouse-database': 'hd', 'x-clickhouse-format': 'CSV' }).database, 'hd');
  });

  test('a body with INSERT ... FORMAT and data splits where ClickHouse splits it', () => {
    const s = splitInlineInsert(Buffer.from('INSERT INTO t FORMAT JSONEachRow  \n{"a":1}\n'));
    assert.deepEqual(s && { sql: s.sql, data: s.data.toString() }, { sql: 'INSERT INTO t FORMAT JSONEachRow', data: '{"a":1}\n' });
    const binary = Buffer.concat([Buffer.from('INSERT INTO t FORMAT RowBinary\n'), Buffer.from([0x0a, 0xff, 0x00, 0x27])]);
    assert.deepEqual([...splitInlineInsert(binary)!.data], [0x0a, 0xff, 0x00, 0x27]);
    assert.equal(splitInlineInsert(Buffer.from('INSERT INTO t FORMAT CSV 1,2'))?.sql, 'INSERT INTO t FORMAT CSV');
    assert.equal(splitInlineInsert(Buffer.from("INSERT INTO t VALUES (1, 'FORMAT x')")), undefined);
    assert.equal(splitInlineInsert(Buffer.from('SELECT 1 FORMAT JSON')), undefined);
  });
});

describe('the embedded engine over HTTP', () => {
  let dir: string;
  let engine: EmbeddedClickHouseEngine;
  let endpoint: ClickHouseHttpEndpoint;
  let client: ClickHouseClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-ch-http-'));
    engine = await openEmbeddedEngine({ dataDir: dir });
    endpoint = await startClickHouseHttpEndpoint({ engine, host: '127.0.0.1', port: 0, readonly: false });
    await engine.execute({ sql: 'CREATE DATABASE IF NOT EXISTS pl_http' });
    client = createClient({
      url: endpoint.url,
      database: 'pl_http',
      compression: { request: true, response: true },
      // Quiet: the error test fails on purpose.
      log: { level: ClickHouseLogLevel.OFF },
    });
  });

  after(async () => {
    await client.close();
    await endpoint.close();
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('@clickhouse/client: ping, command, insert, query with query_params, .json()', async () => {
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await client.ping(), { success: true });
    assert.deepEqual(await client.ping({ select: true }), { success: true });
    await client.command({ query: 'CREATE TABLE scores (region String, ts DateTime, benefit Float64) ENGINE = MergeTree ORDER BY (region, ts)' });
    const rows = [
      { region: 'heap#0+0x0', ts: '2024-05-01 10:00:00', benefit: 0.5 },
      { region: 'heap#0+0x200000', ts: '2024-05-01 10:00:01', benefit: 1.25 },
      { region: "anon'quote", ts: '2024-05-01 10:00:02', benefit: -2 },
    ];
    const ins = await client.insert({ table: 'scores', values: rows, format: 'JSONEachRow' });
    assert.equal(ins.summary?.written_rows, '3');
    const rs = await client.query({
      query: 'SELECT region, ts, benefit FROM scores WHERE benefit > {min:Float64} AND region != {excluded:String} ORDER BY ts',
      query_params: { min: 0, excluded: "anon'quote" },
      format: 'JSONEachRow',
    });
    assert.equal(rs.response_headers['content-encoding'], 'gzip', 'response compressed when the client asks');
    assert.equal(rs.response_headers['x-clickhouse-format'], 'JSONEachRow');
    assert.ok(rs.query_id.length > 0);
    assert.deepEqual(await rs.json(), rows.slice(0, 2));
    const whole = await client.query({ query: 'SELECT count() AS c, sum(benefit) AS s FROM scores', format: 'JSON' });
    assert.deepEqual((await whole.json<{ c: number; s: number }>()).data, [{ c: 3, s: -0.25 }]);
  });

  test('the same code gives the same rows over HTTP and in process', async () => {
    const inProcess = createClient({ connection: createEmbeddedConnection(engine, 'pl_http'), database: 'pl_http' });
    try {
      const run = async (c: ClickHouseClient): Promise<unknown> =>
        (await c.query({ query: 'SELECT * FROM scores WHERE region LIKE {p:String} ORDER BY ts', query_params: { p: 'heap%' }, format: 'JSONEachRow' })).json();
      assert.deepEqual(await run(inProcess), await run(client));
    } finally {
      await inProcess.close();
    }
  });

  test('a query error surfaces with its ClickHouse code and name', async () => {
    await assert.rejects(client.query({ query: 'SELECT * FROM no_such_table', format: 'JSONEachRow' }), (e: unknown) => {
      assert.ok(e instanceof ClickHouseError);
      assert.equal(e.code, '60');
      assert.equal(e.type, 'UNKNOWN_TABLE');
      assert.match(e.message, /no_such_table/);
      return true;
    });
    const res = await fetch(`${endpoint.url}/?query=${encodeURIComponent('SELEC 1')}`);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-clickhouse-exception-code'), '62');
    assert.match(await res.text(), /^Code: 62\. DB::Exception: Syntax error.*\(SYNTAX_ERROR\) \(version [\d.]+\)\n$/s);
  });

  test('raw HTTP: GET /?query=SELECT%201, /ping, /replicas_status, headers', async () => {
    const res = await fetch(`${endpoint.url}/?query=SELECT%201`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '1\n');
    assert.equal(res.headers.get('x-clickhouse-format'), 'TabSeparated');
    assert.ok(res.headers.get('x-clickhouse-query-id'));
    assert.ok(JSON.parse(res.headers.get('x-clickhouse-summary') ?? 'null'));
    assert.equal(await (await fetch(`${endpoint.url}/ping`)).text(), 'Ok.\n');
    assert.equal(await (await fetch(`${endpoint.url}/replicas_status`)).text(), 'Ok.\n');
    assert.equal(await (await fetch(`${endpoint.url}/`)).text(), 'Ok.\n');
    assert.equal((await fetch(`${endpoint.url}/nowhere`)).status, 404);
    const json = await fetch(`${endpoint.url}/?default_format=JSONEachRow&database=pl_http&query_id=my-id`, { method: 'POST', body: 'SELECT currentDatabase() AS db' });
    assert.equal(json.headers.get('x-clickhouse-query-id'), 'my-id');
    assert.equal(json.headers.get('content-type'), 'application/x-ndjson; charset=UTF-8');
    assert.equal(await json.text(), '{"db":"pl_http"}\n');
  });

  test('compression: gzip request bodies, gzip responses when enable_http_compression=1', async () => {
    const ins = await fetch(`${endpoint.url}/?database=pl_http&query=${encodeURIComponent('INSERT INTO scores FORMAT JSONEachRow')}`, {
      method: 'POST',
      headers: { 'Content-Encoding': 'gzip' },
      body: gzipSync('{"region":"gz","ts":"2024-05-01 11:00:00","benefit":9}\n'),
    });
    assert.equal(ins.status, 200, await ins.clone().text());
    // Node's fetch would decompress on its own; read the bytes through a plain request instead.
    const { request } = await import('node:http');
    const body = await new Promise<{ encoding: string | undefined; bytes: Buffer }>((resolveBody, reject) => {
      const req = request(`${endpoint.url}/?database=pl_http&enable_http_compression=1&query=${encodeURIComponent("SELECT benefit FROM scores WHERE region = 'gz'")}`, {
        headers: { 'Accept-Encoding': 'gzip' },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolveBody({ encoding: res.headers['content-encoding'], bytes: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(body.encoding, 'gzip');
    assert.equal(gunzipSync(body.bytes).toString(), '9\n');
  });

  test('inserts: inline in the body, VALUES after a URL query, binary formats', async () => {
    await client.command({ query: 'CREATE TABLE raw (k UInt32, s String) ENGINE = MergeTree ORDER BY k' });
    const inline = await fetch(`${endpoint.url}/?database=pl_http`, { method: 'POST', body: 'INSERT INTO raw FORMAT CSV\n1,one\n2,two\n' });
    assert.equal(inline.status, 200, await inline.clone().text());
    const values = await fetch(`${endpoint.url}/?database=pl_http&query=${encodeURIComponent('INSERT INTO raw VALUES')}`, { method: 'POST', body: "(3, 'three')" });
    assert.equal(values.status, 200, await values.clone().text());
    // RowBinary: UInt32 little endian, then a length-prefixed string.
    const rowBinary = Buffer.concat([Buffer.from([4, 0, 0, 0]), Buffer.from([4]), Buffer.from('f\nor')]);
    const bin = await fetch(`${endpoint.url}/?database=pl_http&query=${encodeURIComponent('INSERT INTO raw FORMAT RowBinary')}`, { method: 'POST', body: rowBinary });
    assert.equal(bin.status, 200, await bin.clone().text());
    const rs = await client.query({ query: 'SELECT k, s FROM raw ORDER BY k', format: 'JSONCompactEachRow' });
    assert.deepEqual(await rs.json(), [[1, 'one'], [2, 'two'], [3, 'three'], [4, 'f\nor']]);
  });

  test('GET is read-only, as on a server', async () => {
    const res = await fetch(`${endpoint.url}/?database=pl_http&query=${encodeURIComponent("INSERT INTO raw VALUES (9, 'x')")}`);
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('x-clickhouse-exception-code'), '164');
    assert.match(await res.text(), /READONLY/);
  });

  test('long query parameters sent as multipart/form-data', async () => {
    const multi = createClient({ url: endpoint.url, database: 'pl_http', use_multipart_params: true });
    try {
      const long = 'x'.repeat(10_000);
      const rs = await multi.query({ query: 'SELECT length({s:String}) AS n, {k:UInt8} AS k', query_params: { s: long, k: 7 }, format: 'JSONEachRow' });
      assert.deepEqual(await rs.json(), [{ n: 10_000, k: 7 }]);
    } finally {
      await multi.close();
    }
  });

  test('Native for a client that names its protocol revision (clickhouse-go, so Grafana over http)', async () => {
    const url = `${endpoint.url}/?default_format=Native&client_protocol_version=54460&query=${encodeURIComponent('SELECT toUInt8(7) AS x')}`;
    const res = await fetch(url);
    assert.equal(res.headers.get('x-clickhouse-format'), 'Native');
    const bytes = [...new Uint8Array(await res.arrayBuffer())];
    // BlockInfo, 1 column, 1 row, "x", "UInt8", no custom serialization, 7.
    assert.deepEqual(bytes, [1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 1, 1, 1, 0x78, 5, ...Buffer.from('UInt8'), 0, 7]);
    const plain = await fetch(`${endpoint.url}/?default_format=Native&query=${encodeURIComponent('SELECT toUInt8(7) AS x')}`);
    assert.deepEqual([...new Uint8Array(await plain.arrayBuffer())], [1, 1, 1, 0x78, 5, ...Buffer.from('UInt8'), 7]);
    const json = await fetch(`${endpoint.url}/?default_format=Native&client_protocol_version=54460&query=${encodeURIComponent("SELECT '{}'::JSON AS j")}`);
    assert.equal(json.status, 501);
    assert.match(await json.text(), /JSON cannot be sent as Native.*cast it.*NOT_IMPLEMENTED/s);
  });

  test('what is not supported says so', async () => {
    const res = await fetch(`${endpoint.url}/?session_id=abc&query=SELECT%201`);
    assert.equal(res.status, 501);
    assert.match(await res.text(), /session_id.*NOT_IMPLEMENTED/);
  });

  test('by default the endpoint is read-only: no INSERT, no DDL, queries fine', async () => {
    const plain = await startClickHouseHttpEndpoint({ engine, port: 0 });
    const c = createClient({ url: plain.url, log: { level: ClickHouseLogLevel.OFF } });
    try {
      assert.deepEqual(await (await c.query({ query: 'SELECT 2 AS two', format: 'JSONEachRow' })).json(), [{ two: 2 }]);
      for (const query of ['CREATE TABLE pl_http.nope (x UInt8) ENGINE = Memory', 'DROP DATABASE pl_http', 'INSERT INTO pl_http.scores VALUES (\'r\', now(), 1)']) {
        await assert.rejects(c.command({ query }), (e: unknown) => e instanceof ClickHouseError && e.type === 'READONLY', query);
      }
    } finally {
      await c.close();
      await plain.close();
    }
  });

  test("no query reaches the host's files or the network, read-only or not (the engine runs as root)", async () => {
    const probe = join(tmpdir(), `pageloop-endpoint-probe-${process.pid}.csv`);
    const c = createClient({ url: endpoint.url, log: { level: ClickHouseLogLevel.OFF } });
    try {
      for (const query of [
        "SELECT count() FROM file('/etc/shadow', 'LineAsString')",
        "SELECT file('/etc/hostname')",
        `INSERT INTO FUNCTION file('${probe}', 'CSV', 'x UInt8') VALUES (1)`,
        "SELECT * FROM url('http://127.0.0.1:9/x', CSV, 'x UInt8')",
      ]) {
        await assert.rejects(c.command({ query }), (e: unknown) => e instanceof ClickHouseError && e.type === 'ACCESS_DENIED' && e.code === '497', query);
      }
      assert.equal(existsSync(probe), false);
    } finally {
      await c.close();
      rmSync(probe, { force: true });
    }
  });

  test('Basic auth: the configured user and password, nothing else', async () => {
    const locked = await startClickHouseHttpEndpoint({ engine, port: 0, password: 'grafana-pw' });
    try {
      const good = createClient({ url: locked.url, username: 'default', password: 'grafana-pw' });
      const bad = createClient({ url: locked.url, username: 'default', password: 'nope', log: { level: ClickHouseLogLevel.OFF } });
      try {
        assert.deepEqual(await (await good.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' })).json(), [{ one: 1 }]);
        await assert.rejects(bad.query({ query: 'SELECT 1' }), (e: unknown) => e instanceof ClickHouseError && e.code === '516' && e.type === 'AUTHENTICATION_FAILED');
        // readonly: a Grafana user reads but does not write.
        await assert.rejects(good.command({ query: 'CREATE TABLE pl_http.nope (x UInt8) ENGINE = Memory' }), (e: unknown) => e instanceof ClickHouseError && e.type === 'READONLY');
      } finally {
        await good.close();
        await bad.close();
      }
      const noAuth = await fetch(`${locked.url}/?query=SELECT%201`);
      assert.equal(noAuth.status, 403);
      assert.equal(noAuth.headers.get('x-clickhouse-exception-code'), '516');
    } finally {
      await locked.close();
    }
  });

  test('HTTPS with a server certificate only: a client trusting its CA connects without a certificate of its own', async () => {
    const pki = makeTestPki();
    const secure = await startClickHouseHttpEndpoint({ engine, host: '127.0.0.1', port: 0, tls: { cert: pki.read(pki.serverCertPath), key: pki.read(pki.serverKeyPath) } });
    try {
      assert.match(secure.url, /^https:\/\/127\.0\.0\.1:/);
      const client = createClient({ url: secure.url, tls: { ca_cert: pki.read(pki.caPath) } });
      try {
        assert.deepEqual(await (await client.query({ query: 'SELECT 2 AS two', format: 'JSONEachRow' })).json(), [{ two: 2 }]);
      } finally {
        await client.close();
      }
      // Plain HTTP to the TLS port is not answered as a query.
      await assert.rejects(fetch(`${secure.url.replace('https:', 'http:')}/?query=SELECT%201`));
    } finally {
      await secure.close();
      pki.remove();
    }
  });

  test('refuses to serve beyond loopback without a password, and a port in use', async () => {
    await assert.rejects(startClickHouseHttpEndpoint({ engine, host: '0.0.0.0', port: 0 }), UsageError);
    await assert.rejects(startClickHouseHttpEndpoint({ engine, host: '127.0.0.1', port: endpoint.port }), (e: unknown) => {
      assert.ok(e instanceof PageloopError);
      assert.match(e.message, /already in use/);
      return true;
    });
  });
});
