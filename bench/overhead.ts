/**
 * Overhead benchmark: a fault-heavy workload (mmap, write one byte per 4 KiB
 * page, munmap; repeated: 64 segments of 256 MiB, 16 GiB per arm, by
 * default) with and without the probes attached in the default
 * configuration (every family, aggregated faults, every process).
 *
 * Why short segments: on these VMs a 4 KiB fault costs ~2 us and its cost
 * drifts by tens of percent over seconds (the host backs guest memory
 * lazily and takes freed memory back through free page reporting), far more
 * than the effect measured. So each pair is two short segments, one without
 * and one with the probes, in alternating order, and the result is the
 * median of many per-pair ratios: drift slower than a pair cancels.
 *
 * Then one more segment with kernel.bpf_stats_enabled=1 gives each program's
 * own run time per call (the kernel's count, stats overhead included; the
 * null-hook config shows that overhead), which does not drift with the host.
 *
 *   node dist/bench/overhead.js [--pairs N] [--segment-mib M] [--config default|fault-only|null-hook|raw|swap-entries]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createProbes, type ProbesConfig } from '../bpf/probes.js';
import { startMemtouch } from './workloads/memtouch.js';
import { machine, median, percentile } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const SEGMENT_MIB = Number(opt('segment-mib', '256'));
/** Default: 16 GiB touched per arm in all, in 64 pairs. */
const PAIRS = Number(opt('pairs', String(Math.max(1, Math.round(4096 / SEGMENT_MIB) * 4))));
const CONFIG = opt('config', 'default');

const configs: Record<string, Partial<ProbesConfig>> = {
  default: {},
  'swap-entries': { swapEntries: true },
  'fault-only': { families: ['fault'] },
  /** An empty program on the fault tracepoint: the cost of any hook there. */
  'null-hook': { families: ['fault'], programsOnly: ['pl_bench_null_fault'] },
  raw: { faultMode: 'raw', ringBufferBytes: 64 << 20 },
};

async function main(): Promise<void> {
  const config = configs[CONFIG];
  if (!config) throw new Error(`--config: one of ${Object.keys(configs).join(', ')}`);
  const w = await startMemtouch();
  const churn = async () => Number(await w.send(`churn ${SEGMENT_MIB} 1`));
  const traced = async () => {
    const probes = createProbes(config);
    probes.start({});
    try {
      return await churn();
    } finally {
      probes.stop();
    }
  };
  for (let i = 0; i < 4; i++) await churn(); // warm-up: the host backs the memory once
  const ratios: number[] = [];
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    let a: number;
    let b: number;
    if (i % 2 === 0) {
      a = await churn();
      b = await traced();
    } else {
      b = await traced();
      a = await churn();
    }
    off.push(a);
    on.push(b);
    ratios.push(b / a);
  }
  const programs = await programStats(config, () => churn());
  await w.exit();
  const faults = (SEGMENT_MIB * 1024) / 4;
  const pct = (r: number) => `${((r - 1) * 100).toFixed(2)}%`;
  console.log(`machine: ${machine()}`);
  console.log(`workload: ${PAIRS} pairs of ${SEGMENT_MIB} MiB segments touched in 4 KiB pages (${faults} faults each; ${((PAIRS * SEGMENT_MIB) / 1024).toFixed(1)} GiB per arm), config: ${CONFIG}`);
  console.log(`median without: ${(median(off) / faults).toFixed(0)} ns/fault; with: ${(median(on) / faults).toFixed(0)} ns/fault`);
  console.log(`per-pair ratio: p25 ${percentile(ratios, 25).toFixed(4)}, median ${median(ratios).toFixed(4)}, p75 ${percentile(ratios, 75).toFixed(4)}`);
  console.log(`median paired slowdown: ${pct(median(ratios))} (+${((median(ratios) - 1) * (median(off) / faults)).toFixed(0)} ns/fault)`);
  console.log(`per program, one more segment under kernel.bpf_stats_enabled=1 (stats overhead included):`);
  for (const p of programs) console.log(`  ${p.name}: ${p.runs} runs, ${p.nsPerRun.toFixed(1)} ns/run`);
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

async function programStats(config: Partial<ProbesConfig>, segment: () => Promise<unknown>): Promise<{ name: string; runs: number; nsPerRun: number }[]> {
  const before = readFileSync(STATS_SYSCTL, 'utf8').trim();
  writeFileSync(STATS_SYSCTL, '1');
  const probes = createProbes(config);
  try {
    probes.start({});
    await segment();
    return probes.object
      .programStats()
      .filter((p) => p.runCount > 0)
      .map((p) => ({ name: p.name, runs: p.runCount, nsPerRun: p.runTimeNs / p.runCount }));
  } finally {
    probes.stop();
    writeFileSync(STATS_SYSCTL, before);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
