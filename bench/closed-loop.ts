/**
 * The closed loop, measured: a workload with a hot region (random 8-byte
 * reads, where translation cost matters) and a larger cold region (touched
 * once, then idle), run under THP never, THP for everything (MADV_HUGEPAGE on
 * all of it) and pageloop (collect -> Kafka -> processors -> hints ->
 * feedback). Reports hot-loop throughput, huge pages used (AnonHugePages),
 * RSS, and the latency from the end of the window whose events tipped a
 * region's score to the hint being in the kernel map.
 *
 *   node dist/bench/closed-loop.js [--hot-mib 128] [--cold-mib 512] [--rounds 6] [--loop-ms 5000]
 *
 * startClosedLoop() is also what the closed-loop test runs.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Kafka } from 'kafkajs';
import { DEFAULT_PROBES_CONFIG, createProbes } from '../bpf/probes.js';
import { createCollector, DEFAULT_COLLECTOR_CONFIG, type Collector } from '../collectors/collector.js';
import { createKafkaEventsProducer } from '../collectors/kafka-producer.js';
import { encodeCollectorBatch } from '../collectors/encode.js';
import { createReferencedSampler, createSamplers, DEFAULT_REFERENCED_SAMPLER_CONFIG } from '../collectors/samplers.js';
import { loadAddon } from '../bpf/native.js';
import { createProcessor, DEFAULT_RUNNER_CONFIG } from '../processors/runner.js';
import { createProcessorConfig } from '../processors/config.js';
import { processorTopics } from '../processors/topics.js';
import { createFeedbackAgent } from '../feedback/agent.js';
import { feedbackConfig } from '../feedback/config.js';
import { readBootId, readSmaps, smapsFieldInRange } from '../lib/procfs.js';
import type { HintAction } from '../schemas/derived.js';
import { startMemtouch, type Memtouch } from './workloads/memtouch.js';
import { machine, median, percentile } from './stats.js';

export interface ClosedLoopOptions {
  kafka: Kafka;
  pid: number;
  comm: string;
  hintMapPinPath: string;
  windowMs: number;
  onAction?: (a: HintAction) => void;
}

export interface ClosedLoop {
  actions: HintAction[];
  /** Stops the processors only: on a fleet they run off the host; the agent stays. */
  stopOffHost(): Promise<void>;
  stop(): Promise<void>;
}

/** The whole pipeline in this process, aimed at one workload. */
export async function startClosedLoop(o: ClosedLoopOptions): Promise<ClosedLoop> {
  const host = `loop-${randomUUID().slice(0, 8)}`;
  const addon = loadAddon();
  const probes = createProbes({
    ...DEFAULT_PROBES_CONFIG,
    families: ['fault', 'promotion', 'collapse', 'compaction', 'swap'],
    targets: { pids: [o.pid], cgroups: [] },
    hintMapPinPath: o.hintMapPinPath,
    faultSweepIntervalMs: Math.max(100, Math.floor(o.windowMs / 4)),
  }, { addon: loadAddon() });
  const collector: Collector = createCollector(
    { ...DEFAULT_COLLECTOR_CONFIG, host, bootId: readBootId(), instance: randomUUID(), batch: { ...DEFAULT_COLLECTOR_CONFIG.batch, maxDelayMs: 50 } },
    {
      probes,
      // Samplers keep event time moving while the workload is quiet, so windows close.
      samplers: createSamplers({ vmstatIntervalMs: Math.max(100, Math.floor(o.windowMs / 4)), psiIntervalMs: o.windowMs }, { clockNs: () => addon.bootTimeNs() }),
      referenced: createReferencedSampler(DEFAULT_REFERENCED_SAMPLER_CONFIG, { targets: () => collector.knownProcesses([o.pid]), clockNs: () => addon.bootTimeNs() }),
      producer: createKafkaEventsProducer(o.kafka, { compression: 'none', sendTimeoutMs: 10_000 }),
      encode: encodeCollectorBatch,
    },
  );
  const processor = createProcessor({ model: createProcessorConfig({ windowMs: o.windowMs, allowedLatenessMs: Math.floor(o.windowMs / 10) }), runner: { ...DEFAULT_RUNNER_CONFIG, groupId: `pageloop-processors-${host}`, instanceId: host, topics: processorTopics(), checkpointIntervalMs: 1000 } }, { kafka: o.kafka });
  const actions: HintAction[] = [];
  const feedback = createFeedbackAgent(
    feedbackConfig({
      host,
      allow: { comms: [o.comm], executables: [], cgroups: [] },
      rateLimits: { perProcessPerMinute: 10_000, perHostPerMinute: 10_000 },
      hintMapPinPath: o.hintMapPinPath,
    }),
    {
      kafka: o.kafka,
      hintMap: probes.hints(),
      onAction: (a) => {
        actions.push(a);
        o.onAction?.(a);
      },
    },
  );
  await processor.start();
  collector.start();
  await feedback.start();
  let processorStopped = false;
  const stopProcessor = async () => {
    if (!processorStopped) await processor.stop();
    processorStopped = true;
  };
  return {
    actions,
    stopOffHost: stopProcessor,
    async stop() {
      await feedback.stop();
      await collector.stop();
      await stopProcessor();
    },
  };
}

