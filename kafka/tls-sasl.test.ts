/**
 * TLS and SASL for real: a local broker with a SASL_SSL listener (its own CA
 * made with openssl here, client certificates required), reached through
 * the config-file path every component uses (kafkaSettingsFor, then
 * kafka/client.ts reading the ca/cert/key files): SASL PLAIN, SCRAM-SHA-256
 * and SCRAM-SHA-512 each produce and read back a record; a wrong password
 * and a missing client certificate are refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createLocalKafka, localKafkaConfig, type LocalKafka } from '../deploy/kafka/local-kafka.js';
import { freePorts } from '../test/broker.js';
import { createKafka, kafkaSettingsFor } from './settings.js';
import type { PageloopConfig } from '../schemas/validate.js';

const USERS = { alice: 'alice-secret-1', bob: 'bob-secret-2' };

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed (is openssl installed?): ${String(err)}`);
  }
}

/** A CA, a broker certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makePki(dir: string): { ca: string; keystore: string; clientCert: string; clientKey: string } {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=pageloop-test-ca'], dir);
  for (const [name, cn] of [['server', 'localhost'], ['client', 'pageloop-client']] as const) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    writeFileSync(join(dir, `${name}.ext`), name === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' : 'extendedKeyUsage=clientAuth\n');
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  }
  // Kafka's PEM key store: the private key (PKCS#8, what openssl 3 writes) and the certificate in one file.
  const keystore = join(dir, 'server-keystore.pem');
  writeFileSync(keystore, readFileSync(join(dir, 'server.key'), 'utf8') + readFileSync(join(dir, 'server.pem'), 'utf8'));
  return { ca: join(dir, 'ca.pem'), keystore, clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key') };
}

async function roundTrip(kafka: Kafka, tag: string): Promise<string> {
  const topic = `tls-sasl-${tag}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ key: tag, value: `hello over ${tag}` }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `tls-sasl-${tag}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${tag}: nothing read back within 60 s`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve(message.value?.toString() ?? '');
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

describe('TLS (client certificates) and SASL on a real broker', { timeout: 10 * 60_000 }, () => {
  let dir = '';
  let local: LocalKafka | undefined;
  let pki: ReturnType<typeof makePki>;
  let secure = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pageloop-tls-sasl-'));
    pki = makePki(dir);
    const [port, controllerPort, securePort] = (await freePorts(3)) as [number, number, number];
    secure = `127.0.0.1:${securePort}`;
    local = createLocalKafka(
      localKafkaConfig({ dataDir: join(dir, 'kafka'), port, controllerPort, heap: '256m', secure: { port: securePort, keystore: pki.keystore, truststore: pki.ca, users: USERS } }),
      { progress: (l) => process.stderr.write(`  [kafka] ${l}\n`) },
    );
    await local.start();
  });

  after(async () => {
    if (local) await local.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const file = (sasl: NonNullable<PageloopConfig['kafka']>['sasl'], ssl: NonNullable<PageloopConfig['kafka']>['ssl'] = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }): PageloopConfig['kafka'] => ({
    brokers: [secure],
    ssl,
    ...(sasl ? { sasl } : {}),
  });
  const client = (k: PageloopConfig['kafka'], env: Record<string, string> = {}): Kafka => createKafka({ ...kafkaSettingsFor('kafka', k), connectionTimeoutMs: 5000 }, env);

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`SASL ${mechanism} over TLS with a client certificate, the files read from the paths of the config`, async () => {
      assert.equal(await roundTrip(client(file({ mechanism, username: 'alice', password: USERS.alice })), mechanism), `hello over ${mechanism}`);
    });
  }

  it('takes the password from PAGELOOP_KAFKA_SASL_PASSWORD when the config leaves it out', async () => {
    assert.equal(await roundTrip(client(file({ mechanism: 'scram-sha-512', username: 'bob' }), { PAGELOOP_KAFKA_SASL_PASSWORD: USERS.bob }), 'env-password'), 'hello over env-password');
  });

  it('is refused with a wrong password, and without a client certificate', async () => {
    for (const k of [file({ mechanism: 'scram-sha-256', username: 'alice', password: 'wrong' }), file({ mechanism: 'plain', username: 'alice', password: USERS.alice }, { ca: pki.ca })]) {
      const admin = client(k).admin({ retry: { retries: 0 } });
      await assert.rejects(admin.connect(), (err: unknown) => err instanceof Error, 'must not connect');
      await admin.disconnect().catch(() => undefined);
    }
  });
});
