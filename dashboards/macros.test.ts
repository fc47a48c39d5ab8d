import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BACKEND_MACRO_NAMES,
  applyConditionalAll,
  conditionalAllArgs,
  expandMacros,
  formatGoInterval,
  formatVariableValue,
  interpolateBackendMacros,
  interpolateVariables,
  parseMacroArgs,
  secondsToHms,
  type TemplateVariable,
} from './macros.js';

// 2024-01-02T03:04:05.678Z .. 2024-01-03T00:00:00.999Z
const FROM = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
const TO = Date.UTC(2024, 0, 3, 0, 0, 0, 999);
const F = Math.floor(FROM / 1000); // 1704164645
const T = Math.floor(TO / 1000); // 1704240000
const ctx = { from: FROM, to: TO, intervalMs: 60_000 };

describe('backend macros (sqlutil.Interpolate + plugin pkg/macros)', () => {
  const x = (sql: string, intervalMs = 60_000): string => interpolateBackendMacros(sql, { ...ctx, intervalMs });

  it('checks the fixture epochs', () => {
    assert.equal(F, 1704164645);
    assert.equal(T, 1704240000);
  });

  it('$__timeFilter(col): DateTime seconds on both ends', () => {
    assert.equal(x('WHERE $__timeFilter(ts)'), `WHERE ts >= toDateTime(${F}) AND ts <= toDateTime(${T})`);
  });

  it('$__timeFilter_ms(col): DateTime64 milliseconds', () => {
    assert.equal(
      x('WHERE $__timeFilter_ms(ts)'),
      `WHERE ts >= fromUnixTimestamp64Milli(${FROM}) AND ts <= fromUnixTimestamp64Milli(${TO})`,
    );
  });

  it('$__fromTime / $__toTime and the _ms forms, with or without ()', () => {
    assert.equal(x('$__fromTime $__toTime'), `toDateTime(${F}) toDateTime(${T})`);
    assert.equal(x('$__fromTime() AND $__toTime()'), `toDateTime(${F}) AND toDateTime(${T})`);
    assert.equal(x('$__fromTime_ms, $__toTime_ms'), `fromUnixTimestamp64Milli(${FROM}), fromUnixTimestamp64Milli(${TO})`);
  });

  it('a name without parentheses does not swallow a later bracket (parseArgs era)', () => {
    assert.equal(x('ts >= $__fromTime AND f(x) > 1'), `ts >= toDateTime(${F}) AND f(x) > 1`);
    assert.equal(x('$__fromTime (1)'), `toDateTime(${F}) (1)`);
  });

  it('$__timeInterval(col): whole seconds, at least 1', () => {
    assert.equal(x('$__timeInterval(ts)'), 'toStartOfInterval(toDateTime(ts), INTERVAL 60 second)');
    assert.equal(x('$__timeInterval(ts)', 1500), 'toStartOfInterval(toDateTime(ts), INTERVAL 1 second)');
    assert.equal(x('$__timeInterval(ts)', 2999), 'toStartOfInterval(toDateTime(ts), INTERVAL 2 second)');
    assert.equal(x('$__timeInterval(ts)', 200), 'toStartOfInterval(toDateTime(ts), INTERVAL 1 second)');
  });

  it('$__timeInterval_ms(col): milliseconds, at least 1', () => {
    assert.equal(x('$__timeInterval_ms(ts)', 250), 'toStartOfInterval(toDateTime64(ts, 3), INTERVAL 250 millisecond)');
    assert.equal(x('$__timeInterval_ms(ts)', 0), 'toStartOfInterval(toDateTime64(ts, 3), INTERVAL 1 millisecond)');
  });

  it('$__interval_s', () => {
    assert.equal(x('SELECT $__interval_s', 15_000), 'SELECT 15');
    assert.equal(x('SELECT $__interval_s', 10), 'SELECT 1');
    assert.equal(x('SELECT $__interval_s()', 120_000), 'SELECT 120');
  });

  it('$__dateFilter, $__dateTimeFilter and its alias $__dt (UTC dates)', () => {
    assert.equal(x('$__dateFilter(d)'), "d >= toDate('2024-01-02') AND d <= toDate('2024-01-03')");
    const both = `(d >= toDate('2024-01-02') AND d <= toDate('2024-01-03')) AND (t >= toDateTime(${F}) AND t <= toDateTime(${T}))`;
    assert.equal(x('$__dateTimeFilter(d, t)'), both);
    assert.equal(x('$__dt(d,t)'), both);
  });

  it('SDK defaults: $__timeFrom, $__timeTo (RFC 3339), $__interval, $__interval_ms, $__table, $__column, $__timeGroup', () => {
    assert.equal(x('$__timeFrom(ts)'), "ts >= '2024-01-02T03:04:05Z'");
    assert.equal(x('$__timeTo(ts)'), "ts <= '2024-01-03T00:00:00Z'");
    assert.equal(x('$__interval $__interval_ms', 90_000), '1m 90000');
    assert.equal(x('[$__table][$__column]'), '[][]');
    assert.equal(x('$__timeGroup(ts, day)'), 'datepart(day, ts),datepart(month, ts),datepart(year, ts)');
    assert.equal(x('$__timeGroup(ts, week)'), '');
  });

  it('arguments split on commas at depth 1 only, trimmed, nested calls intact', () => {
    assert.equal(
      x('$__timeFilter( toDateTime(a, b) )'),
      `toDateTime(a, b) >= toDateTime(${F}) AND toDateTime(a, b) <= toDateTime(${T})`,
    );
  });

  it('is not quote-aware: a comma inside a string literal still splits', () => {
    assert.throws(() => x("$__timeFilter('a,b')"), /expected 1 argument, received 2/);
    // Nested brackets do protect a comma.
    assert.equal(x("$__timeFilter(f('a,b'))"), `f('a,b') >= toDateTime(${F}) AND f('a,b') <= toDateTime(${T})`);
  });

  it('refuses wrong argument counts and unclosed brackets as the plugin does', () => {
    assert.throws(() => x('WHERE $__timeFilter'), /timeFilter: unexpected number of arguments: expected 1 argument, received 0/);
    assert.throws(() => x('$__dateTimeFilter(d)'), /expected 2 arguments, received 1/);
    assert.throws(() => x('$__timeFilter(ts'), /missing close bracket/);
  });

  it('an empty argument list is one empty argument', () => {
    assert.equal(x('$__timeFilter()'), ` >= toDateTime(${F}) AND  <= toDateTime(${T})`);
  });

  it('expands inside string literals and comments too (no lexer)', () => {
    assert.equal(x("SELECT '$__interval_s' -- $__interval_s", 5000), "SELECT '5' -- 5");
  });

  it('replaces every occurrence of the same text; a longer name is never cut short', () => {
    assert.equal(x('$__timeInterval(ts) AS t GROUP BY $__timeInterval(ts)', 5000), 'toStartOfInterval(toDateTime(ts), INTERVAL 5 second) AS t GROUP BY toStartOfInterval(toDateTime(ts), INTERVAL 5 second)');
    assert.equal(x('$__timeFilterX(ts)'), '$__timeFilterX(ts)');
    assert.equal(x('$__interval_sx'), '$__interval_sx');
  });

  it('orders names longest first', () => {
    assert.equal(BACKEND_MACRO_NAMES[0], 'timeInterval_ms');
    const lengths = BACKEND_MACRO_NAMES.map((n) => n.length);
    assert.deepEqual(lengths, [...lengths].sort((a, b) => b - a));
  });

  it('parseMacroArgs mirrors sqlutil.parseArgs', () => {
    assert.deepEqual(parseMacroArgs('foo bar'), { args: null, length: 0 });
    assert.deepEqual(parseMacroArgs(' (bar)'), { args: null, length: 0 });
    assert.deepEqual(parseMacroArgs('(bar)'), { args: ['bar'], length: 5 });
    assert.deepEqual(parseMacroArgs('(bar, baz, quux)'), { args: ['bar', 'baz', 'quux'], length: 16 });
    assert.deepEqual(parseMacroArgs('(bar(some,thing))'), { args: ['bar(some,thing)'], length: 17 });
    assert.deepEqual(parseMacroArgs('(arg1, arg2), not_an_arg, nope'), { args: ['arg1', 'arg2'], length: 12 });
    assert.deepEqual(parseMacroArgs('(arg1, arg2'), { args: null, length: -1 });
  });

  it('gtime.FormatInterval', () => {
    assert.equal(formatGoInterval(500), '500ms');
    assert.equal(formatGoInterval(0), '1ms');
    assert.equal(formatGoInterval(61_000), '1m');
    assert.equal(formatGoInterval(7_200_000), '2h');
    assert.equal(formatGoInterval(86_400_000 * 400), '1y');
  });
});

