/**
 * Fleet simulator: N hosts' event streams into a real broker, processed by
 * K real `pageloop process` instances in one consumer group, each host's
 * hints acknowledged by a simulated agent. The streams are a real
 * recording (`pageloop record` of a workload on this machine) replayed per
 * host with its own identity (host, boot id, collector id, sequence) and
 * shifted event times, plus synthetic hosts that switch phase.
 *
 *   node dist/bench/fleet-sim.js --recording FILE [--hosts 2000] [--synthetic 0] [--seconds 60]
 *        [--instances 1] [--add-at S,...] [--kill-at S,...] [--brokers host:port] [--json]
 *
 * Without --brokers it starts its own broker (test/broker.ts), so it can also
 * report the broker's disk per host. Without --recording it first records
 * real programs (a gcc compile loop, Python start-ups; 15 s; root, BPF).
 *
 * What it prints: the recording's per-host rate (events/s, bytes/s), the
 * fleet's produced rate, the group's processed rate and lag (records and
 * seconds behind), every stall of the group's commits longer than 1 s
 * (a rebalance pause) after an --add-at/--kill-at, hints acknowledged, the
 * instances' and broker's CPU, and the instances' CPU time per event with
 * the hosts per core it implies at the recording's rate.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import kafkajs, { type Admin, type Producer } from 'kafkajs';
import { readRecordFile } from '../schemas/record-file.js';
import { TOPIC } from '../schemas/topics.js';
import type { EventBatch } from '../schemas/event-batch.js';
import { decodeEventBatch, encodeEventBatch } from '../schemas/event-batch-codec.js';
import { decodeHint, encodeHintAction } from '../schemas/derived.js';
import { CollectorStream, MB, SEC, faultSummary } from '../processors/synthetic.js';
import { startTestBroker, type TestBroker } from '../test/broker.js';
import { rebaseEventBatch } from './fleet/rebase.js';
import { ProtoWriter } from '../schemas/proto-writer.js';
import { percentile } from './stats.js';

const pct = (xs: readonly number[], p: number): number => (xs.length === 0 ? 0 : percentile(xs, p));

const { Kafka: KafkaClient, logLevel, CompressionTypes } = kafkajs;
const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TICK_MS = 100;
const GROUP = 'fleet-sim-processors';
/** Phases the hosts are spread over in their loop of the recording (at most; one per host below it). */
const PHASES = 256;

