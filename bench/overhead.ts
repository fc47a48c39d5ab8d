/**
 * Overhead benchmark: what the probes cost the programs they watch. Real
 * programs (bench/workloads/real.ts: redis-server under redis-benchmark, a
 * gcc loop, python3 start-up) and the fault storm (memtouch churn), each
 * timed with and without the probes.
 *
 * Why pairs: on these VMs the cost of a run drifts by tens of percent over
 * seconds (the host backs guest memory lazily, other tenants share the
 * cores), far more than the effect measured. So each pair is two short
 * runs, one without and one with the probes, in alternating order, and the
 * result is the median of the per-pair ratios with their quartiles: drift
 * slower than a pair cancels. Every round runs one pair of each config, so
 * the configs see the same stretch of time. The `aa` config is an A/A pair
 * (no probes in either run): the noise floor, from which the number of pairs
 * that would resolve 1% is estimated.
 *
 * Each run is measured twice: its wall-clock time and the CPU time its
 * processes used (a cgroup of the workload's own, bench/workloads/cpu-group.ts).
 * The CPU ratio is what the probes cost the workload itself, and it is far
 * less disturbed by the neighbours on a shared machine than the wall clock.
 *
 * Then one more run per config under BPF stats (bpf_enable_stats, on only
 * while its fd is open) gives each program's own run count and time.
 *
 *   node dist/bench/overhead.js [--workloads storm,redis,gcc,startup] [--configs aa,old-default,default,...]
 *        [--pairs N] [--out results.jsonl]
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { DEFAULT_PROBES_CONFIG, createProbes, EXACT_PROBES_CONFIG, SAMPLED_PROBES_CONFIG, type ProbesConfig } from '../bpf/probes.js';
import { loadAddon } from '../bpf/native.js';
import { startMemtouch, type Memtouch } from './workloads/memtouch.js';
import { WORKLOADS, type RealWorkload, type RunCost } from './workloads/real.js';
import { machine, median, percentile } from './stats.js';

const args = process.argv.slice(2);
const HELP = `node dist/bench/overhead.js [flags]
  --workloads storm,redis,gcc,startup   which workloads (default: all four; Debian packages installed if missing)
  --configs aa,old-default,default      which configs, each paired against no probes (names below, or sampled:N)
  --pairs N                             pairs per config per workload (default 20)
  --out FILE                            also append one JSON line per result
configs:`;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const PAIRS = Number(opt('pairs', '20'));
const WORKLOAD_NAMES = opt('workloads', 'storm,redis,gcc,startup').split(',');
const CONFIG_NAMES = opt('configs', 'aa,old-default,default').split(',');
const OUT = opt('out', '');

interface BenchConfig {
  /** undefined: no probes (the A/A config). */
  readonly probes?: Partial<ProbesConfig>;
  /** Targets an idle process, so the workload is outside the targets. */
  readonly foreign?: boolean;
  readonly describe: string;
}

const CONFIGS: Record<string, BenchConfig> = {
  aa: { describe: 'A/A: no probes in either run (the noise floor)' },
  'old-default': { probes: EXACT_PROBES_CONFIG, describe: 'old default = exact mode (still the default): every family, a program on every fault and every page allocation, every process' },
  default: { probes: SAMPLED_PROBES_CONFIG, describe: 'new default (the candidate, SAMPLED_PROBES_CONFIG): every family, faults sampled 1 in 16 by a perf event, promotions from the kernel counters, every process' },
  'default-foreign': { probes: SAMPLED_PROBES_CONFIG, foreign: true, describe: 'new default, targets set to another (idle) process' },
  'exact-foreign': { probes: EXACT_PROBES_CONFIG, foreign: true, describe: 'exact mode, targets set to another (idle) process' },
  'fault-only': { probes: { ...SAMPLED_PROBES_CONFIG, families: ['fault'] }, describe: 'the fault family alone, sampled' },
  'perf-floor': { probes: { ...SAMPLED_PROBES_CONFIG, families: ['fault'], faultSamplePeriod: 1 << 20 }, describe: 'the sampling perf event counting with (almost) no program runs: its floor' },
  'null-hook': { probes: { families: ['fault'], programsOnly: ['pl_bench_null_fault'] }, describe: 'an empty program on page_fault_user, nothing else' },
  'exact-fault-only': { probes: { ...EXACT_PROBES_CONFIG, families: ['fault'] }, describe: 'exact per-region fault counts (page_fault_user) alone' },
  'exact-promotion-only': { probes: { ...EXACT_PROBES_CONFIG, families: ['promotion'] }, describe: 'exact promotions (page_fault_user + mm_page_alloc) alone' },
  raw: { probes: { faultMode: 'raw', ringBufferBytes: 64 << 20 }, describe: 'raw mode: every fault a record' },
};

