import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClickHouseError } from '@clickhouse/client';
import { ClickHouseQueryError, parseClickHouseMessage, toPageloopError } from './errors.js';

describe('ClickHouse errors', () => {
  test('error text: code and name of the innermost exception', () => {
    assert.deepEqual(parseClickHouseMessage('Code: 60. DB::Exception: Unknown table x. (UNKNOWN_TABLE)'), { code: 60, name: 'UNKNOWN_TABLE' });
    assert.deepEqual(parseClickHouseMessage('Code: 164. DB::Exception: Code: 164. DB::Exception: no (READONLY) (version 26.7). (READONLY)'), {
      code: 164,
      name: 'READONLY',
    });
    assert.deepEqual(parseClickHouseMessage('Code: 62. DB::Exception: Syntax error: failed at position 1 (SELEC): SELEC 1. (SYNTAX_ERROR) (version 26.7.2.1)'), {
      code: 62,
      name: 'SYNTAX_ERROR',
    });
    assert.deepEqual(parseClickHouseMessage('plain'), {});
  });

  test('errors say whether trying again helps', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
    const e1 = toPageloopError(refused, 'clickhouse ping');
    assert.equal(e1.retriable, true);
    assert.equal(e1.code, 'clickhouse-unreachable');
    const e2 = toPageloopError(new ClickHouseError({ message: 'Too many parts', code: '252', type: 'TOO_MANY_PARTS' }), 'insert');
    assert.ok(e2 instanceof ClickHouseQueryError);
    assert.equal(e2.retriable, true);
    const e3 = toPageloopError(new ClickHouseError({ message: 'Syntax error', code: '62', type: 'SYNTAX_ERROR' }), 'query');
    assert.equal(e3.retriable, false);
    assert.match(e3.message, /^query: ClickHouse error 62 \(SYNTAX_ERROR\)/);
  });

  test('a full disk passes once space is freed: both ways the engine reports it are retriable', () => {
    // Both seen from chDB on a full tmpfs in the chaos run's disk-full fault (the sink exited on them).
    const reserve = toPageloopError(new ClickHouseError({ message: 'Cannot reserve 1.00 MiB, not enough space', code: '243', type: 'NOT_ENOUGH_SPACE' }), 'insert 273 rows into events');
    assert.equal(reserve.retriable, true);
    const write = toPageloopError(new ClickHouseError({ message: 'ENOSPC: no space left on device, write', code: '1001', type: 'STD_EXCEPTION' }), 'insert 1 rows into sink_blocks');
    assert.equal(write.retriable, true);
    // Another std::exception is still final.
    const other = toPageloopError(new ClickHouseError({ message: 'basic_string::at: __n out of range', code: '1001', type: 'STD_EXCEPTION' }), 'insert');
    assert.equal(other.retriable, false);
  });
});