describe('$__conditionalAll (plugin frontend)', () => {
  const vars: TemplateVariable[] = [
    { name: 'host', value: '$__all', options: ['a', 'b'] },
    { name: 'proc', value: ['p1', 'p2'] },
    { name: 'empty', value: '' },
    { name: 'multiAll', value: ['$__all'] },
  ];

  it('becomes 1=1 when the variable is All or empty, the condition otherwise', () => {
    assert.equal(applyConditionalAll('WHERE $__conditionalAll(host IN (${host:singlequote}), $host)', vars), 'WHERE 1=1');
    assert.equal(applyConditionalAll('WHERE $__conditionalAll(x = 1, ${empty})', vars), 'WHERE 1=1');
    assert.equal(applyConditionalAll('WHERE $__conditionalAll(x = 1, $multiAll)', vars), 'WHERE 1=1');
    assert.equal(applyConditionalAll('WHERE $__conditionalAll(p IN ($proc), $proc)', vars), 'WHERE p IN ($proc)');
  });

  it('keeps the condition for an unknown variable or a formatted reference', () => {
    assert.equal(applyConditionalAll('$__conditionalAll(x = 1, $nope)', vars), 'x = 1');
    assert.equal(applyConditionalAll('$__conditionalAll(x = 1, ${host:csv})', vars), 'x = 1');
  });

  it('handles several calls, last first', () => {
    assert.equal(applyConditionalAll('$__conditionalAll(a, $host) AND $__conditionalAll(b, $proc)', vars), '1=1 AND b');
  });

  it('stops at a call without exactly two arguments', () => {
    assert.equal(applyConditionalAll('$__conditionalAll(a, $host) AND $__conditionalAll(b)', vars), '$__conditionalAll(a, $host) AND $__conditionalAll(b)');
  });

  it('getMacroArgs: depth-1 commas, [] when unbalanced', () => {
    assert.deepEqual(conditionalAllArgs('f(a, g(b, c))', 1), ['a', ' g(b, c)']);
    assert.deepEqual(conditionalAllArgs('f(a, b', 1), []);
  });
});