if (args.includes('--help')) {
  console.log(HELP);
  for (const [name, c] of Object.entries(CONFIGS)) console.log(`  ${name.padEnd(22)}${c.describe}`);
  console.log(`  ${'sampled:N'.padEnd(22)}the new default with faults sampled 1 in N`);
  process.exit(0);
}

/** `sampled:N`: the new default with a sample period of N. */
function configNamed(name: string): BenchConfig {
  const m = /^sampled:(\d+)$/.exec(name);
  if (m) return { probes: { ...SAMPLED_PROBES_CONFIG, faultSamplePeriod: Number(m[1]) }, describe: `new default with faults sampled 1 in ${m[1]}` };
  const c = CONFIGS[name];
  if (!c) throw new Error(`--configs: '${name}' is none of ${Object.keys(CONFIGS).join(', ')}, sampled:N`);
  return c;
}

/** Medians of one measure (wall or CPU) without and with probes, and its pair ratios' quartiles. */
interface Measure {
  offMedianNs: number;
  onMedianNs: number;
  p25: number;
  median: number;
  p75: number;
}

interface Result extends Measure {
  workload: string;
  describe: string;
  config: string;
  pairs: number;
  /** The same pairs by the CPU time of the workload's processes. */
  cpu: Measure;
  programs: { name: string; runs: number; nsPerRun: number }[];
}

async function withProbes<T>(config: BenchConfig, foreignPid: number, body: () => Promise<T>): Promise<T> {
  if (!config.probes) return body();
  const targets = config.foreign ? { pids: [foreignPid], cgroups: [] } : config.probes.targets;
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, ...config.probes, ...(targets ? { targets } : {}), hintMapPinPath: '' }, { addon: loadAddon() });
  probes.start({});
  try {
    return await body();
  } finally {
    probes.stop();
  }
}

async function programStats(config: BenchConfig, foreignPid: number, w: RealWorkload): Promise<Result['programs']> {
  if (!config.probes) return [];
  const addon = loadAddon();
  const fd = addon.enableBpfStats();
  try {
    const targets = config.foreign ? { pids: [foreignPid], cgroups: [] } : config.probes.targets;
    const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, ...config.probes, ...(targets ? { targets } : {}), hintMapPinPath: '' }, { addon: loadAddon() });
    probes.start({});
    try {
      await w.run();
      return probes
        .costReading()
        .programs.filter((p) => p.runCount > 0)
        .map((p) => ({ name: p.name, runs: p.runCount, nsPerRun: p.runTimeNs / p.runCount }));
    } finally {
      probes.stop();
    }
  } finally {
    addon.closeFd(fd);
  }
}

/** One measure of a config's pairs: medians and the quartiles of the per-pair ratios. */
export function measure(pairs: ReadonlyArray<{ off: RunCost; on: RunCost }>, key: keyof RunCost): Measure {
  const ratios = pairs.map((p) => p.on[key] / p.off[key]);
  return {
    offMedianNs: median(pairs.map((p) => p.off[key])),
    onMedianNs: median(pairs.map((p) => p.on[key])),
    p25: percentile(ratios, 25),
    median: median(ratios),
    p75: percentile(ratios, 75),
  };
}

/** Pairs needed to resolve `effect` at two standard errors of the median, from A/A ratios. */
export function pairsToResolve(aaRatios: readonly number[], effect = 0.01): number {
  const sigma = (percentile(aaRatios, 75) - percentile(aaRatios, 25)) / 1.349;
  return Math.ceil(((2 * 1.2533 * sigma) / effect) ** 2);
}

