/**
 * The processors as a consumer group: throughput of 1, 2 and 3 `pageloop
 * process` instances over the same input, and the rebalance pause when an
 * instance is added, stopped (SIGTERM) or killed (SIGKILL) under load.
 *
 *   node dist/bench/rebalance.js [--seeds 60] [--windows 150] [--rate 600] [--session-timeout-ms 6000] [--skip-throughput] [--skip-pause]
 *
 * Input: synthetic fleet hosts (processors/synthetic.ts fleetRecords, seeds
 * 1..N, `--windows` windows each), spread over the 12 events partitions.
 *
 * Throughput: the input is produced first; K instances (one group per K)
 * start together; the clock starts once every instance holds partitions
 * and a quarter of the input is committed, and stops when all of it is:
 * input records (and bytes) per second committed, transactions included.
 *
 * Pause: the input is produced at `--rate` records/s (every partition gets
 * records every 100 ms) into a fresh topic while instances are added and
 * removed: 1 -> +2 -> +3 -> SIGTERM -> +1 -> SIGKILL -> +1 -> SIGTERM ... For
 * each event, the time from the add or kill to the first commit (offsets
 * polled every 50 ms) on every partition that changed owner, and on every
 * partition (kafkajs rebalances eagerly: every partition stops meanwhile).
 * A SIGKILLed instance's partitions wait for the session timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { produceRecords } from '../test/kafka-records.js';
import { waitForLeaders } from '../schemas/topics.js';
import { fleetRecords, type StreamRecord } from '../processors/synthetic.js';
import { retrying } from '../processors/topics.js';
import { machine, percentile } from './stats.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const PARTITIONS = 12;

interface Options {
  seeds: number;
  windows: number;
  rate: number;
  sessionTimeoutMs: number;
  throughput: boolean;
  pause: boolean;
}

function parse(argv: readonly string[]): Options {
  const o: Options = { seeds: 60, windows: 150, rate: 600, sessionTimeoutMs: 6000, throughput: true, pause: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const n = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a}: wants a positive number`);
      return v;
    };
    if (a === '--seeds') o.seeds = n();
    else if (a === '--windows') o.windows = n();
    else if (a === '--rate') o.rate = n();
    else if (a === '--session-timeout-ms') o.sessionTimeoutMs = n();
    else if (a === '--skip-throughput') o.throughput = false;
    else if (a === '--skip-pause') o.pause = false;
    else throw new Error(`unknown flag ${a}`);
  }
  return o;
}

interface Instance {
  name: string;
  proc: ChildProcess;
  /** Latest assignment this instance logged, and when. */
  assigned: number[] | undefined;
  assignedAt: number;
  /** Assignments logged (one per group generation this instance joined). */
  joins: number;
  exited: Promise<void>;
}