describe('template variables (Grafana + the plugin format function)', () => {
  const vars: TemplateVariable[] = [
    { name: 'host', value: 'web-1', text: 'web 1' },
    { name: 'hosts', value: ['a', "o'b"] },
    { name: 'all', value: '$__all', options: ['x', 'y'] },
    { name: 'customAll', value: ['$__all'], allValue: '.*' },
    { name: 'nested', value: '$__all', allValue: '${host}' },
  ];
  const scope = { variables: vars, from: FROM, to: TO, intervalMs: 30_000 };
  const v = (sql: string): string => interpolateVariables(sql, scope);

  it('$var, ${var}, [[var]] insert a single value as it is', () => {
    assert.equal(v("h = '$host' OR h = '${host}' OR h = '[[host]]'"), "h = 'web-1' OR h = 'web-1' OR h = 'web-1'");
  });

  it('multi-values default to the plugin format: quoted, joined, not escaped', () => {
    assert.equal(v('IN ($hosts)'), "IN ('a','o'b')");
  });

  it('explicit formats: singlequote, doublequote, sqlstring, csv, pipe, text, raw, regex, json, glob, join', () => {
    assert.equal(v('${hosts:singlequote}'), "'a','o\\'b'");
    assert.equal(v('${hosts:sqlstring}'), "'a','o''b'");
    assert.equal(v('${hosts:doublequote}'), '"a","o\'b"');
    assert.equal(v('${hosts:csv}|${hosts:pipe}'), "a,o'b|a|o'b");
    assert.equal(v('${host:text} ${host:raw} ${hosts:regex}'), "web 1 web-1 (a|o'b)");
    assert.equal(v('${hosts:json} ${hosts:glob} ${hosts:join:;}'), `["a","o'b"] {a,o'b} a;o'b`);
    assert.equal(v('${host:singlequote} ${host:sqlstring}'), "'web-1' 'web-1'");
  });

  it('All: the option values, or the custom all value verbatim (then interpolated)', () => {
    assert.equal(v('IN (${all:singlequote})'), "IN ('x','y')");
    assert.equal(v('IN ($all)'), "IN ('x','y')");
    assert.equal(v("match(h, '${customAll:regex}')"), "match(h, '.*')");
    assert.equal(v('${customAll:text}'), 'All');
    assert.equal(v('${nested}'), 'web-1');
  });

  it('built-ins: $__interval, $__interval_ms, $__from, $__to with date formats', () => {
    assert.equal(v('$__interval $__interval_ms'), '30s 30000');
    assert.equal(v('$__from $__to'), `${FROM} ${TO}`);
    assert.equal(v('${__from:date:seconds} ${__to:date:ms}'), `${Math.round(FROM / 1000)} ${TO}`);
    assert.equal(v('${__from:date}'), '2024-01-02T03:04:05.678Z');
  });

  it('leaves unknown names (plugin macros included) for the backend', () => {
    assert.equal(v('$__timeFilter(ts) AND $__interval_s AND $nope AND ${nope:csv}'), '$__timeFilter(ts) AND $__interval_s AND $nope AND ${nope:csv}');
  });

  it('an unknown format falls back to glob', () => {
    assert.equal(formatVariableValue(['a', 'b'], 'bogus', 'a + b', 'x'), '{a,b}');
  });

  it('secondsToHms', () => {
    assert.equal(secondsToHms(60), '1m');
    assert.equal(secondsToHms(1.5), '1s');
    assert.equal(secondsToHms(0.2), '200ms');
    assert.equal(secondsToHms(7200), '2h');
  });
});

