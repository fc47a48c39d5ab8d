/**
 * Drain benchmark: records per second from the ring buffer into JavaScript,
 * beside a plain C libbpf consumer of the same stream, in one run.
 *
 * A BPF program emits `burst` fault-sized records per getpid() of a generator
 * process. Each run first fills the ring buffer with the whole run's records
 * (it is big enough, so nothing is lost), then lets the consumer drain the
 * backlog: the consumer's own speed is what is measured, not the producer's.
 * Runs alternate C / JS-count / JS-decode, paired, several times.
 *
 *   node dist/bench/drain.js [--records N] [--rounds R]
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { DEFAULT_PROBES_CONFIG, createProbes } from '../bpf/probes.js';
import { loadAddon } from '../bpf/native.js';
import { decodeBatch, forEachRecord } from '../bpf/events.js';
import { startMemtouch } from './workloads/memtouch.js';
import { machine, median } from './stats.js';
import { join } from 'node:path';
import { memtouchPath } from './workloads/memtouch.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RECORDS = opt('records', 3_000_000);
const ROUNDS = opt('rounds', 5);
const BURST = 64;
const PIN = `/sys/fs/bpf/pageloop-bench-events-${process.pid}`;

async function runC(generator: Awaited<ReturnType<typeof startMemtouch>>): Promise<number> {
  const drainC = join(memtouchPath(), '..', 'drain_c');
  await generator.send(`getpid ${RECORDS / BURST}`);
  const child = spawn(drainC, [PIN, String(RECORDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const [n, ns] = out.trim().split('\n').at(-1)!.split(' ').map(Number);
  if (n !== RECORDS) throw new Error(`C consumer saw ${n} records, expected ${RECORDS}`);
  return (RECORDS / ns!) * 1e9;
}

async function runJs(generator: Awaited<ReturnType<typeof startMemtouch>>, decode: boolean): Promise<number> {
  const probes = createProbes({ ...DEFAULT_PROBES_CONFIG, families: ['collapse'], ringBufferBytes: 256 << 20, bench: { pid: generator.pid, burst: BURST } }, { addon: loadAddon() });
  let seen = 0;
  let first = 0n;
  let last = 0n;
  let kinds = 0;
  await generator.send(`getpid ${RECORDS / BURST}`);
  const done = new Promise<void>((resolve) => {
    first = process.hrtime.bigint();
    probes.start({
      onBatch(batch) {
        if (decode) {
          seen += decodeBatch(batch).length;
        } else {
          forEachRecord(batch, (_at, _len, kind) => {
            kinds += kind;
            seen++;
          });
        }
        if (seen >= RECORDS) {
          last = process.hrtime.bigint();
          resolve();
        }
      },
    });
  });
  await done;
  const lost = probes.loss().total;
  probes.stop();
  if (lost) throw new Error(`lost ${lost} records: the ring buffer should hold the whole run`);
  if (!decode && kinds === 0) throw new Error('no kinds read');
  return (RECORDS / Number(last - first)) * 1e9;
}

async function main(): Promise<void> {
  const generator = await startMemtouch();
  // The C consumer reads a pinned ring buffer fed by the same BPF program.
  const cProbes = createProbes({ ...DEFAULT_PROBES_CONFIG, families: ['collapse'], ringBufferBytes: 256 << 20, bench: { pid: generator.pid, burst: BURST } }, { addon: loadAddon() });
  rmSync(PIN, { force: true });
  cProbes.object.pinMap('pl_events', PIN);
  const rows: Array<{ c: number; jsCount: number; jsDecode: number }> = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      // Only one BPF object listens per phase: detach the C one's program while JS runs.
      const c = await runC(generator);
      cProbes.object.detachAll();
      const jsCount = await runJs(generator, false);
      const jsDecode = await runJs(generator, true);
      cProbes.object.attach('pl_bench_sys_enter');
      rows.push({ c, jsCount, jsDecode });
      console.log(`round ${r + 1}: C ${(c / 1e6).toFixed(2)}M/s  JS(frames) ${(jsCount / 1e6).toFixed(2)}M/s  JS(decoded objects) ${(jsDecode / 1e6).toFixed(2)}M/s`);
    }
  } finally {
    cProbes.object.unpinMap('pl_events');
    cProbes.stop();
    await generator.exit();
  }
  const m = (k: 'c' | 'jsCount' | 'jsDecode') => median(rows.map((r) => r[k]));
  const ratio = (k: 'jsCount' | 'jsDecode') => median(rows.map((r) => r[k] / r.c));
  console.log(`\nmachine: ${machine()}`);
  console.log(`records per run: ${RECORDS} (${BURST} per getpid), rounds: ${ROUNDS}, zero loss checked each JS run`);
  console.log(`median C consumer:           ${(m('c') / 1e6).toFixed(2)}M records/s`);
  console.log(`median JS, frames walked:    ${(m('jsCount') / 1e6).toFixed(2)}M records/s  (paired ratio to C: ${(ratio('jsCount') * 100).toFixed(1)}%)`);
  console.log(`median JS, decoded objects:  ${(m('jsDecode') / 1e6).toFixed(2)}M records/s  (paired ratio to C: ${(ratio('jsDecode') * 100).toFixed(1)}%)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
