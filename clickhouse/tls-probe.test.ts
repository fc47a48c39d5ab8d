import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { PageloopError } from '../lib/errors.js';
import { makeTestPki, type TestPki } from '../test/tls-certs.js';
import { httpsClassify } from './client.js';
import { tlsHandshakeRefusal } from './tls-probe.js';

describe('tlsHandshakeRefusal against a real https server that requires a client certificate', () => {
  let pki: TestPki;
  let server: Server;
  let url = '';

  before(async () => {
    pki = makeTestPki();
    server = createServer(
      { cert: pki.read(pki.serverCertPath), key: pki.read(pki.serverKeyPath), ca: pki.read(pki.caPath), requestCert: true, rejectUnauthorized: true },
      (_req, res) => res.end('Ok.\n'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    assert.ok(addr && typeof addr === 'object');
    url = `https://127.0.0.1:${addr.port}/`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    pki.remove();
  });

  test('no client certificate: the server refuses with a TLS alert, which the probe returns', async () => {
    const refused = await tlsHandshakeRefusal({ url, ca: pki.read(pki.caPath) });
    assert.ok(refused, 'a refusal');
    assert.match(String(refused.code), /^ERR_SSL_/);
  });

  test('a CA that did not sign the server: refused by the client side of the check', async () => {
    const refused = await tlsHandshakeRefusal({ url, ca: pki.read(pki.otherCaPath), cert: pki.read(pki.clientCertPath), key: pki.read(pki.clientKeyPath) });
    assert.ok(refused, 'a refusal');
    assert.match(String(refused.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
  });

  test('the right CA and client certificate: accepted, no refusal', async () => {
    assert.equal(await tlsHandshakeRefusal({ url, ca: pki.read(pki.caPath), cert: pki.read(pki.clientCertPath), key: pki.read(pki.clientKeyPath) }), undefined);
  });

  test('nothing listening: no TLS verdict (the reset stays a retriable unreachable server)', async () => {
    const closed = createServer({ cert: pki.read(pki.serverCertPath), key: pki.read(pki.serverKeyPath) });
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const addr = closed.address();
    assert.ok(addr && typeof addr === 'object');
    await new Promise<void>((r) => closed.close(() => r()));
    assert.equal(await tlsHandshakeRefusal({ url: `https://127.0.0.1:${addr.port}/`, ca: pki.read(pki.caPath) }), undefined);
  });
});

describe('httpsClassify: a reset over https is checked for a TLS refusal', () => {
  const reset = Object.assign(new Error('write ECONNRESET'), { code: 'ECONNRESET' });
  const alert = Object.assign(new Error('tlsv13 alert certificate required'), { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });

  test('a reset the server explains with a TLS refusal is that refusal: not retriable, says what to check', async () => {
    const probed: string[] = [];
    const classify = httpsClassify({ url: 'https://ch.example:8443/' }, async (t) => (probed.push(t.url), alert));
    const e = await classify(reset, 'clickhouse query');
    assert.ok(e instanceof PageloopError);
    assert.equal(e.retriable, false);
    assert.match(e.message, /TLS with the ClickHouse server failed \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\).*check clickhouse\.url and clickhouse\.tls/);
    assert.deepEqual(probed, ['https://ch.example:8443/']);
  });

  test('a reset with the handshake accepted stays retriable', async () => {
    const e = await httpsClassify({ url: 'https://ch.example:8443/' }, async () => undefined)(reset, 'clickhouse insert into events (3 rows)');
    assert.equal(e.retriable, true);
    assert.equal(e.code, 'clickhouse-unreachable');
  });

  test('other failures are not probed', async () => {
    let probes = 0;
    const classify = httpsClassify({ url: 'https://ch.example:8443/' }, async () => (probes++, alert));
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' });
    assert.equal((await classify(refused, 'clickhouse ping')).retriable, true);
    assert.equal((await classify(alert, 'clickhouse ping')).retriable, false);
    assert.equal(probes, 0);
  });
});
