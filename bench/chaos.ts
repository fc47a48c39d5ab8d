/**
 * The chaos run (issue 15): the whole pipeline as separate processes under
 * load and seeded faults, then an exact ledger read from ClickHouse.
 *
 *   node dist/bench/chaos.js [--seed S] [--minutes M] [--rate EVENTS_PER_S] [--hosts N] [--batch EVENTS] [--json]
 *
 * Stack: a real broker (test/broker.ts, restarted on the same ports and data
 * directory), `pageloop sink` (embedded ClickHouse in a temp dir), two
 * `pageloop process` instances in one group, `pageloop agent` (probes,
 * collector and feedback on the real kernel, --allow-comm memtouch) watching
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
 * Exit status: 0 when the ledger holds (bench/chaos/ledger.ts), 1 if not.
 */
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { startTestBroker, freePort } from '../test/broker.js';
import { makeHint, identityOf, recordOf, sendHints } from '../test/feedback.js';
import { memtouchPath, startMemtouch, type Memtouch } from './workloads/memtouch.js';
import { createClickHouseClient } from '../clickhouse/client.js';
import { DATABASE } from '../schemas/clickhouse-tables.js';
import { TOPIC } from '../schemas/topics.js';
import { SINK_TOPICS } from '../sink/rows.js';
import { prng } from '../lib/prng.js';
import { machine } from './stats.js';
import { pageloopService, type Service } from './chaos/service.js';
import { faultSchedule, percentiles, type FaultKind, type PlannedFault } from './chaos/schedule.js';
import { startSyntheticLoad } from './chaos/synthetic.js';
import { checkLedger, type InjectedRecord } from './chaos/ledger.js';

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
const JSON_OUT = args.includes('--json');
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
  recoveryMs: number | null;
  note?: string;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pageloop-chaos-'));
  const chDir = join(work, 'clickhouse');
  const pin = `/sys/fs/bpf/pageloop-chaos-${process.pid}/pl_hints`;
  const agentHost = `chaos-agent-${process.pid}`;
  const services: Service[] = [];
  let memtouch: Memtouch | undefined;
  let canary: Memtouch | undefined;
  let stopping = false;
  const broker = await startTestBroker();
  const admin = adminOf(broker.kafka);
  const rnd = prng(SEED ^ 0xbad);
  try {
    log(`broker at ${broker.bootstrap}, work dir ${work}`);
    memtouch = await startMemtouch();
    const canaryBin = join(work, 'canary');
    copyFileSync(memtouchPath(), canaryBin);
    chmodSync(canaryBin, 0o755);
    canary = await startMemtouch(canaryBin);
    const canaryBase = await canary.map('c', 8, 'plain');
    await canary.send('touch c');
    const canaryBefore = smapsRollup(canary.pid);
    const held = await memtouch.map('held', 8, 'plain');
    await memtouch.send('touch held');

    const b = broker.bootstrap;
    const metricsPort = await freePort();
    const sink = pageloopService('sink', ['sink', '--brokers', b, '--clickhouse-dir', chDir, '--group', SINK_GROUP], { PAGELOOP_CLICKHOUSE_DIR: chDir });
    const procs = [0, 1].map((i) => pageloopService(`processor-${i}`, ['process', '--brokers', b, '--group', PROCESSOR_GROUP, '--instance', `chaos-p${i}`, '--quiet']));
    const agent = pageloopService(
      'agent',
      ['agent', '--brokers', b, '--host', agentHost, '--allow-comm', 'memtouch', '--hint-map', pin, '--per-process-per-minute', '600',
        '--pid', `${memtouch.pid},${canary.pid}`, '--metrics-port', String(metricsPort)],
      { PAGELOOP_HOST: agentHost },
    );
    services.push(sink, ...procs, agent);
    for (const s of services) s.start();

    // The workload: THP faults, base-page faults, collapses; and hints for memtouch and the canary.
    const mt = memtouch;
    const cn = canary;
    const workload = (async () => {
      for (let i = 0; !stopping; i++) {
        try {
          await mt.map(`t${i}`, 8, 'hugepage');
          await mt.send(`touch t${i}`);
          await mt.map(`p${i}`, 4, 'plain');
          await mt.send(`touch p${i} 4096`);
          await mt.send(`collapse p${i}`).catch(() => undefined); // EAGAIN under memory pressure is fine
          await mt.send(`unmap t${i}`);
          await mt.send(`unmap p${i}`);
        } catch (err) {
          log(`memtouch: ${String(err)}`);
        }
        await sleep(250);
      }
    })();
    let hintsSent = 0;
    const hinter = (async () => {
      while (!stopping) {
        try {
          await sendHints(broker.kafka, [
            recordOf(makeHint(identityOf(agentHost, mt.pid), held, 4 * MiB, 'promote')),
            recordOf(makeHint(identityOf(agentHost, cn.pid), canaryBase, 4 * MiB, 'promote')),
          ]);
          hintsSent += 2;
        } catch {
          // broker away: the next round sends new hints
        }
        await sleep(3000);
      }
    })();

    const synthetic = startSyntheticLoad(broker.kafka, { seed: SEED, hosts: HOSTS, eventsPerSecond: RATE, batchEvents: BATCH });

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

    log('waiting for the stack to move (sink and processors caught up once, agent producing)');
    await waitFor('the first catch-up', async () => groupsCaughtUp([PROCESSOR_GROUP, SINK_GROUP], await eventsEnd())());
    await waitFor('the agent to produce', async () => (await agentProduced(metricsPort)) > 0);
    const warmMs = Date.now() - t0;

    const rounds = MINUTES <= 2 ? 1 : 1000;
    const schedule: PlannedFault[] = faultSchedule(SEED, rounds);
    const deadline = t0 + MINUTES * 60_000;
    const faults: FaultRecord[] = [];
    const injected: InjectedRecord[] = [];
    const producer = broker.kafka.producer({ allowAutoTopicCreation: false });
    for (const [i, f] of schedule.entries()) {
      if (rounds > 1 && i > 0 && Date.now() > deadline) break;
      await sleep(f.gapS * 1000);
      const target = await eventsEnd().catch(() => new Map() as Offsets);
      const at = Date.now();
      log(`fault ${i + 1}: ${f.kind}${f.kind.startsWith('stop') || f.kind === 'broker-restart' ? ` (${f.holdS} s)` : ''}`);
      let groups: string[] = [PROCESSOR_GROUP, SINK_GROUP];
      let recovered: () => Promise<boolean>;
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
          await broker.local.stop();
          await sleep(f.holdS * 1000);
          await broker.local.start();
          recovered = groupsCaughtUp(groups, target);
          break;
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
      }
      const ok = await waitFor(`recovery from ${f.kind}`, recovered);
      const rec: FaultRecord = { kind: f.kind, atMs: at - t0, holdS: f.kind.startsWith('stop') || f.kind === 'broker-restart' ? f.holdS : 0, recoveryMs: ok ? Date.now() - at : null };
      faults.push(rec);
      log(`  recovered in ${rec.recoveryMs ?? 'never'} ms`);
    }
    await producer.disconnect().catch(() => undefined);

    log('stopping the load; draining');
    stopping = true;
    await Promise.all([workload, hinter]);
    await synthetic.stop(RECOVERY_TIMEOUT_MS);
    const unacked = synthetic.hosts.reduce((n, h) => n + h.queued, 0);
    const finalTarget = await eventsEnd();
    await waitFor('processors to finish the input', groupsCaughtUp([PROCESSOR_GROUP], finalTarget));
    const agentExit = await agent.stop();
    await waitFor('processors to finish the agent\'s last batches', async () => groupsCaughtUp([PROCESSOR_GROUP], await eventsEnd())());
    const procExits = await Promise.all(procs.map((p) => p.stop()));
    // The sink is done when it has the whole events topic and its offsets on every topic stay put.
    let last = '';
    let stableSince = Date.now();
    await waitFor('the sink to write everything', async () => {
      const a = await admin.get();
      if (!caughtUp(await committed(a, SINK_GROUP, [TOPIC.events]), await eventsEnd())) return false;
      const now = JSON.stringify([...(await committed(a, SINK_GROUP, SINK_TOPICS))]);
      if (now !== last) {
        last = now;
        stableSince = Date.now();
      }
      return Date.now() - stableSince > 8000;
    });
    const sinkExit = await sink.stop();
    const canaryAfter = smapsRollup(canary.pid);
    await admin.reset();

    log('reading the ledger');
    const ch = await createClickHouseClient({ database: DATABASE, dataDir: chDir });
    let ledger;
    try {
      ledger = await checkLedger(ch, {
        synthetic: synthetic.hosts,
        injected,
        canaryHost: agentHost,
        canaryPid: canary.pid,
      });
    } finally {
      await ch.close();
    }
    const canaryCheck = {
      name: 'canary smaps_rollup unchanged (Rss, AnonHugePages)',
      ok: canaryBefore.rssKb === canaryAfter.rssKb && canaryBefore.anonHugeKb === canaryAfter.anonHugeKb,
      detail: { before: canaryBefore, after: canaryAfter },
    };
    const exits = { agent: agentExit, processors: procExits, sink: sinkExit };
    const exitCheck = { name: 'clean exits at the end, no crash the harness did not cause', ok: agentExit === 0 && procExits.every((c) => c === 0) && sinkExit === 0 && services.every((s) => s.unexpectedExits.length === 0), detail: { exits, unexpected: services.flatMap((s) => s.unexpectedExits) } };
    const recoveryCheck = { name: 'every fault recovered', ok: faults.every((f) => f.recoveryMs !== null), detail: faults.filter((f) => f.recoveryMs === null) };
    const checks = [...ledger.checks, canaryCheck, exitCheck, recoveryCheck];
    const ok = checks.every((c) => c.ok);
    const byKind: Record<string, { count: number; recoveryMsP50?: number; recoveryMsMax?: number }> = {};
    for (const f of faults) {
      const list = faults.filter((x) => x.kind === f.kind && x.recoveryMs !== null).map((x) => x.recoveryMs!);
      const p = percentiles(list);
      byKind[f.kind] = { count: faults.filter((x) => x.kind === f.kind).length, ...(p ? { recoveryMsP50: p.p50, recoveryMsMax: p.max } : {}) };
    }
    const sent = synthetic.hosts.reduce((n, h) => n + h.ackedEvents, 0);
    const loadS = (Date.now() - t0 - warmMs) / 1000;
    const report = {
      ok,
      seed: SEED,
      minutes: MINUTES,
      machine: machine(),
      date: new Date().toISOString(),
      synthetic: { hosts: HOSTS, targetEventsPerSecond: RATE, ackedEvents: sent, ackedBatches: synthetic.hosts.reduce((n, h) => n + h.acked.length, 0), failedSends: synthetic.hosts.reduce((n, h) => n + h.failedSends, 0), unackedAtEnd: unacked, achievedEventsPerSecond: Math.round(sent / loadS) },
      hintsSent,
      faults: byKind,
      faultLog: faults,
      drops: ledger.drops,
      checks,
      durationS: Math.round((Date.now() - t0) / 1000),
    };
    if (JSON_OUT) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`chaos run seed ${SEED}: ${ok ? 'LEDGER HOLDS' : 'LEDGER FAILS'} (${report.durationS} s)`);
      console.log(`synthetic: ${sent} events acked (${report.synthetic.achievedEventsPerSecond}/s), ${report.synthetic.failedSends} failed sends retried`);
      for (const [k, v] of Object.entries(byKind)) console.log(`  ${k.padEnd(18)} x${v.count}  recovery p50 ${v.recoveryMsP50 ?? '-'} ms, max ${v.recoveryMsMax ?? '-'} ms`);
      for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.ok ? '' : `: ${JSON.stringify(c.detail)}`}`);
      for (const d of ledger.drops) console.log(`drop: ${d.table} ${d.collectorId} ${d.family} ${d.dropped}`);
    }
    if (!ok) for (const s of services) console.error(`--- ${s.name} stderr tail ---\n${s.tail().slice(-2000)}`);
    return ok ? 0 : 1;
  } finally {
    stopping = true;
    for (const s of services) await s.stop(10_000).catch(() => undefined);
    memtouch?.kill();
    canary?.kill();
    await admin.reset();
    await broker.close().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    rmSync(dirname(pin), { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