interface Options {
  recording?: string;
  hosts: number;
  synthetic: number;
  seconds: number;
  instances: number;
  addAt: number[];
  killAt: number[];
  brokers?: string;
  json: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { hosts: 2000, synthetic: 0, seconds: 60, instances: 1, addAt: [], killAt: [], json: false };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag}: wants a number >= ${min}, got '${v ?? ''}'`);
    return n;
  };
  const list = (flag: string, v: string | undefined): number[] => (v ?? '').split(',').filter(Boolean).map((x) => num(flag, x, 0));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    switch (a) {
      case '--recording': o.recording = v; i++; break;
      case '--hosts': o.hosts = Math.floor(num(a, v, 0)); i++; break;
      case '--synthetic': o.synthetic = Math.floor(num(a, v, 0)); i++; break;
      case '--seconds': o.seconds = num(a, v, 1); i++; break;
      case '--instances': o.instances = Math.floor(num(a, v, 1)); i++; break;
      case '--add-at': o.addAt = list(a, v); i++; break;
      case '--kill-at': o.killAt = list(a, v); i++; break;
      case '--brokers': o.brokers = v; i++; break;
      case '--json': o.json = true; break;
      default: throw new Error(`unknown flag ${a}`);
    }
  }
  if (o.hosts + o.synthetic === 0) throw new Error('--hosts/--synthetic: simulate at least one host');
  return o;
}

/** One recorded batch, its event time relative to the recording's start. */
interface TemplateRecord {
  readonly batch: EventBatch;
  readonly relNs: number;
  readonly events: number;
}

interface Template {
  readonly records: readonly TemplateRecord[];
  /** One loop of the recording, in event time (its span plus a second). */
  readonly loopNs: number;
  readonly events: number;
  readonly bytes: number;
  readonly hostsInRecording: number;
}

function eventCount(b: EventBatch): number {
  let n = 0;
  for (const v of Object.values(b)) if (v && typeof v === 'object' && 'rows' in v && typeof (v as { rows: unknown }).rows === 'number') n += (v as { rows: number }).rows;
  return n;
}

function loadTemplate(file: string): Template {
  const recorded = readRecordFile(file);
  const batches = recorded.map((r) => decodeEventBatch(r.value)).filter((b) => b.lastEventNs > 0);
  if (batches.length === 0) throw new Error(`${file}: no batch with events in the recording`);
  const start = Math.min(...batches.map((b) => b.firstEventNs));
  const end = Math.max(...batches.map((b) => b.lastEventNs));
  // A batch goes out after its last event: replayed in that order. (Its
  // first event can be much older: a summary carries its region's first
  // fault, so ordering by it sent a whole-run final sweep first and made
  // the rest of each loop late.)
  const records = batches.map((batch) => ({ batch, relNs: batch.lastEventNs - start, events: eventCount(batch) }));
  const bytes = recorded.reduce((s, r) => s + r.value.length, 0);
  return {
    records: records.sort((a, b) => a.relNs - b.relNs),
    loopNs: end - start + SEC,
    events: records.reduce((s, r) => s + r.events, 0),
    bytes,
    hostsInRecording: new Set(batches.map((b) => b.host)).size,
  };
}

/** Records real programs when no recording is given: a gcc compile loop and Python start-ups, 15 s at most. */
function recordDefault(dir: string): string {
  const out = join(dir, 'default.plrec');
  const work = `for i in $(seq 1 40); do gcc -O2 -c -o /dev/null -x c ${join(ROOT, 'bench/workloads/memtouch.c')}; python3 -c 'import json, decimal'; done`;
  const r = spawnSync(process.execPath, [MAIN, 'record', '--out', out, '--command', work, '--duration', '15'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`recording the default workload failed (exit ${r.status}): run as root, or give --recording`);
  return out;
}

/** EventBatch's identity fields as protobuf (field numbers from schemas/pageloop.proto), to follow a body encoded with placeholders. */
function identityFields(id: { host: string; bootId: string; collectorId: string; sequence: number }): Uint8Array {
  const w = new ProtoWriter(128);
  w.stringField(1, id.host);
  w.stringField(2, id.bootId);
  w.stringField(3, id.collectorId);
  // Written even when 0 (proto3 would skip it): it must replace the placeholder's.
  w.tag(4, 0);
  w.varint64(id.sequence);
  return w.finish();
}

/** Every host's stream: where it is in its loop of the template. */
interface HostCursor {
  readonly host: string;
  readonly bootId: string;
  readonly collectorId: string;
  readonly staggerNs: number;
  next: number;
  loop: number;
  sequence: number;
}

function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(parts[11]) + Number(parts[12])) / 100;
  } catch {
    return 0;
  }
}

/** Disk blocks in use under dir (Kafka preallocates sparse index files, so apparent sizes overstate). */
function diskBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    n += s.isDirectory() ? diskBytes(p) : s.blocks * 512;
  }
  return n;
}

/** Disk of the events topic's partitions in a broker's log directory. */
function eventsTopicDisk(logDir: string): number {
  return readdirSync(logDir)
    .filter((d) => d.startsWith(`${TOPIC.events}-`))
    .reduce((n, d) => n + diskBytes(join(logDir, d)), 0);
}

async function groupCommitted(admin: Admin, topic: string): Promise<{ committed: number; high: number }> {
  // Commits first: the end offsets read after them are never behind them.
  const offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  const committed = offsets[0]?.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0) ?? 0;
  return { committed, high: ends.reduce((s, p) => s + Number(p.high), 0) };
}

/** Set by SIGINT/SIGTERM: the run ends early through its one cleanup path (its broker and instances run detached or as children and would outlive it). */
let stopRequested = false;

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      process.stderr.write(`fleet-sim: ${sig}: stopping (again to exit at once, leaving the broker behind)\n`);
    });
  }
  const scratch = mkdtempSync(join(tmpdir(), 'pageloop-fleet-'));
  let broker: TestBroker | undefined;
  const children: ChildProcess[] = [];
  try {
    const template = loadTemplate(o.recording ?? recordDefault(scratch));
    const perHostEventsPerS = template.events / (template.loopNs / SEC);
    const perHostBytesPerS = template.bytes / (template.loopNs / SEC);
    if (!o.brokers) broker = await startTestBroker({ groupInitialRebalanceDelayMs: 0 });
    const bootstrap = o.brokers ?? broker!.bootstrap;
    const kafka = new KafkaClient({ clientId: 'fleet-sim', brokers: [bootstrap], logLevel: logLevel.NOTHING });
    const say = (line: string): void => void (o.json || process.stderr.write(`fleet-sim: ${line}\n`));
    say(`recording: ${template.records.length} batches, ${template.events} events over ${(template.loopNs / SEC).toFixed(1)} s: ${perHostEventsPerS.toFixed(0)} events/s, ${(perHostBytesPerS / 1024).toFixed(1)} KiB/s per host`);

    const spawnInstance = (i: number): ChildProcess => {
      // PAGELOOP_BENCH_NODE_ARGS: node flags for the instances (e.g. --cpu-prof), as bench/processors.ts takes.
      const nodeArgs = (process.env.PAGELOOP_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
      // PAGELOOP_BENCH_PROCESS_ARGS: flags for `pageloop process` (e.g. --checkpoint-input-ratio 0), to compare settings.
      const processArgs = (process.env.PAGELOOP_BENCH_PROCESS_ARGS ?? '').split(' ').filter(Boolean);
      const child = spawn(process.execPath, [...nodeArgs, MAIN, 'process', '--brokers', bootstrap, '--group', GROUP, '--instance', `fleet-${i}`, '--quiet', ...processArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => void (o.json || process.stderr.write(`[fleet-${i}] ${d}`)));
      children.push(child);
      return child;
    };
    for (let i = 0; i < o.instances; i++) spawnInstance(i);

    // Simulated agents: every hint acknowledged on pageloop.actions.v1 by its host.
    const acks = new Map<string, number>();
    const agentProducer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await agentProducer.connect();
    const agents = kafka.consumer({ groupId: `fleet-sim-agents-${process.pid}` });
    await agents.connect();
    await agents.subscribe({ topic: TOPIC.hints, fromBeginning: true });
    await agents.run({
      eachBatch: async ({ batch }) => {
        const actions = [];
        for (const m of batch.messages) {
          if (!m.value) continue;
          const hint = decodeHint(m.value);
          const host = hint.process.host;
          acks.set(host, (acks.get(host) ?? 0) + 1);
          actions.push({
            key: host,
            value: Buffer.from(
              encodeHintAction({ hintId: hint.hintId, process: hint.process, ...(hint.region ? { region: hint.region } : {}), action: hint.action, pageSizeKb: hint.pageSizeKb, outcome: 'dry_run', reason: 'fleet-sim agent', errno: 0, bytesAffected: 0, durationNs: 0, atNs: hint.issuedNs, cgroup: hint.cgroup }),
            ),
          });
        }
        if (actions.length > 0) await agentProducer.send({ topic: TOPIC.actions, messages: actions });
      },
    });

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    // One admin client for the lag samples (a connection per sample cost the simulator time it needs to produce).
    const admin = kafka.admin();
    await admin.connect();
    const simCpu0 = process.cpuUsage();
    const base = 1_000_000 * SEC;
    // Host i joins its loop at phase staggerNs: it is already running at the
    // start (its records before that phase are not sent), so the fleet sends
    // at the full rate from the first second. (Delaying each host's start by
    // its phase instead sent about half a loop less per host: 62% of the
    // rate in a 60 s run of a 45 s recording.)
    // Hosts share PHASES phases: a phase's hosts send the same batch at the same time, so
    // its body is rebased and encoded once per tick and only the identity is per host (see below).
    const phases = Math.min(o.hosts, PHASES);
    const cursors: HostCursor[] = Array.from({ length: o.hosts }, (_, i) => {
      const staggerNs = Math.floor(((i % phases) * template.loopNs) / phases) % template.loopNs;
      const first = template.records.findIndex((r) => r.relNs >= staggerNs);
      return {
        host: `sim-${String(i).padStart(5, '0')}`,
        bootId: `boot-sim-${i}`,
        collectorId: `collector-sim-${i}`,
        staggerNs,
        next: first === -1 ? template.records.length : first,
        loop: 0,
        sequence: 0,
      };
    });
    const synthetic = Array.from({ length: o.synthetic }, (_, i) => ({ stream: new CollectorStream(`synth-${String(i).padStart(5, '0')}`, `boot-synth-${i}`, `collector-synth-${i}`), lastS: -1 }));

    // The machine is shared: its load average goes with every figure.
    const loadavgAtStart = readFileSync('/proc/loadavg', 'utf8').trim();
    let producedRecords = 0;
    let producedEvents = 0;
    let producedBytes = 0;
    const t0 = performance.now();
    const samples: { atS: number; committed: number; high: number }[] = [];
    const scaleEvents: { atS: number; what: string }[] = [];
    const pending = [...o.addAt.map((s) => ({ atS: s, what: 'add' })), ...o.killAt.map((s) => ({ atS: s, what: 'kill' }))].sort((a, b) => a.atS - b.atS);
    let sampling: Promise<void> | undefined;
    let lastSample = -1;
    let nextInstance = o.instances;
    // Host time sent: the last tick's clock (a slow send at the end must not count as hosts sending less).
    let checked = 0;
    let hostS = 0;
    const sendMs: number[] = [];
    // Ticks over a second (the simulator falling behind its hosts), with the time spent building their records.
    const slowTicks: { atS: number; tickS: number; buildMs: number }[] = [];
    let lastBuildMs = 0;
    for (;;) {
      const elapsedS = (performance.now() - t0) / 1000;
      if (elapsedS >= o.seconds || stopRequested) break;
      if (hostS > 0 && elapsedS - hostS > 1 && slowTicks.length < 20) slowTicks.push({ atS: Number(hostS.toFixed(1)), tickS: Number((elapsedS - hostS).toFixed(2)), buildMs: Math.round(lastBuildMs) });
      hostS = elapsedS;
      const nowNs = elapsedS * SEC;
      const build0 = performance.now();
      const messages: { key: string; value: Buffer; timestamp: string }[] = [];
      const bodies = new Map<string, Uint8Array>();
      for (const c of cursors) {
        for (;;) {
          if (c.next >= template.records.length) {
            c.next = 0;
            c.loop++;
          }
          const rec = template.records[c.next]!;
          const dueNs = c.loop * template.loopNs + rec.relNs - c.staggerNs;
          if (dueNs > nowNs) break;
          // The batch's last event lands at base + dueNs: event time follows the send time.
          const shiftNs = base + dueNs - rec.batch.lastEventNs;
          // Encoding is most of the simulator's time (~100 µs a batch, mostly per call): the body is
          // encoded once per phase and tick with a placeholder identity, and this host's identity
          // fields follow it. A protobuf message's later fields win, so this decodes as the host's
          // own batch; checked on the first records.
          const bodyKey = `${c.next}/${c.loop}/${c.staggerNs}`;
          let body = bodies.get(bodyKey);
          if (!body) bodies.set(bodyKey, (body = encodeEventBatch(rebaseEventBatch(rec.batch, { host: 'h', bootId: 'b', collectorId: 'c', sequence: 0, shiftNs }))));
          const identity = { host: c.host, bootId: c.bootId, collectorId: c.collectorId, sequence: c.sequence++ };
          const value = Buffer.concat([body, identityFields(identity)]);
          if (checked < 200) {
            checked++;
            const want = decodeEventBatch(encodeEventBatch(rebaseEventBatch(rec.batch, { ...identity, shiftNs })));
            if (!isDeepStrictEqual(decodeEventBatch(value), want)) throw new Error(`fleet-sim: host ${c.host}'s record ${identity.sequence} does not decode as its rebased batch (the body + identity encoding is wrong)`);
          }
          messages.push({ key: c.host, value, timestamp: String(Date.now()) });
          producedEvents += rec.events;
          c.next++;
        }
      }
      const s = Math.floor(elapsedS);
      for (const h of synthetic) {
        if (h.lastS === s) continue;
        h.lastS = s;
        // Two phases of 30 s: 8 regions hot, then 8 others.
        const first = Math.floor(s / 30) % 2 === 0 ? 0 : 8;
        const t = base + s * SEC;
        const events = Array.from({ length: 8 }, (_, r) => faultSummary(t + r, 4242, 7 * SEC, 0x7f0000000000 + (first + r) * 2 * MB, 200));
        messages.push({ key: h.stream.host, value: Buffer.from(h.stream.batch(events)), timestamp: String(Date.now()) });
        producedEvents += events.length;
      }
      lastBuildMs = performance.now() - build0;
      // Requests of at most ~512 KiB before compression: a partition's record batch must stay under the broker's 1 MiB.
      for (let i = 0; i < messages.length; ) {
        let j = i;
        let bytes = 0;
        while (j < messages.length && (j === i || bytes + messages[j]!.value.length < 512 * 1024)) bytes += messages[j++]!.value.length;
        const sent0 = performance.now();
        await producer.send({ topic: TOPIC.events, compression: CompressionTypes.GZIP, acks: -1, messages: messages.slice(i, j) });
        sendMs.push(performance.now() - sent0);
        i = j;
      }
      producedRecords += messages.length;
      producedBytes += messages.reduce((n, m) => n + m.value.length, 0);
      while (pending.length > 0 && pending[0]!.atS <= elapsedS) {
        const ev = pending.shift()!;
        if (ev.what === 'add') spawnInstance(nextInstance++);
        else children.filter((c) => c.exitCode === null && c.signalCode === null)[0]?.kill('SIGKILL');
        scaleEvents.push({ atS: elapsedS, what: ev.what });
        say(`${ev.what} an instance at ${elapsedS.toFixed(1)} s`);
      }
      // One sample a second at most, none while the last is still out: a slow broker must not queue them up behind the run.
      if (s !== lastSample && sampling === undefined) {
        lastSample = s;
        sampling = (async () => {
          const g = await groupCommitted(admin, TOPIC.events).catch(() => undefined);
          if (g) samples.push({ atS: (performance.now() - t0) / 1000, ...g });
          sampling = undefined;
        })();
      }
      const spent = performance.now() - t0 - elapsedS * 1000;
      await sleep(Math.max(0, TICK_MS - spent));
    }
    // The hosts stopped here: rates are over this span.
    const wallS = (performance.now() - t0) / 1000;
    const simCpuS = ((u) => (u.user + u.system) / 1e6)(process.cpuUsage(simCpu0));
    await sampling;
    // Drain: how long the group needs to catch up once the hosts stop.
    const drainT0 = performance.now();
    let final = await groupCommitted(admin, TOPIC.events);
    while (final.committed < final.high && performance.now() - drainT0 < 120_000 && !stopRequested) {
      await sleep(250);
      final = await groupCommitted(admin, TOPIC.events);
    }
    const drainS = (performance.now() - drainT0) / 1000;
    // CPU after the drain, so it covers all the input. CPU time per event is
    // the figure a shared machine does not distort much (throughput it does):
    // hosts per core follow from it and the per-host rate.
    const cpu = children.map((c) => cpuSeconds(c.pid));
    const brokerCpu = broker ? cpuSeconds(Number(readFileSync(join(broker.local.config.dataDir, 'kafka.pid'), 'utf8'))) : 0;
    const drained = final.committed >= final.high;
    const processorCpuUsPerEvent = (cpu.reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, producedEvents);
    // A service host sends ~1 record/s of a few events: there the cost per record is the one that scales.
    const processorCpuUsPerRecord = (cpu.reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, producedRecords);
    const lags = samples.map((x) => x.high - x.committed);
    const recordsPerS = producedRecords / Math.max(hostS, 1e-3);
    // Stalls: seconds where the group's commits did not move while it had input waiting.
    const stalls: number[] = [];
    let stallFrom: number | undefined;
    for (let i = 1; i < samples.length; i++) {
      const moved = samples[i]!.committed > samples[i - 1]!.committed;
      const waiting = samples[i]!.high > samples[i]!.committed;
      if (!moved && waiting) stallFrom ??= samples[i - 1]!.atS;
      else if (stallFrom !== undefined) {
        stalls.push(samples[i]!.atS - stallFrom);
        stallFrom = undefined;
      }
    }
    const disk = broker ? eventsTopicDisk(join(broker.local.config.dataDir, 'data')) : undefined;
    const hosts = o.hosts + o.synthetic;
    const result = {
      hosts: o.hosts,
      synthetic: o.synthetic,
      seconds: Number(wallS.toFixed(1)),
      instancesAtStart: o.instances,
      scaleEvents,
      perHost: { eventsPerS: Number(perHostEventsPerS.toFixed(1)), wireBytesPerS: Number((producedBytes / hostS / hosts).toFixed(0)) },
      hostSeconds: Number(hostS.toFixed(1)),
      fleet: { eventsPerS: Math.round(producedEvents / hostS), recordsPerS: Math.round(recordsPerS), wireMiBPerS: Number((producedBytes / hostS / MB).toFixed(2)) },
      slowTicks,
      sendMs: { count: sendMs.length, p50: Math.round(pct(sendMs, 50)), p99: Math.round(pct(sendMs, 99)), max: Math.round(Math.max(0, ...sendMs)) },
      lagRecords: { p50: pct(lags, 50), p99: pct(lags, 99), max: Math.max(0, ...lags), end: final.high - final.committed },
      lagSeconds: { p50: Number((pct(lags, 50) / Math.max(1, recordsPerS)).toFixed(2)), max: Number((Math.max(0, ...lags) / Math.max(1, recordsPerS)).toFixed(2)) },
      drainS: Number(drainS.toFixed(1)),
      stallsS: { count: stalls.length, p50: Number(pct(stalls, 50).toFixed(2)), p99: Number(pct(stalls, 99).toFixed(2)), max: Number(Math.max(0, ...stalls).toFixed(2)) },
      hintsAcked: { hosts: acks.size, total: [...acks.values()].reduce((a, b) => a + b, 0) },
      cpuS: { instances: cpu.map((c) => Number(c.toFixed(1))), broker: Number(brokerCpu.toFixed(1)), simulator: Number(simCpuS.toFixed(1)) },
      // Only meaningful when the group drained all the input (else it did not process every event).
      drained,
      processorCpuUsPerEvent: Number(processorCpuUsPerEvent.toFixed(2)),
      processorCpuUsPerRecord: Number(processorCpuUsPerRecord.toFixed(1)),
      hostsPerProcessorCore: Math.floor(1e6 / (processorCpuUsPerEvent * perHostEventsPerS)),
      eventsTopicDiskBytes: disk,
      loadavg: { start: loadavgAtStart, end: readFileSync('/proc/loadavg', 'utf8').trim() },
      brokerDiskPerHostPerDayMiB: disk === undefined ? undefined : Number(((disk / hosts / hostS) * 86400 / MB).toFixed(1)),
    };
    if (o.json) console.log(JSON.stringify(result));
    else console.log(JSON.stringify(result, null, 2));
    await admin.disconnect();
    await agents.disconnect();
    await agentProducer.disconnect();
    await producer.disconnect();
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await sleep(500);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await broker?.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`fleet-sim: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
