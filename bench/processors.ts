/**
 * Stream processor benchmark: events per second one processor instance
 * consumes and scores from a real broker, how that scales with a second
 * instance in the group, the engine alone (no Kafka) and the wire decode
 * alone for reference, and the state kept per tracked region.
 *
 * Workload: 12 hosts (named so each lands on its own partition of
 * pageloop.events.v1), 20 processes x 100 regions of 2 MiB each; every host
 * sends one EventBatch of `--batch` events per second of event time: 90%
 * fault summaries on random (process, region) pairs, 6% raw faults, 2%
 * promotions, 1% swap-outs, 1% swap-ins, and a direct compaction. Windows
 * of 10 s: about one RegionScore per 20 events.
 *
 *   node --expose-gc dist/bench/processors.js [--events N] [--batch B] [--warm-share S] [--brokers host:port] [--skip-kafka] [--one] [--profile-dir DIR]
 *   node --expose-gc dist/bench/processors.js --compare "<flags A>" "<flags B>" [--rounds R]
 *   node --expose-gc dist/bench/processors.js --compare-engine <another build's root> [--rounds R]
 *   node --expose-gc dist/bench/processors.js --engine-pool [--rounds R]
 *
 * --compare runs one instance with `pageloop process` flags A and B, R
 * rounds on the same broker and input, which goes first alternating, and
 * prints each pair's ratio B/A and their median (paired: the machine's
 * drift hits both alike).
 * A flag of the form NAME=value is set in the instance's environment instead;
 * PAGELOOP_BENCH_ROOT=DIR runs the processor of the build in DIR (old code
 * against new: `--compare "PAGELOOP_BENCH_ROOT=/tmp/old" ""`), and
 * PAGELOOP_BENCH_NODE_ARGS=FLAG gives node a flag NODE_OPTIONS refuses.
 *
 * --compare-engine runs the engine alone (no Kafka) of this build and of
 * the one in DIR (a checkout with dist/ built) alternately on the workload.
 *
 * --engine-pool runs the 12 partitions' engines (no Kafka) in this thread,
 * in one worker and in two (processors/engine-host.ts) alternately: does one
 * instance's engine work spread over cores? The full run prints one pass of
 * each.
 *
 * Each run's clock starts once the instances have processed --warm-share
 * (0.25) of the input (16 M events by default): the rate is a warm
 * instance's, not that of a process still compiling its hot paths.
 *
 * Without --brokers it starts its own broker (test/broker.ts).
 * Before anything is timed on Kafka, one instance makes an unmeasured pass
 * over the input (a fresh broker JVM runs slower until its JIT has warmed).
 * With the broker started here, each run also reports the CPU seconds its
 * instances and the broker used (/proc/PID/stat), and those of the
 * instances' main thread and busiest other thread (/proc/PID/task): the
 * rate one instance could reach with a core for each.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs, { type Kafka } from 'kafkajs';
import type { ProbeEvent } from '../bpf/events.js';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { decodeEventBatch } from '../schemas/event-batch-codec.js';
import { decodeEventBatchTyped } from '../schemas/typed-decode.js';
import { TOPIC, declaredTopics, ensureTopics } from '../schemas/topics.js';
import { createProcessorConfig } from '../processors/config.js';
import { PartitionEngine, type OutRecord } from '../processors/engine.js';
import { localEngineHost, workerPoolEngineHost, type EngineHost, type KafkaMessage } from '../processors/engine-host.js';
import { produceRecords } from '../test/kafka-records.js';
import { retrying } from '../processors/topics.js';
import { stateSize } from '../processors/state.js';
import { CollectorStream, SEC, compaction, faultSummary, kcompactdWake, promotion, rawFault, swapIn, swapOut } from '../processors/synthetic.js';
import { parseProcStat, readProcStat } from '../lib/procfs.js';
import { machine, median } from './stats.js';

const { Partitioners } = kafkajs;
const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const str = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const EVENTS = opt('events', 16_000_000);
/**
 * Share of the input the instances process before a run's clock starts. A
 * fresh instance spends its first seconds in the interpreter and the
 * optimizing compiler (perf: TurboFan threads took about half of its CPU 3 s
 * into a run); a processor runs for days, so the steady state is what counts.
 */
