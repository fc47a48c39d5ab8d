/**
 * The chaos run (issue 15): the whole pipeline as separate processes under
 * load and seeded faults, then an exact ledger read from ClickHouse.
 *
 *   node dist/bench/chaos.js [--seed S] [--minutes M] [--rate EVENTS_PER_S] [--hosts N] [--batch EVENTS]
 *                            [--session-timeout-ms MS] [--disk-mib MIB] [--ring-buffer-kib KIB] [--burst-mib MIB]
 *                            [--kinds K1,K2|none] [--keep DIR] [--logs DIR] [--json]
 *
 * Stack: a real 3-node KRaft cluster (test/broker.ts startTestCluster; events
 * replicated 3 times, min.insync.replicas 2; restarted on the same ports and
 * data directories), `pageloop serve --writable` (the embedded ClickHouse
 * engine behind its HTTP endpoint, its data in a small tmpfs of its own, so
 * it can be filled), `pageloop sink --clickhouse-url` writing through that
 * endpoint as to a server, two
 * `pageloop process` instances in one group, `pageloop agent` (probes,
 * collector and feedback on the real kernel, --allow-comm memtouch, raw
 * fault mode on a small ring buffer, --ring-buffer-kib) watching
 * a memtouch workload (THP faults, base-page faults, MADV_COLLAPSE) and a
 * canary (a copy of memtouch named `canary`: not on the allow-list), plus
 * synthetic hosts sending EventBatch records (bench/chaos/synthetic.ts).
 * The harness also publishes PROMOTE hints for memtouch and for the canary.
 *
 * Faults (bench/chaos/schedule.ts): one round = every kind once in a seeded
 * order; --minutes up to 2 runs one round, longer runs repeat rounds until
 * the time is up. Recovery of a fault = from its injection until the
 * stream has moved past where it was: the affected consumer group(s) have
 * committed every events-topic offset that existed at injection (for the
 * agent: its restarted collector has produced a batch).
 *
 * Recovery is also given from the fault's release (SIGCONT, the broker
 * back, the disk freed), which is the part the pipeline controls.
 *
 * Every process it starts is tracked (bench/chaos/children.ts); one cleanup
 * path ends them, also on SIGTERM/SIGINT, and the report says whether any
 * process carrying this run's PAGELOOP_CHAOS_RUN is left afterwards.
 *
 * Exit status: 0 when the ledger holds (bench/chaos/ledger.ts), 1 if not.
 *
 * Over 600 lines: the fault injectors share the run's state (services, the
 * cluster, the disk, the recovery watch) and read as one schedule; the parts
 * that stand alone (children, disk, ledger, schedule, service, synthetic
 * load) are in bench/chaos/.
 */
import { copyFileSync, cpSync, chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { startTestCluster, freePort, type TestCluster } from '../test/broker.js';
import { decodeHint } from '../schemas/derived.js';
import { makeHint, identityOf, recordOf } from '../test/feedback.js';
import { memtouchPath, startMemtouch, type Memtouch } from './workloads/memtouch.js';
import { createClickHouseClient } from '../clickhouse/client.js';
import { DATABASE } from '../schemas/clickhouse-tables.js';
import { TOPIC } from '../schemas/topics.js';
import { SINK_TOPICS } from '../sink/rows.js';
import { prng } from '../lib/prng.js';
import { machine } from './stats.js';
import { pageloopService, type Service } from './chaos/service.js';
import { FAULT_KINDS, HELD_KINDS, faultSchedule, percentiles, type FaultKind, type PlannedFault } from './chaos/schedule.js';
import { installSignalCleanup, killAllNow, trackPid, untrackPid } from './chaos/children.js';
import { mountSmallDisk, type SmallDisk } from './chaos/disk.js';
import { openHintMap } from '../bpf/hint-map.js';
import { REGION_SHIFT } from '../feedback/policy.js';
import { startSyntheticLoad } from './chaos/synthetic.js';
import { checkLedger, type InjectedRecord } from './chaos/ledger.js';
import { readTopicsToEnd, type ReadToEnd } from './chaos/read-to-end.js';
import { COLLECTOR_LOSS_SQL, endpointQuery, endpointUp, lossFromRows, lossObject, ringLossFromMetrics, sameLoss, totalLoss, type LossCounts } from './chaos/endpoint.js';

const args = process.argv.slice(2);
function flag(name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`chaos: --${name}: wants a number > 0, got '${args[i + 1] ?? ''}'`);
    process.exit(2);
  }
  return v;
}
const SEED = flag('seed', 1);
const MINUTES = flag('minutes', 1.5);
const RATE = flag('rate', 15_000);
const HOSTS = flag('hosts', 4);
const BATCH = flag('batch', 1000);
const SESSION_TIMEOUT_MS = flag('session-timeout-ms', 30_000);
const DISK_MIB = flag('disk-mib', 1024);
/**
 * The agent's ring buffer, and the ring-overrun burst (memtouch churn: every
 * 4 KiB page of BURST_MIB faulted once, one raw record each: 65 536 records,
 * 4 MiB, for 256 MiB) against a 64 KiB ring (about 1 100 records) whose
 * reader is held for the burst. The workload's own faults overrun it now
 * and then too: counted just the same.
 */
