/**
 * The local broker, for real: jars from Maven Central, a KRaft node started
 * through `pageloop kafka start` (a separate process, so the broker must
 * outlive it), topics, one message produced and consumed back, stop.
 * Runs on its own data directory and free ports, so a developer's broker is
 * never touched, and stops what it started in `after`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { PageloopError, UsageError } from '../../lib/errors.js';
import { kafkaConfigFromSettings, resolveBrokers } from '../../kafka/client.js';
import { declaredTopics, TOPIC } from '../../schemas/topics.js';
import {
  KAFKA_VERSION,
  createLocalKafka,
  localKafkaConfig,
  localKafkaDefaults,
  validateLocalKafkaConfig,
  type LocalKafka,
} from './local-kafka.js';
import { readLocalKafkaState } from '../../kafka/local-state.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

function valid(): Record<string, unknown> {
  return { ...localKafkaDefaults({}), cacheDir: '/tmp/cache', dataDir: '/tmp/data' };
}

function rejects(input: unknown, key: string): void {
  assert.throws(
    () => validateLocalKafkaConfig(input),
    (err: unknown) => err instanceof UsageError && err.retriable === false && err.message.includes(`${key}:`),
    `expected a UsageError naming '${key}'`,
  );
}

describe('validateLocalKafkaConfig', () => {
  it('accepts the defaults', () => {
    const c = validateLocalKafkaConfig(valid());
    assert.equal(c.version, KAFKA_VERSION);
    assert.equal(c.port, 9092);
    assert.equal(c.controllerPort, 9093);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.heap, '512m');
    assert.equal(c.groupInitialRebalanceDelayMs, 0);
    assert.equal(validateLocalKafkaConfig({ ...valid(), groupInitialRebalanceDelayMs: 3000 }).groupInitialRebalanceDelayMs, 3000);
  });

  it('names the bad key', () => {
    rejects({ ...valid(), version: '4.0.0' }, 'version');
    rejects({ ...valid(), version: '3.2.0' }, 'version');
    rejects({ ...valid(), version: 'latest' }, 'version');
    rejects({ ...valid(), cacheDir: 'relative/cache' }, 'cacheDir');
    rejects({ ...valid(), dataDir: '' }, 'dataDir');
    rejects({ ...valid(), host: '0.0.0.0' }, 'host');
    rejects({ ...valid(), host: '' }, 'host');
    rejects({ ...valid(), port: 0 }, 'port');
    rejects({ ...valid(), port: 70000 }, 'port');
    rejects({ ...valid(), port: '9092' }, 'port');
    rejects({ ...valid(), controllerPort: 1.5 }, 'controllerPort');
    rejects({ ...valid(), controllerPort: 9092 }, 'controllerPort');
    rejects({ ...valid(), heap: '512' }, 'heap');
    rejects({ ...valid(), heap: '-1g' }, 'heap');
    rejects({ ...valid(), heap: '64m' }, 'heap');
    rejects({ ...valid(), startTimeoutMs: 0 }, 'startTimeoutMs');
    rejects({ ...valid(), stopTimeoutMs: -5 }, 'stopTimeoutMs');
    rejects({ ...valid(), groupInitialRebalanceDelayMs: -1 }, 'groupInitialRebalanceDelayMs');
    rejects({ ...valid(), groupInitialRebalanceDelayMs: 1.5 }, 'groupInitialRebalanceDelayMs');
    rejects({ ...valid(), prot: 9092 }, 'prot');
  });

  it('reports every bad key at once', () => {
    assert.throws(
      () => validateLocalKafkaConfig({ ...valid(), port: -1, heap: 'lots' }),
      (err: unknown) => err instanceof UsageError && err.message.includes('port:') && err.message.includes('heap:'),
    );
  });

  it('createLocalKafka validates too', () => {
    assert.throws(() => createLocalKafka({ ...localKafkaConfig(), port: 123456 }, { progress: () => undefined }), (err: unknown) => err instanceof UsageError && err.message.includes('port:'));
  });

  it('takes ports from the environment', () => {
    const d = localKafkaDefaults({ PAGELOOP_KAFKA_PORT: '19092', PAGELOOP_KAFKA_CONTROLLER_PORT: '19093', PAGELOOP_CACHE_DIR: '/c', PAGELOOP_KAFKA_DATA_DIR: '/d' });
    assert.deepEqual([d.port, d.controllerPort, d.cacheDir, d.dataDir], [19092, 19093, '/c', '/d']);
  });
});

describe('kafkaConfigFromSettings (no broker needed)', () => {
  it('takes PAGELOOP_KAFKA_BROKERS over settings, settings over the local broker', () => {
    const env = { PAGELOOP_KAFKA_BROKERS: 'k1:9092, k2:9093' };
    assert.deepEqual(resolveBrokers({ brokers: ['x:1'] }, env), { brokers: ['k1:9092', 'k2:9093'], source: 'env' });
    assert.deepEqual(resolveBrokers({ brokers: ['x:1'] }, {}), { brokers: ['x:1'], source: 'settings' });
  });

  it('passes TLS and SASL through', () => {
    const c = kafkaConfigFromSettings(
      { brokers: ['kafka.example:9094'], clientId: 'c', ssl: { servername: 'kafka.example' }, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } },
      {},
    );
    assert.deepEqual(c.brokers, ['kafka.example:9094']);
    assert.deepEqual(c.ssl, { servername: 'kafka.example' });
    assert.deepEqual(c.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p' });
    const e = kafkaConfigFromSettings(
      { brokers: ['k:9094'], clientId: 'c' },
      { PAGELOOP_KAFKA_SSL: '1', PAGELOOP_KAFKA_SASL_MECHANISM: 'PLAIN', PAGELOOP_KAFKA_SASL_USERNAME: 'u', PAGELOOP_KAFKA_SASL_PASSWORD: 'p' },
    );
    assert.equal(e.ssl, true);
    assert.deepEqual(e.sasl, { mechanism: 'plain', username: 'u', password: 'p' });
  });

  it('refuses a broker that is not host:port, naming where it came from', () => {
    assert.throws(() => resolveBrokers({}, { PAGELOOP_KAFKA_BROKERS: 'nohost' }), /PAGELOOP_KAFKA_BROKERS: 'nohost'/);
    assert.throws(() => resolveBrokers({ brokers: ['h:99999'] }, {}), /brokers: 'h:99999'/);
  });

  it('says to run `pageloop kafka start` when there is no local broker (not retriable)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'pageloop-nokafka-'));
    try {
      assert.throws(
        () => kafkaConfigFromSettings({ clientId: 'c', localDataDir: empty }, {}),
        (err: unknown) => err instanceof PageloopError && !err.retriable && err.message.includes('pageloop kafka start'),
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

/** Two ports nothing listens on: both held open together so they differ, then released. */
async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    servers.push(s);
    ports.push(addr.port);
  }
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 10 * 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Running, as opposed to gone or a zombie (exited, not yet reaped by whoever adopted it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

describe('local Kafka broker (real, KRaft)', { timeout: 10 * 60_000 }, () => {
  let dataDir = '';
  let port = 0;
  let controllerPort = 0;
  let local: LocalKafka | undefined;
  let env: NodeJS.ProcessEnv = {};
  let pid = 0;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pageloop-kafka-test-'));
    [port, controllerPort] = (await freePorts(2)) as [number, number];
    // The jar cache is shared (PAGELOOP_CACHE_DIR or ~/.cache/pageloop): only the first run downloads.
    env = {
      ...process.env,
      PAGELOOP_KAFKA_DATA_DIR: dataDir,
      PAGELOOP_KAFKA_PORT: String(port),
      PAGELOOP_KAFKA_CONTROLLER_PORT: String(controllerPort),
    };
    delete env.PAGELOOP_KAFKA_BROKERS;
    local = createLocalKafka(localKafkaConfig({ dataDir, port, controllerPort }), { progress: (l) => process.stderr.write(`  [kafka] ${l}\n`) });
  });

  after(async () => {
    // Leave nothing running, whatever failed above.
    if (local) await local.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('installs the jars idempotently', async () => {
    const first = await local!.install();
    assert.equal(first.version, KAFKA_VERSION);
    assert.ok(first.jars > 20, `only ${first.jars} jars`);
    const again = await local!.install();
    assert.equal(again.downloaded, false, 'a second install must use the cache');
    assert.equal(again.jars, first.jars);
  });

  it('`pageloop kafka start` starts a broker that outlives the command, and prints the bootstrap address', async () => {
    const r = await runCli(['kafka', 'start', '--json'], env);
    assert.equal(r.code, 0, `pageloop kafka start failed (exit ${r.code}):\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { bootstrap: string; pid: number; alreadyRunning: boolean; topics: { created: string[] } };
    assert.equal(out.bootstrap, `127.0.0.1:${port}`);
    assert.equal(out.alreadyRunning, false);
    assert.deepEqual([...out.topics.created].sort(), declaredTopics().map((t) => t.name).sort());
    pid = out.pid;
    assert.ok(alive(pid), 'the broker must keep running after the CLI exits');
    assert.equal(readLocalKafkaState(dataDir)?.bootstrap, out.bootstrap);
  });

  it('start again only reports it (in-process and from the CLI)', async () => {
    const again = await local!.start();
    assert.equal(again.alreadyRunning, true);
    assert.equal(again.pid, pid);
    const r = await runCli(['kafka', 'start'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `127.0.0.1:${port}`);
    assert.match(r.stderr, /already running/);
  });

  it('status says running and healthy', async () => {
    const s = await local!.status();
    assert.equal(s.running, true);
    assert.equal(s.healthy, true);
    assert.equal(s.pid, pid);
    assert.equal(s.bootstrap, `127.0.0.1:${port}`);
    const r = await runCli(['kafka', 'status'], env);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^running at 127\.0\.0\.1:\d+/);
  });

  it('has every declared topic with its partitions, and produces and consumes one message exactly', async () => {
    // No brokers given: the client finds the local broker through its state file.
    const config = kafkaConfigFromSettings({ clientId: 'pageloop-test', localDataDir: dataDir }, {});
    assert.deepEqual(config.brokers, [`127.0.0.1:${port}`]);
    const kafka = new Kafka({ ...config, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: declaredTopics().map((t) => t.name) });
      for (const t of declaredTopics()) {
        const m = meta.topics.find((x) => x.name === t.name);
        assert.ok(m, `${t.name} missing`);
        assert.equal(m.partitions.length, t.partitions, `${t.name} partitions`);
      }
    } finally {
      await admin.disconnect();
    }

    const key = 'host-under-test';
    const value = `hello ${process.pid} ${Date.now()}`;
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const [sent] = await producer.send({ topic: TOPIC.events, acks: -1, messages: [{ key, value, headers: { schema: 'test' } }] });
    await producer.disconnect();
    assert.ok(sent);

    const consumer = kafka.consumer({ groupId: `pageloop-test-${process.pid}-${Date.now()}` });
    const got: { key: string; value: string; partition: number; offset: string; header: string }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: TOPIC.events, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message consumed within 60 s')), 60_000);
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            got.push({
              key: message.key?.toString() ?? '',
              value: message.value?.toString() ?? '',
              partition,
              offset: message.offset,
              header: message.headers?.schema?.toString() ?? '',
            });
            clearTimeout(timer);
            resolve();
          },
        });
      });
      // Give a duplicate the chance to show up before counting.
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual(got, [{ key, value, partition: sent.partition, offset: sent.baseOffset ?? '0', header: 'test' }]);
  });

  it('stops, and the process is gone', async () => {
    const r = await runCli(['kafka', 'stop'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `stopped (pid ${pid})`);
    assert.equal(alive(pid), false, `pid ${pid} still alive after stop`);
    const s = await local!.status();
    assert.equal(s.running, false);
    assert.equal(s.stalePidFile, false);
    assert.equal(readLocalKafkaState(dataDir), undefined);
    const st = await runCli(['kafka', 'status'], env);
    assert.equal(st.code, 3);
    assert.match(st.stdout, /^not running/);
    const again = await local!.stop();
    assert.equal(again.wasRunning, false);
    assert.throws(
      () => kafkaConfigFromSettings({ clientId: 'c', localDataDir: dataDir }, {}),
      (err: unknown) => err instanceof PageloopError && !err.retriable && err.message.includes('pageloop kafka start'),
    );
  });

  it('starts again on the formatted storage, in-process, and stops', async () => {
    const started = await local!.start();
    assert.equal(started.alreadyRunning, false);
    assert.equal(started.formatted, false, 'the storage was formatted already');
    assert.ok(alive(started.pid));
    const stopped = await local!.stop();
    assert.equal(stopped.wasRunning, true);
    assert.equal(stopped.killed, false, 'SIGTERM should be enough');
    // The broker was our child here: Node reaps it, so the pid disappears entirely.
    assert.equal(alive(started.pid), false);
  });
});
