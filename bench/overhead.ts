/**
 * Overhead benchmark: a fault-heavy workload (mmap 4 GiB, write one byte per
 * 4 KiB page, munmap; repeated) with and without the probes attached in the
 * default configuration (every family, aggregated faults, every process).
 * Runs are paired and their order alternates (off/on, on/off) so drift cancels;
 * the result is the median of the per-pair ratios.
 *
 *   node dist/bench/overhead.js [--pairs N] [--mib M] [--config default|raw|swap-entries]
 */
import { createProbes, type ProbesConfig } from '../bpf/probes.js';
import { startMemtouch } from './workloads/memtouch.js';
import { machine, median } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const PAIRS = Number(opt('pairs', '10'));
const MIB = Number(opt('mib', '4096'));
const CONFIG = opt('config', 'default');

const configs: Record<string, Partial<ProbesConfig>> = {
  default: {},
  'swap-entries': { swapEntries: true },
  'fault-only': { families: ['fault'] },
  raw: { faultMode: 'raw', ringBufferBytes: 64 << 20 },
};

async function main(): Promise<void> {
  const config = configs[CONFIG];
  if (!config) throw new Error(`--config: one of ${Object.keys(configs).join(', ')}`);
  const w = await startMemtouch();
  const churn = async () => Number(await w.send(`churn ${MIB} 1`));
  const traced = async () => {
    let events = 0;
    const probes = createProbes(config);
    probes.start({ onEvents: (e) => (events += e.length) });
    try {
      return await churn();
    } finally {
      probes.stop();
      if (events === 0) throw new Error('the probes saw nothing: not attached?');
    }
  };
  await churn(); // warm-up
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
    console.log(`pair ${i + 1}: without ${(a / 1e6).toFixed(1)} ms, with ${(b / 1e6).toFixed(1)} ms, ratio ${(b / a).toFixed(4)}`);
  }
  await w.exit();
  const faults = (MIB * 1024) / 4;
  console.log(`\nmachine: ${machine()}`);
  console.log(`workload: ${MIB} MiB touched in 4 KiB pages per run (${faults} faults), config: ${CONFIG}, pairs: ${PAIRS}`);
  console.log(`median without: ${(median(off) / 1e6).toFixed(1)} ms (${(median(off) / faults).toFixed(0)} ns/fault)`);
  console.log(`median with:    ${(median(on) / 1e6).toFixed(1)} ms (${(median(on) / faults).toFixed(0)} ns/fault)`);
  console.log(`median paired ratio: ${median(ratios).toFixed(4)} (slowdown ${((median(ratios) - 1) * 100).toFixed(2)}%)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