function startInstance(broker: TestBroker, group: string, events: string, name: string, sessionTimeoutMs: number | undefined): Instance {
  const proc = spawn(
    process.execPath,
    [MAIN, 'process', '--brokers', broker.bootstrap, '--group', group, '--instance', name, '--output-prefix', group, '--events-topic', events, ...(sessionTimeoutMs ? ['--session-timeout-ms', String(sessionTimeoutMs)] : [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const inst: Instance = { name, proc, assigned: undefined, assignedAt: 0, joins: 0, exited: new Promise((r) => proc.on('exit', () => r())) };
  let rest = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      const m = /assigned partitions \[([\d, ]*)\]/.exec(l);
      if (m) {
        inst.assigned = m[1]!.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
        inst.assignedAt = Date.now();
        inst.joins++;
      }
      if (/error|failed/i.test(l) && !/rebalanc|NOT_COORDINATOR|coordinator/i.test(l)) process.stderr.write(`${name}: ${l}\n`);
    }
  });
  return inst;
}

async function committedByPartition(admin: Admin, group: string, topic: string): Promise<Map<number, number>> {
  const res = await retrying(() => admin.fetchOffsets({ groupId: group, topics: [topic] }));
  return new Map((res[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

const sum = (m: ReadonlyMap<number, number>): number => [...m.values()].reduce((n, v) => n + Math.max(0, v), 0);

async function createTopic(admin: Admin, topic: string): Promise<void> {
  await admin.createTopics({ waitForLeaders: false, topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  await waitForLeaders(admin, [{ name: topic, partitions: PARTITIONS }]);
}

async function stopAll(instances: Instance[]): Promise<void> {
  for (const i of instances) if (i.proc.exitCode === null && i.proc.signalCode === null) i.proc.kill('SIGTERM');
  await Promise.all(instances.map((i) => i.exited));
}

async function throughput(broker: TestBroker, admin: Admin, input: readonly StreamRecord[], bytes: number, o: Options): Promise<void> {
  const events = 'bench-throughput.events';
  await createTopic(admin, events);
  await produceRecords(broker.kafka, events, input);
  for (const k of [1, 2, 3]) {
    const group = `tp-${k}`;
    // The default session timeout (30 s): a throughput run is not about failure detection.
    const instances = Array.from({ length: k }, (_, i) => startInstance(broker, group, events, `${group}-${i + 1}`, undefined));
    let t0 = 0;
    let c0 = 0;
    for (;;) {
      const c = sum(await committedByPartition(admin, group, events));
      const settled = instances.every((i) => (i.assigned?.length ?? 0) > 0) && instances.reduce((n, i) => n + (i.assigned?.length ?? 0), 0) === PARTITIONS;
      if (t0 === 0 && settled && c >= input.length / 4) {
        t0 = Date.now();
        c0 = c;
      }
      if (c >= input.length) break;
      await sleep(50);
    }
    const dt = (Date.now() - t0) / 1000;
    const recs = input.length - c0;
    console.log(`${k} instance(s): ${(recs / dt).toFixed(0)} records/s (${((recs / dt) * (bytes / input.length) / 2 ** 20).toFixed(2)} MiB/s of input), ${recs} records in ${dt.toFixed(2)} s after the group settled; group joins per instance ${instances.map((i) => i.joins).join(', ')}`);
    await stopAll(instances);
  }
}

async function pause(broker: TestBroker, admin: Admin, input: readonly StreamRecord[], o: Options): Promise<void> {
  const events = 'bench-pause.events';
  const group = 'rb';
  await createTopic(admin, events);
  // The hosts' input keeps arriving at --rate records/s, in event-time order, in 100 ms ticks.
  let producing = true;
  let at = 0;
  const producer = (async () => {
    const perTick = Math.max(1, Math.round(o.rate / 10));
    while (producing && at < input.length) {
      const started = Date.now();
      await produceRecords(broker.kafka, events, input.slice(at, at + perTick));
      at += perTick;
      await sleep(Math.max(0, 100 - (Date.now() - started)));
    }
  })();
  const live: Instance[] = [];
  const all: Instance[] = [];
  let n = 0;
  const add = (): Instance => {
    const inst = startInstance(broker, group, events, `rb-${++n}`, o.sessionTimeoutMs);
    live.push(inst);
    all.push(inst);
    return inst;
  };
  const owners = (): Map<number, string> => {
    const m = new Map<number, string>();
    for (const i of live) for (const p of i.assigned ?? []) m.set(p, i.name);
    return m;
  };
  /** Every live instance has logged an assignment since `since` and together they hold every partition once. */
  const settled = (since: number): boolean =>
    live.every((i) => i.assignedAt >= since) && live.reduce((k, i) => k + (i.assigned?.length ?? 0), 0) === PARTITIONS && owners().size === PARTITIONS;

  const moved: Record<string, number[]> = { add: [], sigterm: [], sigkill: [] };
  const every: Record<string, number[]> = { add: [], sigterm: [], sigkill: [] };
  const measure = async (kind: 'add' | 'sigterm' | 'sigkill', act: () => void): Promise<void> => {
    const before = owners();
    const offsets = await committedByPartition(admin, group, events);
    const t0 = Date.now();
    act();
    // Per partition, when (ms after t0) its committed offset was seen to advance, in order.
    const advances = new Map<number, number[]>();
    const last = new Map(offsets);
    let settledAt = 0;
    const resumedAt = (p: number, from: number): number | undefined => advances.get(p)?.find((t) => t >= from);
    for (;;) {
      if (Date.now() - t0 > 120_000) throw new Error(`${kind}: the group did not settle and resume every partition within 120 s`);
      const now = await committedByPartition(admin, group, events);
      const t = Date.now() - t0;
      for (const [p, off] of now) {
        if (off > (last.get(p) ?? -1)) {
          (advances.get(p) ?? advances.set(p, []).get(p)!).push(t);
          last.set(p, off);
        }
      }
      if (settledAt === 0 && settled(t0)) settledAt = Date.now();
      // Done once the group settled and every partition committed after its owner got it.
      if (settledAt > 0 && [...owners()].every(([p, owner]) => resumedAt(p, live.find((i) => i.name === owner)!.assignedAt - t0) !== undefined)) break;
      await sleep(50);
    }
    const after = owners();
    // A commit counts once the partition's current owner holds it: right after the event the old
    // owner may still commit a transaction it had begun, which is not the pause's end.
    const first = new Map([...after].map(([p, owner]) => [p, resumedAt(p, live.find((i) => i.name === owner)!.assignedAt - t0)!]));
    const movedHere = [...after].filter(([p, owner]) => before.get(p) !== owner).map(([p]) => first.get(p)!);
    moved[kind]!.push(...movedHere);
    every[kind]!.push(...first.values());
    console.log(`${kind}: ${live.length} live (joins ${live.map((i) => i.joins).join(', ')}); ${movedHere.length} partitions moved, first commit after ${movedHere.map((x) => (x / 1000).toFixed(2)).join(', ')} s; all partitions' max ${(Math.max(...first.values()) / 1000).toFixed(2)} s`);
    // Steady again before the next event.
    await sleep(2000);
  };

  try {
    const one = add();
    while ((one.assigned?.length ?? 0) !== PARTITIONS) await sleep(50);
    await sleep(3000);
    const plan: ('add' | 'sigterm' | 'sigkill')[] = ['add', 'add', 'sigterm', 'add', 'sigkill', 'add', 'sigterm', 'add', 'sigkill', 'add', 'sigterm', 'add'];
    for (const kind of plan) {
      if (at >= input.length) {
        console.log('input ran out: stopping the pause measurement early');
        break;
      }
      await measure(kind, () => {
        if (kind === 'add') add();
        else {
          const victim = live.shift()!;
          victim.proc.kill(kind === 'sigterm' ? 'SIGTERM' : 'SIGKILL');
        }
      });
    }
  } finally {
    producing = false;
    await producer;
    await stopAll(all);
  }
  const fmt = (xs: number[]): string => (xs.length === 0 ? 'none' : `p50 ${(percentile(xs, 50) / 1000).toFixed(2)} s, p99 ${(percentile(xs, 99) / 1000).toFixed(2)} s, max ${(Math.max(...xs) / 1000).toFixed(2)} s (${xs.length})`);
  for (const kind of ['add', 'sigterm', 'sigkill']) {
    console.log(`pause after ${kind}: moved partitions ${fmt(moved[kind]!)}; every partition ${fmt(every[kind]!)}`);
  }
  const allMoved = Object.values(moved).flat();
  console.log(`pause, add + SIGTERM (no session timeout): moved partitions ${fmt([...moved.add!, ...moved.sigterm!])}; all kinds ${fmt(allMoved)}`);
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  console.log(`node dist/bench/rebalance.js ${process.argv.slice(2).join(' ')}`);
  console.log(`machine: ${machine()}; ${new Date().toISOString()}`);
  const t = Date.now();
  const input: StreamRecord[] = [];
  for (let s = 1; s <= o.seeds; s++) input.push(...fleetRecords(1000 + s, o.windows));
  input.sort((a, b) => a.atNs - b.atNs);
  const bytes = input.reduce((n, r) => n + r.value.length, 0);
  console.log(`input: ${input.length} records, ${new Set(input.map((r) => r.key)).size} hosts, ${(bytes / 2 ** 20).toFixed(1)} MiB (generated in ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  const broker = await startTestBroker();
  const admin = broker.kafka.admin();
  await admin.connect();
  try {
    if (o.throughput) await throughput(broker, admin, input, bytes, o);
    if (o.pause) await pause(broker, admin, input, o);
  } finally {
    await admin.disconnect();
    await broker.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
