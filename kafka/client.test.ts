import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { quietLogCreator } from './client.js';

test('quietLogCreator drops the error responses kafkajs retries as a matter of course, and writes the rest as JSON lines', () => {
  const lines: string[] = [];
  const realWrite = process.stderr.write;
  process.stderr.write = ((chunk: string) => lines.push(chunk) > 0) as typeof process.stderr.write;
  try {
    const log = quietLogCreator(kafkajs.logLevel.ERROR);
    const entry = (message: string, error: string) => ({
      namespace: 'Connection',
      level: kafkajs.logLevel.ERROR,
      label: 'ERROR',
      log: { timestamp: '2026-12-02T00:00:00.000Z', message, error },
    });
    log(entry('Response ListOffsets(key: 2, version: 3)', 'This server is not the leader for that topic-partition'));
    log(entry('Response AddOffsetsToTxn(key: 25, version: 1)', 'There is a newer producer with the same transactionalId which fences the current one'));
    log(entry('Response FindCoordinator(key: 10, version: 2)', 'The coordinator is loading and hence can\'t process requests'));
    log(entry('Response CreateTopics(key: 19, version: 3)', 'Topic creation errors'));
  } finally {
    process.stderr.write = realWrite;
  }
  assert.equal(lines.length, 1);
  const written = JSON.parse(lines[0]!) as { level: string; logger: string; message: string; error: string };
  assert.deepEqual([written.level, written.logger, written.message], ['ERROR', 'kafkajs', 'Response AddOffsetsToTxn(key: 25, version: 1)']);
  assert.match(written.error, /fences the current one/);
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../lib/errors.js';
import { kafkaConfigFromSettings, saslOptions, sslFromEnv, sslOptions } from './client.js';

const usageNaming = (pattern: RegExp) => (err: unknown) => err instanceof UsageError && !err.retriable && pattern.test(err.message);

describe('TLS settings: ca, cert and key are files, read here', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pageloop-tls-'));
  const ca = join(dir, 'ca.pem');
  const cert = join(dir, 'client.pem');
  const key = join(dir, 'client.key');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n');
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n');
  writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n');

  it('passes the files\' contents to kafkajs, not their paths (the bug: paths went through as PEM)', () => {
    const c = kafkaConfigFromSettings({ brokers: ['k:9094'], clientId: 'c', ssl: { ca, cert, key, servername: 'k' } }, {});
    assert.deepEqual(c.ssl, { ca: '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n', cert: '-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n', servername: 'k' });
    assert.equal(sslOptions(true), true);
  });

  it('names the key and the path of a file it cannot read, or one that holds no PEM', () => {
    const missing = join(dir, 'nope.pem');
    assert.throws(() => sslOptions({ ca: missing }), usageNaming(new RegExp(`^kafka\\.ssl\\.ca: cannot read ${missing.replace(/\./g, '\\.')}: .*ENOENT`)));
    assert.throws(() => sslOptions({ cert: key, key }), usageNaming(/^kafka\.ssl\.cert: .*client\.key holds no PEM certificate/));
    assert.throws(() => sslOptions({ cert, key: ca }), usageNaming(/^kafka\.ssl\.key: .*ca\.pem holds no PEM private key/));
  });

  it('refuses a certificate without its key and the reverse, unknown keys and wrong types, naming them', () => {
    assert.throws(() => sslOptions({ cert }), usageNaming(/^kafka\.ssl\.cert: given without kafka\.ssl\.key/));
    assert.throws(() => sslOptions({ key }), usageNaming(/^kafka\.ssl\.key: given without kafka\.ssl\.cert/));
    assert.throws(() => sslOptions({ cafile: ca }), usageNaming(/^kafka\.ssl\.cafile: unknown key/));
    assert.throws(() => sslOptions({ rejectUnauthorized: 'no' }), usageNaming(/^kafka\.ssl\.rejectUnauthorized: must be true or false/));
    assert.throws(() => sslOptions('yes'), usageNaming(/^kafka\.ssl: must be true, false or an object/));
  });

  it('takes the files from PAGELOOP_KAFKA_SSL_CA/_CERT/_KEY for a remote cluster, errors naming the variable', () => {
    assert.deepEqual(sslFromEnv({ PAGELOOP_KAFKA_SSL_CA: ca }), { ca });
    const c = kafkaConfigFromSettings({ brokers: ['k:9094'], clientId: 'c' }, { PAGELOOP_KAFKA_SSL_CA: ca });
    assert.match(String((c.ssl as { ca: string }).ca), /BEGIN CERTIFICATE/);
    assert.throws(() => kafkaConfigFromSettings({ brokers: ['k:9094'], clientId: 'c' }, { PAGELOOP_KAFKA_SSL_CA: join(dir, 'x') }), usageNaming(/^PAGELOOP_KAFKA_SSL_CA: cannot read/));
    assert.throws(() => sslFromEnv({ PAGELOOP_KAFKA_SSL: '0', PAGELOOP_KAFKA_SSL_CA: ca }), usageNaming(/^PAGELOOP_KAFKA_SSL: is 0/));
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});

describe('SASL settings: PLAIN, SCRAM-SHA-256/512, checked key by key', () => {
  it('passes a complete one through, the password from PAGELOOP_KAFKA_SASL_PASSWORD when the file leaves it out', () => {
    assert.deepEqual(saslOptions({ mechanism: 'scram-sha-256', username: 'u', password: 'p' }, {}), { mechanism: 'scram-sha-256', username: 'u', password: 'p' });
    assert.deepEqual(saslOptions({ mechanism: 'plain', username: 'u' }, { PAGELOOP_KAFKA_SASL_PASSWORD: 'secret' }), { mechanism: 'plain', username: 'u', password: 'secret' });
  });

  it('names the bad key', () => {
    assert.throws(() => saslOptions({ mechanism: 'gssapi', username: 'u', password: 'p' }, {}), usageNaming(/^kafka\.sasl\.mechanism: must be one of plain, scram-sha-256, scram-sha-512/));
    assert.throws(() => saslOptions({ mechanism: 'plain', password: 'p' }, {}), usageNaming(/^kafka\.sasl\.username:/));
    assert.throws(() => saslOptions({ mechanism: 'plain', username: 'u' }, {}), usageNaming(/^kafka\.sasl\.password: not given/));
    assert.throws(() => saslOptions({ mechanism: 'plain', username: 'u', password: 'p', user: 'x' }, {}), usageNaming(/^kafka\.sasl\.user: unknown key/));
  });
});