const WARM_SHARE = opt('warm-share', 0.25);
const BATCH = opt('batch', 4096);
const PROCS = 20;
const REGIONS = 100;
const MB2 = 2 * 1024 * 1024;
const PAGELOOP_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** Host names that the default partitioner spreads one per partition. */
function spreadHosts(partitions: number): string[] {
  const byDefault = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  const hosts: string[] = new Array(partitions);
  let found = 0;
  for (let i = 0; found < partitions; i++) {
    const name = `bench-host-${i}`;
    const p = byDefault({ topic: TOPIC.events, partitionMetadata, message: { key: name, value: null } });
    if (hosts[p] === undefined) {
      hosts[p] = name;
      found++;
    }
  }
  return hosts;
}

function workload(events: number, batch: number): { key: string; value: Uint8Array }[] {
  const hosts = spreadHosts(12);
  const streams = hosts.map((h, i) => new CollectorStream(h, `boot-${i}`, `bench-${i}`));
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const out: { key: string; value: Uint8Array }[] = [];
  const batches = Math.ceil(events / batch);
  for (let b = 0; b < batches; b++) {
    const h = b % hosts.length;
    const second = Math.floor(b / hosts.length);
    const t0 = 1000 * SEC + second * SEC;
    const ev: ProbeEvent[] = [];
    for (let i = 0; i < batch; i++) {
      const p = Math.floor(rnd() * PROCS);
      const region = 0x7f0000000000 + Math.floor(rnd() * REGIONS) * MB2;
      const t = t0 + Math.floor((i / batch) * SEC);
      const pid = 1000 + p;
      const start = 1e9 + p;
      const x = rnd();
      if (x < 0.9) ev.push(faultSummary(t, pid, start, region, 1 + Math.floor(rnd() * 8)));
      else if (x < 0.96) ev.push(rawFault(t, pid, start, region + Math.floor(rnd() * 512) * 4096));
      else if (x < 0.98) ev.push(promotion(t, pid, start, region, rnd() < 0.5 ? 9 : 4, rnd() < 0.1));
      else if (x < 0.99) ev.push(swapOut(t, pid, start, region + Math.floor(rnd() * 512) * 4096));
      else ev.push(swapIn(t, pid, start, region + Math.floor(rnd() * 512) * 4096));
    }
    ev.push(compaction(t0 + SEC / 2, 2_000_000, 9, true));
    out.push({ key: hosts[h]!, value: streams[h]!.batch(ev) });
  }
  return out;
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
}

function engineOnly(records: { key: string; value: Uint8Array }[], events: number): { eventsPerSec: number; decodePerSec: number; typedDecodePerSec: number; outputs: number } {
  const config = createProcessorConfig();
  const rates: number[] = [];
  const decodes: number[] = [];
  const typedDecodes: number[] = [];
  let outputs = 0;
  const bufs = records.map((r) => Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength));
  for (let rep = 0; rep < 3; rep++) {
    let t = performance.now();
    for (const b of bufs) decodeEventBatch(b);
    decodes.push(events / ((performance.now() - t) / 1000));
    t = performance.now();
    for (const b of bufs) decodeEventBatchTyped(b);
    typedDecodes.push(events / ((performance.now() - t) / 1000));
    const engine = new PartitionEngine({ config, inputTopic: TOPIC.events }, 0);
    const out: OutRecord[] = [];
    t = performance.now();
    bufs.forEach((value, i) => engine.process({ offset: i, key: null, value, timestamp: '0' }, out));
    rates.push(events / ((performance.now() - t) / 1000));
    outputs = out.length;
  }
  return { eventsPerSec: median(rates), decodePerSec: median(decodes), typedDecodePerSec: median(typedDecodes), outputs };
}

/**
 * One round of a paired comparison: `a` and `b` in turn, which goes first
 * alternating with the round (a run leaves the heap, caches and broker to
 * the next, so a fixed order would favour one side).
 */