const RING_KIB = flag('ring-buffer-kib', 64);
const BURST_MIB = flag('burst-mib', 256);
const JSON_OUT = args.includes('--json');
/** --keep DIR: copy the sink's ClickHouse directory there before the cleanup (its tmpfs goes), to look into a failed ledger. */
const KEEP = args.includes('--keep') ? args[args.indexOf('--keep') + 1] : undefined;
/** --logs DIR: every service's stderr appended to DIR/NAME.log. */
const LOGS = args.includes('--logs') ? args[args.indexOf('--logs') + 1] : undefined;
const KINDS: readonly FaultKind[] = (() => {
  const i = args.indexOf('--kinds');
  if (i < 0) return FAULT_KINDS;
  if (args[i + 1] === 'none') return []; // the same run with no fault: the ledger's baseline
  const list = (args[i + 1] ?? '').split(',').filter(Boolean);
  const bad = list.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (list.length === 0 || bad.length > 0) {
    console.error(`chaos: --kinds: unknown ${bad.join(',') || '(empty)'}; kinds: ${FAULT_KINDS.join(',')}`);
    process.exit(2);
  }
  return list as FaultKind[];
})();
/** Every process this run starts inherits it: how the end of the run finds anything left behind. */
const RUN_ID = `chaos-${process.pid}-${Date.now()}`;
process.env.PAGELOOP_CHAOS_RUN = RUN_ID;
const PROCESSOR_GROUP = 'chaos-processors';
const SINK_GROUP = 'pageloop-sink';
const RECOVERY_TIMEOUT_MS = 180_000;
const MiB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => {
  if (!JSON_OUT) console.error(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
};

type Offsets = Map<string, number>; // "topic/partition" -> offset

/** The admin client, made again after a failure (the broker may have restarted under it). */
function adminOf(kafka: Kafka): { get(): Promise<Admin>; reset(): Promise<void> } {
  let admin: Admin | undefined;
  return {
    async get() {
      if (!admin) {
        const a = kafka.admin();
        await a.connect();
        admin = a;
      }
      return admin;
    },
    async reset() {
      const a = admin;
      admin = undefined;
      await a?.disconnect().catch(() => undefined);
    },
  };
}

async function endOffsets(admin: Admin, topics: readonly string[]): Promise<Offsets> {
  const out: Offsets = new Map();
  for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}/${p.partition}`, Number(p.high));
  return out;
}

async function committed(admin: Admin, group: string, topics: readonly string[]): Promise<Offsets> {
  const out: Offsets = new Map();
  for (const t of await admin.fetchOffsets({ groupId: group, topics: [...topics] })) {
    for (const p of t.partitions) out.set(`${t.topic}/${p.partition}`, Math.max(0, Number(p.offset)));
  }
  return out;
}

const caughtUp = (done: Offsets, target: Offsets): boolean => [...target].every(([k, v]) => (done.get(k) ?? 0) >= v);

/** The kernel's ring-buffer loss counters of the running agent's probes (its /metrics reads the per-CPU map on each scrape). */
async function agentRingLoss(port: number): Promise<LossCounts> {
  return ringLossFromMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text());
}

/** The agent run whose batches reached ClickHouse last: after a kill-agent, the restarted collector's id. */
const NEWEST_AGENT_RUN_SQL = (host: string): string =>
  `SELECT collector_id FROM collector_batches WHERE host = '${host}' GROUP BY collector_id ORDER BY max(time) DESC LIMIT 1`;

/** One comparison of the kernel's count with the wire's, for one agent run. */
interface RingLossCheck {
  readonly at: string;
  readonly collectorId: string;
  readonly kernel: Record<string, number>;
  readonly clickhouse: Record<string, number>;
  /** ring-overrun only: what the burst itself lost (kernel after - before). */
  readonly burstLost?: number;
  readonly equal: boolean;
}

async function agentProduced(port: number): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m = /^pageloop_collector_events_produced_total(?:\{[^}]*\})? (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function smapsRollup(pid: number): { rssKb: number; anonHugeKb: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKb: field('Rss'), anonHugeKb: field('AnonHugePages') };
}

interface FaultRecord {
  kind: FaultKind;
  atMs: number;
  holdS: number;
  /** From injection until recovered. */
  recoveryMs: number | null;
  /** From the fault's release (SIGCONT, broker back, disk freed; = injection for the others) until recovered. */
  afterReleaseMs: number | null;
  note?: string;
}

/** Processes (other than this one) whose environment carries this run's id: left behind if any remain at the end. */
function leftovers(): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  const needle = `PAGELOOP_CHAOS_RUN=${RUN_ID}\0`;
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!(readFileSync(`/proc/${pid}/environ`, 'latin1') + '\0').includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // a zombie is gone, only not yet reaped
      out.push({ pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').slice(0, 160) });
    } catch {
      // gone while we looked
    }
  }
  return out;
}

interface Run {
  cluster?: TestCluster;
  services: Service[];
  memtouch?: Memtouch;
  canary?: Memtouch;
  disk?: SmallDisk;
  work: string;
  pin: string;
  stopping: boolean;
  admin?: { reset(): Promise<void> };
  /** ring-overrun holds the workload still, so the burst is the only writer of raw records while loss is compared. */
  pause: { on: boolean; idle: boolean };
}

/** Pids of the cluster's running nodes, tracked for the cleanup (they run detached, by design). */
const brokerPids = new Set<number>();
async function trackBrokers(cluster: TestCluster): Promise<void> {
  for (const p of brokerPids) untrackPid(p);
  brokerPids.clear();
  for (const n of (await cluster.local.status()).nodes) {
    if (n.running && n.pid) {
      brokerPids.add(n.pid);
      trackPid(n.pid);
    }
  }
}

/** The one cleanup path: normal end, error, SIGTERM/SIGINT. Idempotent. */
let cleaned: Promise<void> | undefined;
function cleanup(run: Run): Promise<void> {
  cleaned ??= (async () => {
    run.stopping = true;
    await Promise.all(run.services.map((s) => s.stop(10_000).catch(() => undefined)));
    run.memtouch?.kill();
    run.canary?.kill();
    await run.admin?.reset().catch(() => undefined);
    if (run.cluster) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([run.cluster.close().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 30_000)))]);
      clearTimeout(timer);
    }
    killAllNow();
    if (KEEP && run.disk) cpSync(run.disk.dir, KEEP, { recursive: true });
    run.disk?.unmount();
    rmSync(run.work, { recursive: true, force: true });
    rmSync(dirname(run.pin), { recursive: true, force: true });
  })();
  return cleaned;
}

async function main(run: Run): Promise<Record<string, unknown> & { ok: boolean }> {
  const t0 = Date.now();
  const { work, pin } = run;
  const chDir = join(work, 'clickhouse');
  const agentHost = `chaos-agent-${process.pid}`;
  const services = run.services;
  // The sink's own small disk, so disk-full fills it and nothing else.
  const disk = mountSmallDisk(chDir, DISK_MIB);
  run.disk = disk;
  const cluster = await startTestCluster({ brokers: 3, heap: '256m' });
  run.cluster = cluster;
  await trackBrokers(cluster);
  const admin = adminOf(cluster.kafka);
  run.admin = admin;
  const rnd = prng(SEED ^ 0xbad);
  const b = cluster.bootstraps.join(',');
  log(`cluster at ${b}, work dir ${work}`);
  const memtouch = await startMemtouch();
  run.memtouch = memtouch;
  trackPid(memtouch.pid);
  const canaryBin = join(work, 'canary');
  copyFileSync(memtouchPath(), canaryBin);
  chmodSync(canaryBin, 0o755);
  const canary = await startMemtouch(canaryBin);
  run.canary = canary;
  trackPid(canary.pid);
  const canaryBase = await canary.map('c', 8, 'plain');
  await canary.send('touch c');
  const canaryBefore = smapsRollup(canary.pid);
  const held = await memtouch.map('held', 8, 'plain');
  await memtouch.send('touch held');

  const metricsPort = await freePort();
  const chPort = await freePort();
  const chUrl = `http://127.0.0.1:${chPort}`;
  // Its own process: restart-endpoint restarts the engine under a running sink, as a server restart would.
  const endpoint = pageloopService('endpoint', ['serve', '--clickhouse-dir', chDir, '--port', String(chPort), '--writable'], { PAGELOOP_CLICKHOUSE_DIR: chDir }, LOGS);
  const sink = pageloopService(
    'sink',
    ['sink', '--brokers', b, '--clickhouse-url', chUrl, '--group', SINK_GROUP, '--session-timeout-ms', String(SESSION_TIMEOUT_MS)],
    {},
    LOGS,
  );
  const procs = [0, 1].map((i) =>
    pageloopService(`processor-${i}`, ['process', '--brokers', b, '--group', PROCESSOR_GROUP, '--instance', `chaos-p${i}`, '--session-timeout-ms', String(SESSION_TIMEOUT_MS), ...(LOGS ? [] : ['--quiet'])], {}, LOGS),
  );
  const agent = pageloopService(
    'agent',
    ['agent', '--brokers', b, '--host', agentHost, '--allow-comm', 'memtouch', '--hint-map', pin, '--per-process-per-minute', '600',
      '--pid', `${memtouch.pid},${canary.pid}`, '--metrics-port', String(metricsPort), '--fault-mode', 'raw', '--ring-buffer-kib', String(RING_KIB)],
    // Its applied log in the run's directory: kept across the kill-agent restart, gone with the run.
    { PAGELOOP_HOST: agentHost, PAGELOOP_STATE_DIR: join(work, 'agent-state') },
    LOGS,
  );
  services.push(endpoint, sink, ...procs, agent);
  endpoint.start();
  // The sink applies its migrations through the endpoint on start: it must answer first.
  for (const until = Date.now() + RECOVERY_TIMEOUT_MS; !(await endpointUp(chUrl)); await sleep(100)) {
    if (Date.now() > until) throw new Error(`the ClickHouse endpoint did not answer /ping within ${RECOVERY_TIMEOUT_MS} ms: ${endpoint.tail().slice(-1000)}`);
  }
  for (const s of services) s.start();

  // The workload: THP faults, base-page faults, collapses; and hints for memtouch and the canary.
  const workload = (async () => {
    for (let i = 0; !run.stopping; i++) {
      for (run.pause.idle = true; run.pause.on && !run.stopping; ) await sleep(50);
      run.pause.idle = false;
      try {
        await memtouch.map(`t${i}`, 8, 'hugepage');
        await memtouch.send(`touch t${i}`);
        await memtouch.map(`p${i}`, 4, 'plain');
        await memtouch.send(`touch p${i} 4096`);
        await memtouch.send(`collapse p${i}`).catch(() => undefined); // EAGAIN under memory pressure is fine
        await memtouch.send(`unmap t${i}`);
        await memtouch.send(`unmap p${i}`);
      } catch (err) {
        if (!run.stopping) log(`memtouch: ${String(err)}`);
      }
      await sleep(250);
    }
  })();
  let hintsSent = 0;
  // Idempotent: test/feedback.ts sendHints' plain producer re-sent a batch whose ack it missed, and the
  // ledger then found the harness's own hint twice in Kafka and ClickHouse (not the pipeline's doing).
  const hintProducer = cluster.kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
  const sendHints = async (records: ReturnType<typeof recordOf>[]): Promise<void> => {
    await hintProducer.connect();
    await hintProducer.send({ topic: TOPIC.hints, acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value })) });
  };
  const hinter = (async () => {
    while (!run.stopping) {
      try {
        await sendHints([
          recordOf(makeHint(identityOf(agentHost, memtouch.pid), held, 4 * MiB, 'promote')),
          recordOf(makeHint(identityOf(agentHost, canary.pid), canaryBase, 4 * MiB, 'promote')),
        ]);
        hintsSent += 2;
      } catch {
        // broker away: the next round sends new hints
      }
      await sleep(3000);
    }
  })();

  const synthetic = startSyntheticLoad(cluster.kafka, { seed: SEED, hosts: HOSTS, eventsPerSecond: RATE, batchEvents: BATCH });

  const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = RECOVERY_TIMEOUT_MS): Promise<boolean> => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      try {
        if (await check()) return true;
      } catch {
        await admin.reset();
      }
      await sleep(250);
    }
    log(`timed out waiting for ${what}`);
    return false;
  };
  const groupsCaughtUp = (groups: readonly string[], target: Offsets) => async () => {
    const a = await admin.get();
    for (const g of groups) if (!caughtUp(await committed(a, g, [TOPIC.events]), target)) return false;
    return true;
  };
  const eventsEnd = async (): Promise<Offsets> => endOffsets(await admin.get(), [TOPIC.events]);
  /** The end offsets once the synthetic hosts have records in the topic (an empty target is caught up by nothing running). */
  const loadedEnd = async (): Promise<Offsets> => {
    for (;;) {
      const end = await eventsEnd();
      if ([...end.values()].reduce((n, v) => n + v, 0) >= 4 * HOSTS) return end;
      await sleep(250);
    }
  };

  log('waiting for the stack to move (sink and processors caught up once, agent producing)');
  // Against a snapshot of the end offsets: under continuous load the live end always runs a few records ahead.
  let firstTarget: Offsets | undefined;
  await waitFor('the first catch-up', async () => groupsCaughtUp([PROCESSOR_GROUP, SINK_GROUP], (firstTarget ??= await loadedEnd()))());
  await waitFor('the agent to produce', async () => (await agentProduced(metricsPort)) > 0);
  const warmMs = Date.now() - t0;

  const rounds = MINUTES <= 2 ? 1 : 1000;
  const schedule: PlannedFault[] = faultSchedule(SEED, rounds).filter((f) => KINDS.includes(f.kind));
  const deadline = t0 + MINUTES * 60_000;
  const faults: FaultRecord[] = [];
  const injected: InjectedRecord[] = [];
  const ringChecks: RingLossCheck[] = [];
  const endpointChecks: Array<{ rows: number; sameRows: boolean; query: string }> = [];
  const notes: string[] = [];
  const producer = cluster.kafka.producer({ allowAutoTopicCreation: false });
  for (const [i, f] of schedule.entries()) {
    if (rounds > 1 && i > 0 && Date.now() > deadline) break;
    await sleep(f.gapS * 1000);
    const target = await eventsEnd().catch(() => new Map() as Offsets);
    const at = Date.now();
    const isHeld = HELD_KINDS.has(f.kind);
    log(`fault ${i + 1}/${schedule.length}: ${f.kind}${isHeld ? ` (${f.holdS} s)` : ''}`);
    let groups: string[] = [PROCESSOR_GROUP, SINK_GROUP];
    let recovered: () => Promise<boolean>;
    let note: string | undefined;
    let restartAfter: (() => Promise<void>) | undefined;
    switch (f.kind) {
      case 'kill-agent':
        await agent.kill();
        agent.start();
        recovered = async () => (await agentProduced(metricsPort)) > 0;
        break;
      case 'kill-processor-0':
      case 'kill-processor-1': {
        const p = procs[f.kind === 'kill-processor-0' ? 0 : 1]!;
        await p.kill();
        p.start();
        groups = [PROCESSOR_GROUP];
        recovered = groupsCaughtUp(groups, target);
        break;
      }
      case 'kill-sink':
        // The engine lives in the endpoint's process now: its restart is restart-endpoint.
        await sink.kill();
        sink.start();
        groups = [SINK_GROUP];
        recovered = groupsCaughtUp(groups, target);
        break;
      case 'stop-processor':
      case 'stop-sink': {
        const s = f.kind === 'stop-sink' ? sink : procs[f.instance]!;
        s.signal('SIGSTOP');
        await sleep(f.holdS * 1000);
        s.signal('SIGCONT');
        groups = [f.kind === 'stop-sink' ? SINK_GROUP : PROCESSOR_GROUP];
        recovered = groupsCaughtUp(groups, target);
        break;
      }
      case 'broker-restart':
        await admin.reset();
        await cluster.local.stop();
        await trackBrokers(cluster);
        await sleep(f.holdS * 1000);
        await cluster.local.start();
        await trackBrokers(cluster);
        recovered = groupsCaughtUp(groups, target);
        break;
      case 'kill-broker': {
        // The node leading the most events partitions, SIGKILLed: the other two keep min.insync.replicas.
        const a = await admin.get();
        const meta = await a.fetchTopicMetadata({ topics: [TOPIC.events] });
        const led = new Map<number, number>();
        for (const p of meta.topics[0]!.partitions) led.set(p.leader, (led.get(p.leader) ?? 0) + 1);
        const [nodeId] = [...led].sort((x, y) => y[1] - x[1] || x[0] - y[0])[0]!;
        const pid = await cluster.pidOf(nodeId);
        note = `node ${nodeId} (pid ${pid}) led ${led.get(nodeId)} events partitions`;
        if (pid) {
          process.kill(pid, 'SIGKILL');
          while ((await cluster.pidOf(nodeId)) !== undefined) await sleep(100);
        }
        // Recovery is measured with the node still down: two of three hold min.insync.replicas, so
        // the stream must move on without it. It is started again after (restartAfter).
        recovered = groupsCaughtUp(groups, target);
        restartAfter = async () => {
          await sleep(f.holdS * 1000);
          await cluster.local.start();
          await trackBrokers(cluster);
        };
        break;
      }
      case 'disk-full': {
        const filled = disk.fill();
        note = `filler ${Math.round(filled / MiB)} MiB, ${disk.available()} bytes left`;
        await sleep(f.holdS * 1000);
        disk.free();
        groups = [SINK_GROUP];
        recovered = groupsCaughtUp(groups, target);
        break;
      }
      case 'clock-jump': {
        // Host 0 steps back 10 minutes (late events), host 1 (if any) forward an hour.
        synthetic.jump(0, -600e9);
        if (HOSTS > 1) synthetic.jump(1, 3600e9);
        await sleep(2000);
        const after = await eventsEnd();
        recovered = groupsCaughtUp(groups, after);
        break;
      }
      case 'malformed-records': {
        await producer.connect();
        const topics = [...new Set([TOPIC.events, TOPIC.hints, ...SINK_TOPICS.filter((t) => t !== TOPIC.dlq)])];
        for (const topic of topics) {
          const key = topic === TOPIC.hints ? `${agentHost}|1|1|${4096 * (1 + Math.floor(rnd() * 1000))}` : topic === TOPIC.events ? 'chaos-bad-host' : agentHost;
          const small = Buffer.from(Array.from({ length: 64 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
          const big = Buffer.alloc(topic === TOPIC.events ? 3 * MiB : 900 * 1024, Math.floor(rnd() * 256));
          for (const [what, value] of [['malformed', small], ['oversized', big]] as const) {
            const [meta] = await producer.send({ topic, acks: -1, messages: [{ key, value }] });
            injected.push({ topic, partition: meta!.partition, offset: Number(meta!.baseOffset), what });
          }
        }
        const after = await eventsEnd();
        recovered = groupsCaughtUp(groups, after);
        break;
      }
      case 'ring-overrun': {
        // Raw mode, small ring: a churn burst faults faster than the drain empties the ring.
        run.pause.on = true;
        while (!run.pause.idle) await sleep(50);
        const before = await agentRingLoss(metricsPort);
        // The drain held (agent SIGSTOPped) for the burst, as a collector descheduled under load is: a
        // free-running drain kept up with the burst under load average 11 (0 lost), and lost 7 912 of
        // 65 536 on a quieter machine. The BPF programs run on regardless; only the reader stops.
        agent.signal('SIGSTOP');
        try {
          await memtouch.send(`churn ${BURST_MIB} 1`);
        } finally {
          agent.signal('SIGCONT');
        }
        const afterBurst = await agentRingLoss(metricsPort);
        const burstLost = totalLoss(afterBurst) - totalLoss(before);
        note = `${RING_KIB} KiB ring, churn ${BURST_MIB} MiB: the kernel counted ${burstLost} lost (${totalLoss(afterBurst)} in this agent run)`;
        // Recovered once the wire has carried the kernel's count (per family and CPU) into ClickHouse.
        let last: RingLossCheck | undefined;
        recovered = async () => {
          const kernel = await agentRingLoss(metricsPort);
          const [run0] = await endpointQuery<{ collector_id: string }>(chUrl, DATABASE, NEWEST_AGENT_RUN_SQL(agentHost));
          if (!run0) return false;
          const wire = lossFromRows(await endpointQuery(chUrl, DATABASE, COLLECTOR_LOSS_SQL(run0.collector_id)));
          last = { at: `ring-overrun ${i + 1}`, collectorId: run0.collector_id, kernel: lossObject(kernel), clickhouse: lossObject(wire), burstLost, equal: sameLoss(kernel, wire) };
          return last.equal && (await groupsCaughtUp([SINK_GROUP], target)());
        };
        restartAfter = async () => {
          run.pause.on = false;
          ringChecks.push(last ?? { at: `ring-overrun ${i + 1}`, collectorId: '', kernel: lossObject(afterBurst), clickhouse: {}, burstLost, equal: false });
        };
        break;
      }
      case 'restart-endpoint': {
        // A fixed query over rows already written (synthetic host 0's batches so far) must answer the same after the restart.
        const id = synthetic.hosts[0]!.collectorId;
        const [top] = await endpointQuery<{ m: string }>(chUrl, DATABASE, `SELECT max(sequence) AS m FROM collector_batches WHERE collector_id = '${id}'`);
        const query = `SELECT sequence, events, kafka_partition, kafka_offset FROM collector_batches WHERE collector_id = '${id}' AND sequence <= ${Number(top?.m ?? 0)} ORDER BY sequence`;
        const rowsBefore = JSON.stringify(await endpointQuery(chUrl, DATABASE, query));
        await endpoint.kill();
        endpoint.start();
        groups = [SINK_GROUP];
        let answered: string | undefined;
        recovered = async () => {
          answered = JSON.stringify(await endpointQuery(chUrl, DATABASE, query));
          return groupsCaughtUp(groups, target)();
        };
        restartAfter = async () => {
          const rows = (JSON.parse(rowsBefore) as unknown[]).length;
          endpointChecks.push({ rows, sameRows: answered === rowsBefore, query });
          note = `fixed query ${rows} rows, ${answered === rowsBefore ? 'the same' : 'DIFFERENT'} after the restart`;
        };
        break;
      }
    }
    const released = Date.now();
    const ok = await waitFor(`recovery from ${f.kind}`, recovered);
    const end = Date.now();
    await restartAfter?.();
    const rec: FaultRecord = { kind: f.kind, atMs: at - t0, holdS: isHeld ? f.holdS : 0, recoveryMs: ok ? end - at : null, afterReleaseMs: ok ? end - released : null, ...(note ? { note } : {}) };
    faults.push(rec);
    if (note) notes.push(`${f.kind}: ${note}`);
    log(`  recovered in ${rec.recoveryMs ?? 'never'} ms (${rec.afterReleaseMs ?? '-'} ms after release)${note ? `; ${note}` : ''}`);
  }
  await producer.disconnect().catch(() => undefined);

  log('stopping the load; draining');
  run.stopping = true;
  await Promise.all([workload, hinter]);
  // The workload is done: the kernel's count is final for this agent run, and its stop sends a last batch if the wire is behind.
  const finalKernelLoss = await agentRingLoss(metricsPort).catch(() => undefined);
  await hintProducer.disconnect().catch(() => undefined);
  await synthetic.stop(RECOVERY_TIMEOUT_MS);
  const unacked = synthetic.hosts.reduce((n, h) => n + h.queued, 0);
  const finalTarget = await eventsEnd();
  log('waiting for the processors to finish the input');
  await waitFor('processors to finish the input', groupsCaughtUp([PROCESSOR_GROUP], finalTarget));
  log('stopping the agent');
  const agentExit = await agent.stop();
  await waitFor("processors to finish the agent's last batches", async () => groupsCaughtUp([PROCESSOR_GROUP], await eventsEnd())());
  log('stopping the processors');
  const procExits = await Promise.all(procs.map((p) => p.stop()));
  // The sink is done when it has committed the whole events topic, and past the last record of every
  // other topic it reads (read here to its end, read_committed: their ends are past commit markers).
  log('waiting for the sink: the events topic');
  await waitFor('the sink to write the events topic', async () => caughtUp(await committed(await admin.get(), SINK_GROUP, [TOPIC.events]), await eventsEnd()));
  const others = SINK_TOPICS.filter((t) => t !== TOPIC.events);
  let read: ReadToEnd;
  for (let pass = 1; ; pass++) {
    log(`reading ${others.length} topics to their ends (pass ${pass})`);
    read = await readTopicsToEnd(cluster.kafka, await admin.get(), others, 60_000);
    const target = read.nextAfterData;
    await waitFor('the sink to write every other topic', async () => caughtUp(await committed(await admin.get(), SINK_GROUP, others), target));
    // Dead letters the sink sent meanwhile are records it reads too: read again until nothing was added.
    const dlqNow = await endOffsets(await admin.get(), [TOPIC.dlq]);
    if ([...dlqNow].every(([k, v]) => read.ends.get(k) === v) || pass >= 5) break;
  }
  log('stopping the sink and the endpoint');
  const sinkExit = await sink.stop();
  const endpointExit = await endpoint.stop();
  // Kafka's own committed view of the hints (read_committed, as the sink reads): tells a duplicate the
  // processors committed from one the sink added.
  const hintRecords = read.records.filter((r) => r.topic === TOPIC.hints);
  const kafkaHints = new Map<string, string[]>();
  for (const r of hintRecords) {
    if (r.value === null) continue;
    try {
      const id = decodeHint(r.value).hintId;
      (kafkaHints.get(id) ?? kafkaHints.set(id, []).get(id)!).push(`${r.partition}@${r.offset}`);
    } catch {
      // a malformed record the chaos run wrote itself
    }
  }
  const kafkaHintCheck = {
    name: 'hints topic (read_committed): no Hint committed twice',
    ok: read.complete && [...kafkaHints.values()].every((at) => at.length === 1),
    detail: { readToEnd: read.complete, records: hintRecords.length, distinct: kafkaHints.size, twice: [...kafkaHints].filter(([, at]) => at.length > 1).slice(0, 5) },
  };
  const canaryAfter = smapsRollup(canary.pid);
  await admin.reset();

  // The kernel's side of the hints: the pinned map, read once the agent is gone.
  const hintMap = openHintMap(pin);
  const mapEntries = hintMap.entries();
  hintMap.close();

  log('reading the ledger');
  const ch = await createClickHouseClient({ database: DATABASE, dataDir: chDir });
  let ledger;
  try {
    const [finalRun] = await ch.queryRows<{ collector_id: string }>(NEWEST_AGENT_RUN_SQL(agentHost));
    if (finalRun) {
      const wire = lossFromRows(await ch.queryRows(COLLECTOR_LOSS_SQL(finalRun.collector_id)));
      const kernel = finalKernelLoss ?? new Map<string, number>();
      ringChecks.push({ at: 'end (clean stop)', collectorId: finalRun.collector_id, kernel: lossObject(kernel), clickhouse: lossObject(wire), equal: finalKernelLoss !== undefined && sameLoss(kernel, wire) });
    }
    ledger = await checkLedger(ch, {
      synthetic: synthetic.hosts,
      injected,
      canaryHost: agentHost,
      canaryPid: canary.pid,
      agentHost,
      hintMap: mapEntries,
      regionShift: REGION_SHIFT,
    });
  } finally {
    await ch.close();
  }
  const canaryCheck = {
    name: 'canary smaps_rollup unchanged (Rss, AnonHugePages)',
    ok: canaryBefore.rssKb === canaryAfter.rssKb && canaryBefore.anonHugeKb === canaryAfter.anonHugeKb,
    detail: { before: canaryBefore, after: canaryAfter },
  };
  const exits = { agent: agentExit, processors: procExits, sink: sinkExit, endpoint: endpointExit };
  const exitCheck = {
    name: 'clean exits at the end, no crash the harness did not cause',
    ok: agentExit === 0 && procExits.every((c) => c === 0) && sinkExit === 0 && endpointExit === 0 && services.every((s) => s.unexpectedExits.length === 0),
    // A stop that was SIGKILLed (exit null) or failed says why in the end of its stderr.
    detail: {
      exits,
      how: Object.fromEntries(services.map((s) => [s.name, s.lastExit()])),
      unexpected: services.flatMap((s) => s.unexpectedExits),
      tails: Object.fromEntries(
        [['agent', agentExit, agent], ...procs.map((p, i) => [`processor-${i}`, procExits[i], p] as const), ['sink', sinkExit, sink], ['endpoint', endpointExit, endpoint]]
          .filter(([, code]) => code !== 0)
          .map(([name, , svc]) => [name, (svc as Service).tail().slice(-2500)]),
      ),
    },
  };
  const recoveryCheck = { name: 'every fault recovered', ok: faults.every((f) => f.recoveryMs !== null), detail: faults.filter((f) => f.recoveryMs === null) };
  const overruns = ringChecks.filter((c) => c.burstLost !== undefined);
  const ringCheck = {
    name: 'ring-buffer loss counted: the kernel\'s count = collector_loss in ClickHouse, per family and CPU (each overrun really lost records)',
    ok: ringChecks.length > 0 && ringChecks.every((c) => c.equal) && overruns.every((c) => (c.burstLost ?? 0) > 0) && overruns.length === faults.filter((f) => f.kind === 'ring-overrun').length,
    detail: ringChecks,
  };
  const endpointCheck = {
    name: 'restart-endpoint: the fixed query answers the same rows after the restart',
    ok: endpointChecks.every((c) => c.sameRows && c.rows > 0) && endpointChecks.length === faults.filter((f) => f.kind === 'restart-endpoint').length,
    detail: endpointChecks.map((c) => ({ rows: c.rows, sameRows: c.sameRows })),
  };
  const checks = [...ledger.checks, kafkaHintCheck, canaryCheck, exitCheck, recoveryCheck, ringCheck, endpointCheck];
  const byKind: Record<string, { count: number; recoveryMsP50?: number; recoveryMsMax?: number; afterReleaseMsP50?: number; afterReleaseMsMax?: number }> = {};
  for (const f of faults) {
    const done = faults.filter((x) => x.kind === f.kind && x.recoveryMs !== null);
    const p = percentiles(done.map((x) => x.recoveryMs!));
    const r = percentiles(done.map((x) => x.afterReleaseMs!));
    byKind[f.kind] = {
      count: faults.filter((x) => x.kind === f.kind).length,
      ...(p ? { recoveryMsP50: p.p50, recoveryMsMax: p.max } : {}),
      ...(r ? { afterReleaseMsP50: r.p50, afterReleaseMsMax: r.max } : {}),
    };
  }
  const sent = synthetic.hosts.reduce((n, h) => n + h.ackedEvents, 0);
  const loadS = (Date.now() - t0 - warmMs) / 1000;
  if (!checks.every((c) => c.ok)) for (const s of services) console.error(`--- ${s.name} stderr tail ---\n${s.tail().slice(-3000)}`);
  return {
    ok: checks.every((c) => c.ok),
    command: `node dist/bench/chaos.js ${args.join(' ')}`.trim(),
    seed: SEED,
    minutes: MINUTES,
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    machine: machine(),
    date: new Date().toISOString(),
    warmUpS: Math.round(warmMs / 1000),
    synthetic: {
      hosts: HOSTS,
      targetEventsPerSecond: RATE,
      ackedEvents: sent,
      ackedBatches: synthetic.hosts.reduce((n, h) => n + h.acked.length, 0),
      failedSends: synthetic.hosts.reduce((n, h) => n + h.failedSends, 0),
      unackedAtEnd: unacked,
      achievedEventsPerSecond: Math.round(sent / loadS),
    },
    hintsSent,
    hintMapEntries: mapEntries.length,
    faults: byKind,
    faultLog: faults,
    notes,
    ringBufferKib: RING_KIB,
    ringLoss: ringChecks,
    drops: ledger.drops,
    deadLetters: ledger.deadLetters,
    checks,
    durationS: Math.round((Date.now() - t0) / 1000),
  };
}

const run: Run = {
  services: [],
  work: mkdtempSync(join(tmpdir(), 'pageloop-chaos-')),
  pin: `/sys/fs/bpf/pageloop-chaos-${process.pid}/pl_hints`,
  stopping: false,
  pause: { on: false, idle: false },
};
installSignalCleanup(() => cleanup(run), 40_000, log);

type Check = { name: string; ok: boolean; detail: unknown };
main(run)
  .catch((err: unknown) => {
    console.error(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return undefined;
  })
  .then(async (report) => {
    await cleanup(run);
    // Nothing this run started may outlive it (the broker's JVMs, the agent's BPF programs, a stopped sink).
    const left = leftovers();
    const leftCheck: Check = { name: 'no process of this run left after the cleanup', ok: left.length === 0, detail: left };
    if (!report) {
      if (!leftCheck.ok) console.error(`chaos: left behind: ${JSON.stringify(left)}`);
      process.exit(1);
    }
    (report.checks as Check[]).push(leftCheck);
    report.ok = report.ok && leftCheck.ok;
    if (JSON_OUT) console.log(JSON.stringify(report, null, 2));
    else {
      const r = report as unknown as { durationS: number; synthetic: { ackedEvents: number; achievedEventsPerSecond: number; failedSends: number }; faults: Record<string, { count: number; recoveryMsP50?: number; recoveryMsMax?: number; afterReleaseMsP50?: number; afterReleaseMsMax?: number }>; checks: Check[]; drops: Array<{ table: string; collectorId: string; family: string; dropped: number }> };
      console.log(`chaos run seed ${SEED}: ${report.ok ? 'LEDGER HOLDS' : 'LEDGER FAILS'} (${r.durationS} s)`);
      console.log(`synthetic: ${r.synthetic.ackedEvents} events acked (${r.synthetic.achievedEventsPerSecond}/s), ${r.synthetic.failedSends} failed sends retried`);
      for (const [k, v] of Object.entries(r.faults)) {
        console.log(`  ${k.padEnd(18)} x${v.count}  recovery p50 ${v.recoveryMsP50 ?? '-'} ms, max ${v.recoveryMsMax ?? '-'} ms; after release p50 ${v.afterReleaseMsP50 ?? '-'} ms, max ${v.afterReleaseMsMax ?? '-'} ms`);
      }
      for (const c of r.checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.ok ? '' : `: ${JSON.stringify(c.detail)}`}`);
      for (const d of r.drops) console.log(`drop: ${d.table} ${d.collectorId} ${d.family} ${d.dropped}`);
    }
    process.exit(report.ok ? 0 : 1);
  });