describe('expandMacros: the whole pipeline', () => {
  it('expands a typical time-series panel query', () => {
    const sql = [
      'SELECT $__timeInterval(ts) AS time, host, count() / $__interval_s AS eps',
      'FROM pageloop.events',
      'WHERE $__timeFilter(ts) AND $__conditionalAll(host IN (${host:singlequote}), $host)',
      'GROUP BY time, host ORDER BY time',
    ].join('\n');
    const out = expandMacros(sql, { ...ctx, intervalMs: 10_000, variables: [{ name: 'host', value: ['h1', 'h2'] }] });
    assert.equal(
      out,
      [
        'SELECT toStartOfInterval(toDateTime(ts), INTERVAL 10 second) AS time, host, count() / 10 AS eps',
        'FROM pageloop.events',
        `WHERE ts >= toDateTime(${F}) AND ts <= toDateTime(${T}) AND host IN ('h1','h2')`,
        'GROUP BY time, host ORDER BY time',
      ].join('\n'),
    );
  });

  it('a variable may carry a macro: variables first, macros after', () => {
    const out = expandMacros('WHERE $__timeFilter($col)', { ...ctx, variables: [{ name: 'col', value: 'ts' }] });
    assert.equal(out, `WHERE ts >= toDateTime(${F}) AND ts <= toDateTime(${T})`);
  });

  it('accepts Date bounds', () => {
    assert.equal(expandMacros('$__fromTime', { from: new Date(FROM), to: new Date(TO), intervalMs: 1000 }), `toDateTime(${F})`);
  });
});
