/**
 * The local Kafka as a three-node KRaft cluster, for real, through the CLI:
 * `pageloop kafka start --brokers 3` (detached nodes, own ports and log
 * dirs), topics replicated 3 times with min.insync.replicas=2, `status`
 * listing every node and the under-replicated partitions once one node is
 * killed, `topics` raising partitions (dry run first), a restart of the
 * killed node only, and `stop` of all of them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { declaredTopics, TOPIC } from '../../schemas/topics.js';
import { createLocalKafka, localKafkaConfig, isPortFree, type LocalKafka } from './local-kafka.js';

const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;
const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 5 * 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A base port with base..base+5 free: the CLI derives node i's ports from node 1's (+2 per node). */
async function freeBase(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const base = 20_000 + 2 * Math.floor(Math.random() * 15_000);
    const all = await Promise.all([0, 1, 2, 3, 4, 5].map((d) => isPortFree('127.0.0.1', base + d)));
    if (all.every(Boolean)) return base;
  }
  throw new Error('no 6 consecutive free ports found');
}

/** Running: a zombie (killed, not yet reaped by whoever inherited the detached node) counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('local Kafka cluster of 3 nodes (real, KRaft)', { timeout: 15 * 60_000 }, () => {
  let dataDir = '';
  let base = 0;
  let env: NodeJS.ProcessEnv = {};
  let local: LocalKafka | undefined;
  let bootstraps: string[] = [];
  let pids: number[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pageloop-kafka-cluster-test-'));
    base = await freeBase();
    env = { ...process.env, PAGELOOP_KAFKA_DATA_DIR: dataDir, PAGELOOP_KAFKA_PORT: String(base), PAGELOOP_KAFKA_CONTROLLER_PORT: String(base + 1) };
    delete env.PAGELOOP_KAFKA_BROKERS;
    delete env.PAGELOOP_CONFIG;
    // For clean-up whatever fails: stop() finds every node in dataDir.
    local = createLocalKafka(localKafkaConfig({ dataDir, port: base, controllerPort: base + 1, brokers: 3 }), { progress: () => undefined });
  });

  after(async () => {
    if (local) await local.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('`kafka start --brokers 3` starts three nodes and replicated topics (RF 3, min ISR 2)', async () => {
    const r = await runCli(['kafka', 'start', '--brokers', '3', '--heap', '256m', '--partitions', 'events=4', '--json'], env);
    assert.equal(r.code, 0, `start failed (exit ${r.code}):\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { bootstraps: string[]; nodes: { nodeId: number; pid: number }[]; topics: { created: string[] } };
    bootstraps = out.bootstraps;
    assert.deepEqual(bootstraps, [`127.0.0.1:${base}`, `127.0.0.1:${base + 2}`, `127.0.0.1:${base + 4}`]);
    pids = out.nodes.map((n) => n.pid);
    assert.equal(new Set(pids).size, 3);
    for (const pid of pids) assert.ok(alive(pid), `node pid ${pid} must outlive the CLI`);
    assert.deepEqual([...out.topics.created].sort(), declaredTopics().map((t) => t.name).sort());

    const kafka = new Kafka({ clientId: 'pageloop-test', brokers: bootstraps, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      assert.deepEqual((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort(), [1, 2, 3]);
      const names = declaredTopics().map((t) => t.name);
      // A broker that missed a heartbeat on the loaded 2 cores drops out of the metadata's replica lists for a moment: ask until it is back.
      let meta = await admin.fetchTopicMetadata({ topics: names });
      for (let i = 0; i < 60 && meta.topics.some((t) => t.partitions.some((p) => p.replicas.length < 3)); i++) {
        await sleep(1000);
        meta = await admin.fetchTopicMetadata({ topics: names });
      }
      for (const t of meta.topics) {
        for (const p of t.partitions) assert.equal(p.replicas.length, 3, `${t.name}/${p.partitionId} replicas`);
      }
      const partitions = (name: string): number => meta.topics.find((t) => t.name === name)!.partitions.length;
      assert.equal(partitions(TOPIC.events), 4);
      assert.equal(partitions(TOPIC.processorState), 4, 'processorState follows events');
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['min.insync.replicas'] })),
      });
      for (const res of configs.resources) {
        assert.equal(res.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue, '2', res.resourceName);
      }
    } finally {
      await admin.disconnect();
    }
  });

  it('`kafka status` lists each node, the leaders and no under-replicated partitions', async () => {
    let r = await runCli(['kafka', 'status'], env);
    for (let i = 0; i < 60 && /under-replicated [1-9]/.test(r.stdout); i++) {
      await sleep(1000);
      r = await runCli(['kafka', 'status'], env);
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^running: 3 of 3 nodes/);
    for (let i = 0; i < 3; i++) assert.match(r.stdout, new RegExp(`node ${i + 1} at 127\\.0\\.0\\.1:${base + 2 * i}: pid ${pids[i]}, answering`));
    assert.match(r.stdout, /brokers in the metadata: 1, 2, 3/);
    assert.match(r.stdout, new RegExp(`${TOPIC.events.replace(/\./g, '\\.')}: 4 partitions x 3 replicas, min ISR 2; leaders \\(broker:partitions\\) [^;]+; under-replicated 0`));
    assert.doesNotMatch(r.stdout, /under-replicated [1-9]/);
  });

  it('`kafka topics --partitions events=6` reports the drift with --dry-run, then raises events and processorState', async () => {
    const dry = await runCli(['kafka', 'topics', '--partitions', 'events=6', '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would be raised ${TOPIC.events.replace(/\./g, '\\.')}: 4 -> 6`));
    const kafka = new Kafka({ clientId: 'pageloop-test', brokers: bootstraps, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const count = async (t: string): Promise<number> => (await admin.fetchTopicMetadata({ topics: [t] })).topics[0]!.partitions.length;
      assert.equal(await count(TOPIC.events), 4, 'a dry run changes nothing');
      const r = await runCli(['kafka', 'topics', '--partitions', 'events=6'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`raised ${TOPIC.events.replace(/\./g, '\\.')}: 4 -> 6`));
      // Each broker learns of the new partitions from the metadata log a moment after the controller: ask until all agree.
      const settled = async (t: string): Promise<number> => {
        let n = await count(t);
        for (let i = 0; i < 50 && n !== 6; i++) {
          await sleep(200);
          n = await count(t);
        }
        return n;
      };
      assert.equal(await settled(TOPIC.events), 6);
      assert.equal(await settled(TOPIC.processorState), 6);
      const again = await runCli(['kafka', 'topics', '--partitions', 'events=6', '--json'], env);
      const report = JSON.parse(again.stdout) as { topics: { created: string[]; raised: unknown[]; updated: unknown[] } };
      assert.deepEqual([report.topics.created, report.topics.raised, report.topics.updated], [[], [], []]);
    } finally {
      await admin.disconnect();
    }
  });

  it('with node 2 killed, `status` shows it down and the partitions it held under-replicated; `start` brings back only node 2', async () => {
    process.kill(pids[1]!, 'SIGKILL');
    // The controller drops a fenced broker from every ISR after broker.session.timeout.ms (9 s): wait for that, no timing asserted.
    let out = '';
    for (let i = 0; i < 120; i++) {
      const r = await runCli(['kafka', 'status'], env);
      out = r.stdout;
      if (/under-replicated [1-9]/.test(out) && !/brokers in the metadata: 1, 2, 3/.test(out)) break;
      await sleep(1000);
    }
    assert.match(out, /^running: 2 of 3 nodes/);
    assert.match(out, /node 2 at [^:]+:\d+: DOWN \(stale pid file\)/);
    assert.match(out, /brokers in the metadata: 1, 3\n/);
    assert.match(out, /under-replicated [1-9]/);
    assert.doesNotMatch(out, /NO LEADER/, 'two of three replicas left: every partition has a leader');

    const r = await runCli(['kafka', 'start', '--brokers', '3', '--heap', '256m', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const started = JSON.parse(r.stdout) as { nodes: { nodeId: number; pid: number; alreadyRunning: boolean }[]; formatted: boolean };
    assert.deepEqual(started.nodes.map((n) => n.alreadyRunning), [true, false, true]);
    assert.equal(started.nodes[0]!.pid, pids[0]);
    assert.equal(started.formatted, false, 'node 2 keeps its storage');
    pids = started.nodes.map((n) => n.pid);
  });

  it('`kafka stop` stops every node', async () => {
    const r = await runCli(['kafka', 'stop'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^stopped 3 nodes/);
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} alive after stop`);
    const st = await runCli(['kafka', 'status'], env);
    assert.equal(st.code, 3);
  });
});
