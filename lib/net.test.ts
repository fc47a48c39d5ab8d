import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basicAuthCredentials, isLoopback, sameSecret } from './net.js';

test('isLoopback: only addresses this machine alone can reach', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '::ffff:127.0.0.1x']) assert.equal(isLoopback(h), false, h);
});

test('basicAuthCredentials splits at the first colon and ignores other schemes', () => {
  const b64 = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  assert.deepEqual(basicAuthCredentials(b64('prom:a:b')), { user: 'prom', password: 'a:b' });
  assert.deepEqual(basicAuthCredentials(b64('prom')), { user: 'prom', password: '' });
  assert.equal(basicAuthCredentials('Bearer x'), undefined);
  assert.equal(basicAuthCredentials(undefined), undefined);
});

test('sameSecret', () => {
  assert.equal(sameSecret('s3cret', 's3cret'), true);
  assert.equal(sameSecret('s3cret', 's3cre'), false);
  assert.equal(sameSecret('', ''), true);
});