interface RunResult {
  opsPerSec: number;
  anonHugeKb: number;
  rssKb: number;
  coldSwapKb: number;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const HOT = opt('hot-mib', 128);
  const COLD = opt('cold-mib', 512);
  const ROUNDS = opt('rounds', 6);
  const LOOP_MS = opt('loop-ms', 5000);
  const SETTLE_S = opt('settle-s', 120);
  const { startTestBroker } = await import('../test/broker.js');
  const { ensureZramSwap } = await import('../deploy/zram.js');
  const NUMA = '/proc/sys/kernel/numa_balancing';
  const numaBefore = readFileSync(NUMA, 'utf8').trim();
  const broker = await startTestBroker();
  const swap = ensureZramSwap(4096);
  writeFileSync(NUMA, '1');
  // 'resident': the hot region in huge pages and the cold one resident, i.e.
  // what pageloop converges to but without the page-out, so that pageloop /
  // resident is the hot loop's cost of having the cold region in zram.
  const modes = ['never', 'everything', 'pageloop', 'resident'] as const;
  type Mode = (typeof modes)[number];
  const results: Record<string, RunResult> = {};
  const latencies: number[] = [];
  const inMap: number[] = [];
  const ratios: { pageloopVsEverything: number; neverVsEverything: number; pageloopVsResident: number }[] = [];
  const procs = new Map<Mode, { w: Memtouch; hot: number; cold: number }>();
  try {
    // All three workloads live side by side, so their hot loops can be
    // measured in alternation (paired, per round) on the same machine state.
    for (const mode of modes) {
      const w = await startMemtouch();
      await w.send('idlethread');
      const madv = mode === 'never' ? 'nohugepage' : mode === 'everything' ? 'hugepage' : 'plain';
      const hot = await w.map('hot', HOT, mode === 'resident' ? 'hugepage' : madv);
      await w.send('touch hot');
      const cold = await w.map('cold', COLD, mode === 'resident' ? 'nohugepage' : madv);
      await w.send('touch cold');
      procs.set(mode, { w, hot, cold });
    }
    const pl = procs.get('pageloop')!;
    const pin = `/sys/fs/bpf/pageloop-bench-${process.pid}/pl_hints`;
    const loop = await startClosedLoop({ kafka: broker.kafka, pid: pl.w.pid, comm: 'memtouch', hintMapPinPath: pin, windowMs: 1000 });
    const deadline = Date.now() + SETTLE_S * 1000;
    const t0 = Date.now();
    while (Date.now() < deadline) {
      await pl.w.send('hotloop hot 1000 99');
      const smaps = readSmaps(pl.w.pid);
      const huge = smapsFieldInRange(smaps, 'AnonHugePages', pl.hot, pl.hot + HOT * 2 ** 20);
      const swapped = smapsFieldInRange(smaps, 'Swap', pl.cold, pl.cold + COLD * 2 ** 20);
      if (huge >= HOT * 1024 && swapped >= 0.5 * COLD * 1024) break;
    }
    console.log(`pageloop converged in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    // Measured with the agent (probes, collector, samplers, feedback) still
    // running; the processors, which run off the host on a fleet, stopped:
    // on these 2 cores they would otherwise take CPU from the hot loop.
    await loop.stopOffHost();
    const perMode = new Map<Mode, number[]>(modes.map((m) => [m, []]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? modes : [...modes].reverse();
      const round = new Map<Mode, number>();
      for (const mode of order) {
        const ops = Number(await procs.get(mode)!.w.send(`hotloop hot ${LOOP_MS} ${r + 1}`)) / (LOOP_MS / 1000);
        round.set(mode, ops);
        perMode.get(mode)!.push(ops);
      }
      ratios.push({
        pageloopVsEverything: round.get('pageloop')! / round.get('everything')!,
        neverVsEverything: round.get('never')! / round.get('everything')!,
        pageloopVsResident: round.get('pageloop')! / round.get('resident')!,
      });
      console.log(`round ${r + 1}: ${modes.map((m) => `${m} ${(round.get(m)! / 1e6).toFixed(1)}M/s`).join(', ')}`);
    }
    await loop.stop();
    rmSync(dirname(pin), { recursive: true, force: true });
    for (const mode of modes) {
      const { w, hot, cold } = procs.get(mode)!;
      const smaps = readSmaps(w.pid);
      results[mode] = {
        opsPerSec: median(perMode.get(mode)!),
        anonHugeKb: smapsFieldInRange(smaps, 'AnonHugePages', hot, hot + HOT * 2 ** 20) + smapsFieldInRange(smaps, 'AnonHugePages', cold, cold + COLD * 2 ** 20),
        rssKb: smaps.reduce((n, e) => n + (e.fields.Rss ?? 0), 0),
        coldSwapKb: smapsFieldInRange(smaps, 'Swap', cold, cold + COLD * 2 ** 20),
      };
    }
    // Latency: from the end of the window that tipped the score (the hint's
    // issue time, event time) to the hint in the map, and to the madvise done.
    const issued = new Map<string, number>();
    const { readTopic } = await import('../test/broker.js');
    const { decodeHint } = await import('../schemas/derived.js');
    const { TOPIC } = await import('../schemas/topics.js');
    const applied = loop.actions.filter((a) => a.outcome === 'applied');
    await readTopic(
      broker.kafka,
      TOPIC.hints,
      (records) => {
        for (const r of records.splice(0)) {
          if (!r.value) continue;
          const h = decodeHint(r.value);
          issued.set(h.hintId, h.issuedNs);
        }
        return applied.every((a) => issued.has(a.hintId));
      },
      20_000,
    );
    for (const a of applied) {
      const at = issued.get(a.hintId);
      // The agent writes the map, then madvises (durationNs), then stamps atNs.
      if (at !== undefined) {
        inMap.push((a.atNs - a.durationNs - at) / 1e6);
        latencies.push((a.atNs - at) / 1e6);
      }
    }
  } finally {
    for (const { w } of procs.values()) await w.exit();
    writeFileSync(NUMA, numaBefore);
    swap.teardown();
    await broker.close();
  }
  const e = results.everything!;
  const p = results.pageloop!;
  const n = results.never!;
  const res = results.resident!;
  console.log(`\nmachine: ${machine()}`);
  console.log(`hot ${HOT} MiB (random 8-byte reads), cold ${COLD} MiB (touched once), ${ROUNDS} x ${LOOP_MS} ms hot loops per mode`);
  console.log(`THP never:       ${(n.opsPerSec / 1e6).toFixed(1)} M reads/s, AnonHugePages ${n.anonHugeKb} kB, RSS ${(n.rssKb / 1024).toFixed(0)} MiB`);
  console.log(`THP everything:  ${(e.opsPerSec / 1e6).toFixed(1)} M reads/s, AnonHugePages ${e.anonHugeKb} kB, RSS ${(e.rssKb / 1024).toFixed(0)} MiB`);
  console.log(`pageloop:        ${(p.opsPerSec / 1e6).toFixed(1)} M reads/s, AnonHugePages ${p.anonHugeKb} kB, RSS ${(p.rssKb / 1024).toFixed(0)} MiB, cold swapped ${(p.coldSwapKb / 1024).toFixed(0)} MiB`);
  console.log(`hot huge, cold resident: ${(res.opsPerSec / 1e6).toFixed(1)} M reads/s, AnonHugePages ${res.anonHugeKb} kB, RSS ${(res.rssKb / 1024).toFixed(0)} MiB`);
  // Median with the middle half of the per-round ratios: the spread says how far to trust a 1% difference.
  const spread = (xs: number[]) => `${(median(xs) * 100).toFixed(1)}% (p25 ${(percentile(xs, 25) * 100).toFixed(1)}%, p75 ${(percentile(xs, 75) * 100).toFixed(1)}%)`;
  console.log(`paired per round: pageloop / hot huge, cold resident ${spread(ratios.map((r) => r.pageloopVsResident))} (the hot loop's cost of the cold region in zram)`);
  console.log(`paired per round: pageloop / THP everything ${spread(ratios.map((r) => r.pageloopVsEverything))}; THP never / THP everything ${spread(ratios.map((r) => r.neverVsEverything))}`);
  console.log(`huge pages: pageloop ${((p.anonHugeKb / Math.max(1, e.anonHugeKb)) * 100).toFixed(1)}% of THP everything's; RSS cut by ${((n.rssKb - p.rssKb) / 1024).toFixed(0)} MiB (cold region ${COLD} MiB)`);
  if (latencies.length) {
    console.log(`hint latency (issue -> in the hint map), ${inMap.length} hints: p50 ${percentile(inMap, 50).toFixed(0)} ms, p99 ${percentile(inMap, 99).toFixed(0)} ms`);
    console.log(`hint latency (issue -> madvise done), ${latencies.length} hints: p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms`);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').slice(-2).join('/'))) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
