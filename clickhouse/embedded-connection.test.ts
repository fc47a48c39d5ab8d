import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { paramsText, settingText, splitClientSettings } from './embedded-connection.js';

describe('client settings and parameters as the HTTP interface carries them', () => {
  test('client settings: default_format is the output format, HTTP-only ones are dropped', () => {
    assert.deepEqual(splitClientSettings({ default_format: 'JSON', wait_end_of_query: 1, async_insert: 1, max_threads: 4 }), {
      settings: { async_insert: '1', max_threads: '4' },
      defaultFormat: 'JSON',
    });
    assert.equal(settingText(true), '1');
    assert.equal(settingText(false), '0');
    assert.deepEqual(paramsText({ s: "a'b\t", n: 5, arr: ['x'], d: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) }), {
      s: "a\\'b\\t",
      n: '5',
      arr: "['x']",
      d: '1704164645',
    });
  });
});