async function benchWorkload(w: RealWorkload, idle: Memtouch): Promise<Result[]> {
  await w.setup();
  try {
    const configs = CONFIG_NAMES.map((name) => ({ name, c: configNamed(name) }));
    const pairs = new Map<string, Array<{ off: RunCost; on: RunCost }>>(configs.map((c) => [c.name, []]));
    await w.run(); // warm-up: caches, page cache, the server's first connections
    for (let i = 0; i < PAIRS; i++) {
      for (const { name, c } of configs) {
        const traced = () => withProbes(c, idle.pid, () => w.run());
        let a: RunCost;
        let b: RunCost;
        if ((i + configs.findIndex((x) => x.name === name)) % 2 === 0) {
          a = await w.run();
          b = await traced();
        } else {
          b = await traced();
          a = await w.run();
        }
        pairs.get(name)!.push({ off: a, on: b });
      }
      process.stderr.write(`${w.name}: round ${i + 1}/${PAIRS}\r`);
    }
    process.stderr.write('\n');
    const results: Result[] = [];
    for (const { name, c } of configs) {
      const ps = pairs.get(name)!;
      results.push({
        workload: w.name,
        describe: w.describe,
        config: name,
        pairs: ps.length,
        ...measure(ps, 'wallNs'),
        cpu: measure(ps, 'cpuNs'),
        programs: await programStats(c, idle.pid, w),
      });
    }
    return results;
  } finally {
    await w.teardown();
  }
}

async function main(): Promise<void> {
  const idle = await startMemtouch();
  const pct = (r: number) => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(2)}%`;
  // The machine is shared: the load at start and end says how quiet it was.
  const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();
  console.log(`machine: ${machine()}; ${new Date().toISOString()}; /proc/loadavg at start: ${loadavg()}`);
  console.log(`command: node dist/bench/overhead.js ${args.join(' ')}`);
  console.log(`pairs: ${PAIRS} per config per workload, configs: ${CONFIG_NAMES.join(', ')}`);
  try {
    for (const name of WORKLOAD_NAMES) {
      const make = WORKLOADS[name];
      if (!make) throw new Error(`--workloads: '${name}' is none of ${Object.keys(WORKLOADS).join(', ')}`);
      const results = await benchWorkload(make(), idle);
      const aa = results.find((r) => r.config === 'aa');
      const r0 = results[0]!;
      console.log(`\n${r0.describe}; one run without probes: ${(r0.offMedianNs / 1e6).toFixed(1)} ms wall, ${(r0.cpu.offMedianNs / 1e6).toFixed(1)} ms CPU (medians)`);
      console.log('| config | wall: median slowdown | wall: p25 – p75 of pair ratios | CPU: median | CPU: p25 – p75 | pairs |');
      console.log('| --- | --- | --- | --- | --- | --- |');
      for (const r of results) console.log(`| ${r.config} | ${pct(r.median)} | ${r.p25.toFixed(4)} – ${r.p75.toFixed(4)} | ${pct(r.cpu.median)} | ${r.cpu.p25.toFixed(4)} – ${r.cpu.p75.toFixed(4)} | ${r.pairs} |`);
      if (aa) {
        for (const [label, m] of [['wall', aa], ['CPU', aa.cpu]] as const) {
          console.log(`noise floor (A/A, ${label}): median ${pct(m.median)}, IQR ${((m.p75 - m.p25) * 100).toFixed(2)} points; ~${pairsToResolveFrom(m)} pairs would resolve 1% (2 standard errors of the median)`);
        }
      }
      for (const r of results) {
        if (r.programs.length) console.log(`  ${r.config}: ${r.programs.map((p) => `${p.name} ${p.runs} runs ${p.nsPerRun.toFixed(0)} ns/run`).join('; ')}`);
        if (OUT) appendFileSync(OUT, JSON.stringify({ machine: machine(), date: new Date().toISOString(), ...r }) + '\n');
      }
    }
  } finally {
    await idle.exit();
    console.log(`\n${new Date().toISOString()}; /proc/loadavg at end: ${loadavg()}`);
  }
}

/** From the quartiles alone (the ratios are not kept per result). */
function pairsToResolveFrom(aa: Measure, effect = 0.01): number {
  const sigma = (aa.p75 - aa.p25) / 1.349;
  return Math.ceil(((2 * 1.2533 * sigma) / effect) ** 2);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