async function pairInTurn<T>(round: number, a: () => T | Promise<T>, b: () => T | Promise<T>): Promise<[T, T]> {
  if (round % 2 === 0) {
    const first = await a();
    return [first, await b()];
  }
  const first = await b();
  return [await a(), first];
}

/** The engine alone, this build's against the one in `root`: alternating passes, paired ratios this/that. */
async function engineAgainst(root: string, records: { key: string; value: Uint8Array }[], events: number, rounds: number): Promise<void> {
  interface Build {
    Engine: typeof PartitionEngine;
    config: ReturnType<typeof createProcessorConfig>;
  }
  const load = async (dir: string): Promise<Build> => {
    const engineModule = (await import(join(dir, 'dist/processors/engine.js'))) as { PartitionEngine: typeof PartitionEngine };
    const configModule = (await import(join(dir, 'dist/processors/config.js'))) as { createProcessorConfig: typeof createProcessorConfig };
    return { Engine: engineModule.PartitionEngine, config: configModule.createProcessorConfig() };
  };
  const builds = { that: await load(root), this: { Engine: PartitionEngine, config: createProcessorConfig() } };
  const bufs = records.map((r) => Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength));
  const gc = (globalThis as { gc?: () => void }).gc;
  const pass = (b: Build): number => {
    gc?.();
    const engine = new b.Engine({ config: b.config, inputTopic: TOPIC.events }, 0);
    let out: OutRecord[] = [];
    const t = performance.now();
    bufs.forEach((value, i) => {
      engine.process({ offset: i, key: null, value, timestamp: '0' }, out);
      if (out.length > 20_000) out = [];
    });
    return events / ((performance.now() - t) / 1000);
  };
  // One unmeasured pass each: both JITs warm before anything counts.
  pass(builds.that);
  pass(builds.this);
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const [that, here] = await pairInTurn(round, () => pass(builds.that), () => pass(builds.this));
    ratios.push(here / that);
    console.log(`round ${round + 1}: ${root} ${fmt(that)} events/s, this build ${fmt(here)} events/s, ratio ${(here / that).toFixed(3)}`);
  }
  const geomean = Math.exp(ratios.reduce((n, r) => n + Math.log(r), 0) / ratios.length);
  console.log(`engine alone, this build / ${root}: median ${median(ratios).toFixed(3)}, geomean ${geomean.toFixed(3)} over ${rounds} rounds (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`);
}

/** Records of one partition per host (as on the events topic), as kafkajs hands them over. */
function byPartition(records: { key: string; value: Uint8Array }[]): KafkaMessage[][] {
  const hosts = [...new Set(records.map((r) => r.key))];
  const parts = hosts.map((): KafkaMessage[] => []);
  for (const r of records) {
    const ms = parts[hosts.indexOf(r.key)]!;
    ms.push({ offset: String(ms.length), key: Buffer.from(r.key), value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength), timestamp: '0' });
  }
  return parts;
}

/** Records per partition per round: about what one 32 MiB fetch over 12 partitions brings. */
const POOL_CHUNK = 21;

/**
 * Events per second through an engine host: fresh engines for every
 * partition, then rounds of one chunk per partition, all applied at once and
 * awaited together (as the runner does a fetch's batches).
 */
async function throughHost(host: EngineHost, parts: readonly KafkaMessage[][], events: number): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  for (let p = 0; p < parts.length; p++) await host.open(p, null, -1);
  const longest = Math.max(...parts.map((ms) => ms.length));
  const t = performance.now();
  for (let i = 0; i < longest; i += POOL_CHUNK) {
    await Promise.all(parts.map((ms, p) => (i < ms.length ? host.apply(p, ms.slice(i, i + POOL_CHUNK), -1) : undefined)));
  }
  const rate = events / ((performance.now() - t) / 1000);
  for (let p = 0; p < parts.length; p++) host.close(p);
  return rate;
}

