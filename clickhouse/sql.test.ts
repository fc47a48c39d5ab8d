import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClickHouseQueryError } from './errors.js';
import {
  buildPreamble,
  explicitFormat,
  insertFromInfile,
  insertWithFormat,
  isPlainIdentifier,
  outsideReach,
  quoteIdentifier,
  sqlStringLiteral,
  statementKeyword,
  topLevelKeywords,
} from './sql.js';

describe('SQL helpers', () => {
  test('string literals and identifiers survive quotes and backslashes', () => {
    assert.equal(sqlStringLiteral(`it's a \\ test`), `'it\\'s a \\\\ test'`);
    assert.equal(quoteIdentifier('we`ird\\'), '`we\\`ird\\\\`');
  });

  test('keywords are found only at top level, outside strings, comments and parentheses', () => {
    const sql = `SELECT 'FORMAT x', "FORMAT" FROM (SELECT 1 FORMAT JSON) -- FORMAT CSV\n/* FORMAT TSV */ WHERE 1 FORMAT JSONEachRow`;
    const hits = topLevelKeywords(sql, ['FORMAT']);
    assert.equal(hits.length, 1);
    assert.equal(explicitFormat(sql), 'JSONEachRow');
    assert.equal(explicitFormat('SELECT 1'), undefined);
    assert.equal(explicitFormat('SELECT 1 \nFORMAT JSON'), 'JSON');
    assert.equal(statementKeyword('  -- c\n /* x */ insert into t'), 'INSERT');
  });

  test('an INSERT ... FORMAT reads its data from a file, before SETTINGS and FORMAT', () => {
    assert.equal(insertFromInfile('INSERT INTO t FORMAT JSONEachRow', '/x/y'), "INSERT INTO t FROM INFILE '/x/y' FORMAT JSONEachRow");
    assert.equal(
      insertFromInfile("INSERT INTO db.t (a, format) SETTINGS async_insert=0 FORMAT RowBinary", '/p'),
      "INSERT INTO db.t (a, format) FROM INFILE '/p' SETTINGS async_insert=0 FORMAT RowBinary",
    );
    assert.equal(insertFromInfile('INSERT INTO t FORMAT Values', '/p'), "INSERT INTO t FROM INFILE '/p' FORMAT Values");
    assert.throws(() => insertFromInfile('SELECT 1', '/p'), /not an INSERT/);
    assert.throws(() => insertFromInfile('INSERT INTO t VALUES', '/p'), /its own VALUES/);
    assert.throws(() => insertFromInfile('INSERT INTO t SELECT 1', '/p'), /its own SELECT/);
    assert.throws(() => insertFromInfile('INSERT INTO t', '/p'), /no FORMAT/);
    const shape = insertWithFormat('INSERT INTO t FORMAT CSV\n1,2\n');
    assert.ok(typeof shape !== 'string');
    assert.equal(shape.format, 'CSV');
    assert.equal(shape.formatEnd, 'INSERT INTO t FORMAT CSV'.length);
  });

  test('a call context becomes USE / SET statements with text values', () => {
    assert.deepEqual(
      buildPreamble({
        database: 'pl',
        settings: { max_threads: '2', wait_end_of_query: '1', insert_deduplication_token: "t'1" },
        params: { x: 'a\\tb' },
        readonly: 2,
      }),
      ['USE `pl`', 'SET max_threads = \'2\'', "SET insert_deduplication_token = 't\\'1'", "SET param_x = 'a\\\\tb'", 'SET readonly = 2'],
    );
    assert.deepEqual(buildPreamble({ database: 'default' }), []);
    assert.throws(() => buildPreamble({ settings: { 'x; DROP TABLE t': '1' } }), (e: unknown) => e instanceof ClickHouseQueryError && e.clickhouseName === 'UNKNOWN_SETTING');
    // A request cannot lower the readonly level the endpoint imposes.
    assert.deepEqual(buildPreamble({ settings: { readonly: '0' }, readonly: 2 }), ['SET readonly = 2']);
  });

  test('plain identifiers: letters, digits and _, not starting with a digit', () => {
    assert.equal(isPlainIdentifier('pageloop_2'), true);
    assert.equal(isPlainIdentifier('_x'), true);
    assert.equal(isPlainIdentifier('2x'), false);
    assert.equal(isPlainIdentifier('a-b'), false);
    assert.equal(isPlainIdentifier(''), false);
  });
});

test('outsideReach finds calls that leave the database, however they are written', () => {
  for (const [sql, found] of [
    ["SELECT * FROM file('/etc/shadow', 'LineAsString')", 'file'],
    ["select file('/etc/passwd')", 'file'],
    ["INSERT INTO FUNCTION file('/tmp/x.csv','CSV','x UInt8') VALUES (1)", 'file'],
    ["SELECT * FROM `file` ('/etc/shadow')", 'file'],
    ['SELECT * FROM "url"/* gap */(\'http://x\', CSV)', 'url'],
    ["SELECT * FROM s3Cluster('c', 'https://b/k')", 's3Cluster'],
    ["SELECT * FROM remoteSecure('h:9440', db.t)", 'remoteSecure'],
    ["SELECT * FROM executable('x.sh', CSV, 'a UInt8')", 'executable'],
    ['SELECT 1 INTO OUTFILE \'/tmp/o\'', 'INTO OUTFILE'],
    ["SELECT count() FROM (SELECT * FROM mysql('h', 'd', 't', 'u', 'p'))", 'mysql'],
  ] as const) {
    assert.equal(outsideReach(sql), found, sql);
  }
});

test('outsideReach lets what Grafana sends through: names only in strings, columns, and ordinary functions', () => {
  for (const sql of [
    "SELECT host, count() FROM pageloop.events WHERE type = 'file(x)' GROUP BY host",
    'SELECT file_bytes, url_path FROM t',
    "SELECT name FROM system.tables WHERE database = 'pageloop' -- file('x')",
    'SELECT toStartOfInterval(time, INTERVAL 1 minute) AS t, sum(weight) FROM pageloop.events GROUP BY t ORDER BY t',
    'SELECT 1 /* url(x) */',
    "SHOW TABLES FROM pageloop",
    'SELECT cos(x), URLHash(u), fileSize FROM t',
  ]) {
    assert.equal(outsideReach(sql), undefined, sql);
  }
});