/** The engines in this thread, in one worker and in two: `rounds` alternating passes after one unmeasured pass each. */
async function enginePool(records: { key: string; value: Uint8Array }[], events: number, rounds: number, verbose: boolean): Promise<void> {
  const ctx = { config: createProcessorConfig(), inputTopic: TOPIC.events };
  const parts = byPartition(records);
  const fail = (err: Error): void => {
    throw err;
  };
  const hosts: [string, EngineHost][] = [
    ['this thread', localEngineHost(ctx)],
    ['1 worker', workerPoolEngineHost(ctx, 1, fail)],
    ['2 workers', workerPoolEngineHost(ctx, 2, fail)],
  ];
  try {
    for (const [, host] of hosts) await throughHost(host, parts, events);
    const rates = hosts.map((): number[] => []);
    for (let round = 0; round < rounds; round++) {
      // The order turns each round: a pass leaves the machine warm or hot for the next.
      const order = hosts.map((_, i) => (i + round) % hosts.length);
      for (const i of order) rates[i]!.push(await throughHost(hosts[i]![1], parts, events));
      if (verbose) console.log(`round ${round + 1}: ${hosts.map(([name], i) => `${name} ${fmt(rates[i]![round]!)}`).join(', ')} events/s`);
    }
    const ratios = (i: number): number[] => rates[i]!.map((r, k) => r / rates[0]![k]!);
    console.log(
      `engines of ${parts.length} partitions (no Kafka), median of ${rounds}: ` +
        hosts.map(([name], i) => `${name} ${fmt(median(rates[i]!))} events/s${i > 0 ? ` (x${median(ratios(i)).toFixed(2)})` : ''}`).join(', '),
    );
  } finally {
    for (const [, host] of hosts) await host.stop();
  }
}

async function committed(kafka: Kafka, groupId: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const res = await retrying(() => admin.fetchOffsets({ groupId, topics: [TOPIC.events] }));
    return res.flatMap((t) => t.partitions).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * `instances` processes of `pageloop process` in one group.
 * The clock starts once the group has settled (every instance holds
 * partitions, all 12 covered) and has committed WARM_SHARE of the input,
 * and stops when it has committed the whole input; the records committed
 * before the start are not counted.
 */
interface KafkaRunResult {
  eventsPerSec: number;
  seconds: number;
  /** CPU seconds the instances used while timed (user + system), and the broker's. */
  instanceCpuSeconds: number;
  brokerCpuSeconds: number;
  /**
   * CPU seconds of the instances' busiest main thread, and of every other
   * thread, busiest first (engine workers with --engine-workers, GC
   * helpers, compilers): with a core per thread, an instance cannot go
   * faster than its events over its busiest thread's seconds.
   */
  mainThreadCpuSeconds: number;
  otherThreadsCpuSeconds: number[];
}

/** USER_HZ: the unit of /proc/PID/stat times. */
const USER_HZ = 100;
/** CPU seconds of every thread of the pids so far, by pid/tid; threads that have exited keep their last sample. */
function sampleThreads(pids: readonly (number | undefined)[], last: Map<string, number>): void {
  for (const pid of pids) {
    if (pid === undefined) continue;
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited
    }
    for (const tid of tids) {
      try {
        last.set(`${pid}/${tid}`, parseProcStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')).cpuTicks / USER_HZ);
      } catch {
        // the thread ended between the listing and the read
      }
    }
  }
}

/** CPU seconds of each pid so far; a pid that has exited keeps its last sample. */
function sampleCpu(pids: readonly (number | undefined)[], last: Map<number, number>): number {
  let sum = 0;
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      last.set(pid, readProcStat(pid).cpuTicks / USER_HZ);
    } catch {
      // exited: its last sample stands
    }
    sum += last.get(pid) ?? 0;
  }
  return sum;
}

async function kafkaRun(kafka: Kafka, bootstrap: string, brokerPid: number | undefined, instances: number, records: number, eventsPerRecord: number, extraFlags: readonly string[] = []): Promise<KafkaRunResult> {
  const tag = `bench-${instances}-${Date.now()}`;
  const assigned = new Map<number, number[]>();
  const pids: (number | undefined)[] = [];
  // NAME=value among the flags is set in the instances' environment instead (e.g. glibc malloc tunables).
  const env: NodeJS.ProcessEnv = { ...process.env };
  const flags: string[] = [];
  for (const f of extraFlags) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(f);
    if (assignment) env[assignment[1]!] = assignment[2]!;
    else flags.push(f);
  }
  // Another build's processor (old code against new, on one broker and input).
  // Builds before the layout change had their entry point at dist/processors/run-main.js.
  const otherRoot = env.PAGELOOP_BENCH_ROOT;
  const otherMain = otherRoot && existsSync(join(otherRoot, 'dist/processors/run-main.js')) ? join(otherRoot, 'dist/processors/run-main.js') : otherRoot && join(otherRoot, 'dist/cli/main.js');
  const runMain = otherMain || PAGELOOP_MAIN;
  const profile = str('profile-dir');
  // Node/V8 flags that NODE_OPTIONS refuses (e.g. --single-threaded-gc), space-separated.
  const nodeArgs = (env.PAGELOOP_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const children = Array.from({ length: instances }, (_, i) => {
    const child = spawn(process.execPath, [...nodeArgs, ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : []), runMain, 'process', '--brokers', bootstrap, '--group', tag, '--instance', `${tag}-${i}`, '--output-prefix', tag, '--until-caught-up', ...flags], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    });
    pids.push(child.pid);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      for (const m of d.matchAll(/assigned partitions \[([0-9, ]*)\]/g)) assigned.set(i, m[1]!.split(',').filter((x) => x.trim() !== '').map(Number));
      if (/failed|rror/.test(d)) process.stderr.write(d);
    });
    return new Promise<void>((resolve, reject) =>
      child.on('exit', (code) => {
        exited++;
        if (code === 0) resolve();
        else reject(new Error(`instance ${i} exited ${code}`));
      }),
    );
  });
  let exited = 0;
  const settled = (): boolean => {
    if (assigned.size < instances) return false;
    const all = [...assigned.values()];
    return all.every((a) => a.length > 0) && new Set(all.flat()).size === 12 && all.reduce((n, a) => n + a.length, 0) === 12;
  };
  while (!settled()) {
    if (exited > 0) {
      await Promise.all(children);
      throw new Error('an instance exited before the group settled');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  while ((await committed(kafka, tag)) < records * WARM_SHARE) {
    if (exited > 0) {
      await Promise.all(children);
      throw new Error('an instance exited before it had warmed up');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = performance.now();
  const cpuSamples = new Map<number, number>();
  const brokerCpu0 = sampleCpu([brokerPid], cpuSamples);
  const instanceCpu0 = sampleCpu(pids, cpuSamples);
  let instanceCpu = instanceCpu0;
  const threads0 = new Map<string, number>();
  sampleThreads(pids, threads0);
  const threads = new Map(threads0);
  const before = await committed(kafka, tag);
  if (before >= records) {
    await Promise.all(children);
    throw new Error(`the whole input (${records} records) was processed during the warm-up share (${WARM_SHARE}): nothing left to time; give more --events or a smaller --warm-share`);
  }
  let after = before;
  while (after < records) {
    await new Promise((r) => setTimeout(r, 50));
    after = await committed(kafka, tag);
    instanceCpu = sampleCpu(pids, cpuSamples);
    sampleThreads(pids, threads);
  }
  let mainThreadCpuSeconds = 0;
  const otherThreadsCpuSeconds: number[] = [];
  for (const [thread, cpu] of threads) {
    const used = cpu - (threads0.get(thread) ?? 0);
    const [pid, tid] = thread.split('/');
    if (pid === tid) mainThreadCpuSeconds = Math.max(mainThreadCpuSeconds, used);
    else otherThreadsCpuSeconds.push(used);
  }
  otherThreadsCpuSeconds.sort((x, y) => y - x);
  const seconds = (performance.now() - t0) / 1000;
  const brokerCpuSeconds = sampleCpu([brokerPid], cpuSamples) - brokerCpu0;
  await Promise.all(children);
  return { eventsPerSec: ((after - before) * eventsPerRecord) / seconds, seconds, instanceCpuSeconds: instanceCpu - instanceCpu0, brokerCpuSeconds, mainThreadCpuSeconds, otherThreadsCpuSeconds };
}

async function stateBytesPerRegion(): Promise<{ heapBytes: number; checkpointBytes: number; regions: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc for the state measurement');
  const config = createProcessorConfig();
  const K_PROCS = 100;
  const K_REGIONS = 1000;
  const stream = new CollectorStream('mem-host', 'boot', 'mem');
  const batches: Uint8Array[] = [];
  for (let p = 0; p < K_PROCS; p++) {
    const ev: ProbeEvent[] = [];
    for (let r = 0; r < K_REGIONS; r++) ev.push(faultSummary(1000 * SEC + p * 1000 + r, 5000 + p, 1e9 + p, 0x7f0000000000 + r * MB2, 50));
    batches.push(stream.batch(ev));
  }
  // A tick past the window: it closes, so what remains is the steady state of a tracked region.
  const tick = stream.batch([kcompactdWake(1000 * SEC + 13 * SEC)]);
  // gc() returns before dead array buffers are swept: let the sweepers finish, or garbage counts as state.
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await settle();
  // Heap plus typed-array backing stores (the engine's fault rows live outside the JS heap).
  const used = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  const engine = new PartitionEngine({ config, inputTopic: TOPIC.events }, 0);
  let out: OutRecord[] = [];
  batches.forEach((b, i) => engine.process({ offset: i, key: null, value: Buffer.from(b), timestamp: '0' }, out));
  engine.process({ offset: batches.length, key: null, value: Buffer.from(tick), timestamp: '0' }, out);
  out = [];
  batches.length = 0;
  await settle();
  const heap = used() - before;
  const regions = stateSize(engine.state).regions;
  const checkpoint = engine.checkpoint().length;
  return { heapBytes: heap / regions, checkpointBytes: checkpoint / regions, regions };
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const mem = await stateBytesPerRegion();
  console.log(`state per tracked region: ${mem.heapBytes.toFixed(0)} B of memory (heap and array buffers), ${mem.checkpointBytes.toFixed(0)} B in a checkpoint (${fmt(mem.regions)} regions, scored once, window closed)`);

  const records = workload(EVENTS, BATCH);
  const events = records.length * BATCH + records.length;
  const bytes = records.reduce((n, r) => n + r.value.length, 0);
  console.log(`workload: ${fmt(events)} events in ${records.length} EventBatches of ${BATCH}, ${(bytes / 2 ** 20).toFixed(0)} MiB (${(bytes / events).toFixed(1)} B/event)`);

  const compareEngine = str('compare-engine');
  if (compareEngine) {
    await engineAgainst(compareEngine, records, events, opt('rounds', 10));
    return;
  }
  if (args.includes('--engine-pool')) {
    await enginePool(records, events, opt('rounds', 6), true);
    return;
  }
  const e = engineOnly(records, events);
  console.log(`engine alone (decode + process + encode outputs, one partition): ${fmt(e.eventsPerSec)} events/s; ${fmt(e.outputs)} outputs; wire decode alone ${fmt(e.decodePerSec)} events/s (decodeEventBatch), ${fmt(e.typedDecodePerSec)} events/s (the processors' typed decode)`);
  await enginePool(records, events, 1, false);
  if (args.includes('--skip-kafka')) return;

  let broker: TestBroker | undefined;
  const brokers = str('brokers');
  let kafka: Kafka;
  let bootstrap: string;
  if (brokers) {
    bootstrap = brokers;
    kafka = new kafkajs.Kafka({ clientId: 'pageloop-bench', brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, declaredTopics());
    await admin.disconnect();
  } else {
    // Kafka's default group.initial.rebalance.delay.ms (the test brokers use 0): instances started
    // together join one generation, so two instances share the input from its first record.
    broker = await startTestBroker({ groupInitialRebalanceDelayMs: 3000 });
    kafka = broker.kafka;
    bootstrap = broker.bootstrap;
  }
  try {
    const admin = kafka.admin();
    await admin.connect();
    const already = (await retrying(() => admin.fetchTopicOffsets(TOPIC.events))).reduce((n, o) => n + Number(o.high), 0);
    await admin.disconnect();
    if (already > 0 && !brokers) throw new Error('fresh broker expected');
    const t = performance.now();
    await produceRecords(kafka, TOPIC.events, records, { chunk: 40 });
    console.log(`pre-produced in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const total = already + records.length;
    // The broker's CPU is reported only for the broker started here.
    const brokerPid = broker ? (await broker.local.status()).pid : undefined;
    const perRecord = events / records.length;
    const eventsDone = (r: KafkaRunResult): number => r.eventsPerSec * r.seconds;
    const cpu = (r: KafkaRunResult): string =>
      `instance CPU ${r.instanceCpuSeconds.toFixed(1)} s (${fmt(eventsDone(r) / r.instanceCpuSeconds)} events per instance CPU-second; ` +
      `main thread ${r.mainThreadCpuSeconds.toFixed(1)} s, busiest others ${r.otherThreadsCpuSeconds.slice(0, 4).map((c) => c.toFixed(1)).join(', ')} s: ` +
      `${fmt(eventsDone(r) / Math.max(r.mainThreadCpuSeconds, r.otherThreadsCpuSeconds[0] ?? 0))} events/s with a core per thread at most)` +
      (brokerPid === undefined ? '' : `, broker CPU ${r.brokerCpuSeconds.toFixed(1)} s`);
    // A fresh broker JVM interprets and compiles its hot paths for its first seconds under load:
    // one unmeasured pass over the input first, so the runs compare the processors, not the JIT.
    const warm = await kafkaRun(kafka, bootstrap, brokerPid, 1, total, perRecord);
    console.log(`warm-up pass (not counted): ${fmt(warm.eventsPerSec)} events/s; ${cpu(warm)}`);
    const compare = args.indexOf('--compare');
    if (compare >= 0) {
      const flagsA = (args[compare + 1] ?? '').split(' ').filter((f) => f !== '');
      const flagsB = (args[compare + 2] ?? '').split(' ').filter((f) => f !== '');
      const ratios: number[] = [];
      for (let round = 0; round < opt('rounds', 3); round++) {
        // A run right after another is slower: an A/A comparison with A always first gave 0.85-0.92.
        const [a, b] = await pairInTurn(
          round,
          () => kafkaRun(kafka, bootstrap, brokerPid, 1, total, perRecord, flagsA),
          () => kafkaRun(kafka, bootstrap, brokerPid, 1, total, perRecord, flagsB),
        );
        ratios.push(b.eventsPerSec / a.eventsPerSec);
        console.log(`round ${round + 1}: A ${fmt(a.eventsPerSec)} events/s (${cpu(a)}), B ${fmt(b.eventsPerSec)} events/s (${cpu(b)}), B/A ${(b.eventsPerSec / a.eventsPerSec).toFixed(3)}`);
      }
      console.log(`A = [${flagsA.join(' ')}], B = [${flagsB.join(' ')}]: median B/A ${median(ratios).toFixed(3)} over ${ratios.length} rounds`);
      return;
    }
    const one = await kafkaRun(kafka, bootstrap, brokerPid, 1, total, perRecord);
    console.log(`one instance: ${fmt(one.eventsPerSec)} events/s (${one.seconds.toFixed(1)} s); ${cpu(one)}`);
    if (args.includes('--one')) return;
    const two = await kafkaRun(kafka, bootstrap, brokerPid, 2, total, perRecord);
    console.log(`two instances, one group: ${fmt(two.eventsPerSec)} events/s together (${two.seconds.toFixed(1)} s), x${(two.eventsPerSec / one.eventsPerSec).toFixed(2)}; ${cpu(two)}`);
  } finally {
    await broker?.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
