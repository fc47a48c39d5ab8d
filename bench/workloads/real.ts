/**
 * Real programs the project did not write, for the overhead benchmark: a
 * key-value server under its own benchmark client (redis-server and
 * redis-benchmark), a C compiler run in a loop (gcc -O2 on a generated C
 * file), process start-up (python3 -c pass, many times), and pageloop's own
 * fault storm (memtouch churn). Each run() does a fixed amount of work and
 * returns how long it took and the CPU time its processes used (ns), so a
 * ratio above 1 is a slowdown. Each workload's processes run in a cgroup of
 * their own (cpu-group.ts) for the CPU time.
 *
 * Debian packages are installed on first use, idempotently (apt-get install
 * of what is missing; `apt-get update` once when a package is not known).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuGroup, type CpuGroup } from './cpu-group.js';
import { startMemtouch, type Memtouch } from './memtouch.js';

/** One run's cost: wall-clock time and the CPU time of the workload's processes. */
export interface RunCost {
  readonly wallNs: number;
  readonly cpuNs: number;
}

export interface RealWorkload {
  readonly name: string;
  /** What one run is, for the results table. */
  readonly describe: string;
  setup(): Promise<void>;
  /** One fixed amount of work; what it cost. */
  run(): Promise<RunCost>;
  /** The process ids doing the work (for a targets-elsewhere check), when long-lived. */
  pids(): number[];
  teardown(): Promise<void>;
}

/** Installs the Debian packages whose binaries are missing (apt-get, idempotent). */
export function ensureDebianPackages(need: Record<string, string>): void {
  const missing = Object.entries(need)
    .filter(([binary]) => !existsSync(binary))
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', ...new Set(missing)], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let r = install();
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    r = install();
  }
  if (r.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed (exit ${r.status})`);
  for (const [binary, pkg] of Object.entries(need)) if (!existsSync(binary)) throw new Error(`${pkg} is installed but ${binary} is not there`);
}

/** Runs a command to its end inside `group`; the wall-clock ns it took. */
function timed(group: CpuGroup, cmd: string, args: readonly string[], opts: { cwd?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = group.spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}) });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ns = Number(process.hrtime.bigint() - t0);
      if (code === 0) resolve(ns);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(0, 500)}`));
    });
  });
}

/** The group's CPU time over `work`, with the wall-clock time `work` reports. */
async function costOf(group: CpuGroup, work: () => Promise<number>): Promise<RunCost> {
  const before = group.usageNs();
  const wallNs = await work();
  return { wallNs, cpuNs: group.usageNs() - before };
}

/** A group per workload and bench process, so two benches never share one. */
const groupFor = (workload: string): CpuGroup => createCpuGroup(`pageloop-bench-${process.pid}-${workload}`);

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = createConnection({ port, host: '127.0.0.1' });
      sock.once('connect', () => {
        sock.end();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** redis-server under redis-benchmark: SET, GET, LPUSH, LPOP, INCR from 16 clients. */
export function redisWorkload(requests = 40000, port = 16379): RealWorkload {
  let server: ChildProcess | undefined;
  let group: CpuGroup | undefined;
  return {
    name: 'redis',
    describe: `redis-benchmark -n ${requests} -c 16 -t set,get,lpush,lpop,incr against redis-server (no persistence)`,
    async setup() {
      ensureDebianPackages({ '/usr/bin/redis-server': 'redis-server', '/usr/bin/redis-benchmark': 'redis-tools' });
      group = groupFor('redis');
      // The server's CPU is most of what the probes can cost here; the client's is in the group too.
      server = group.spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
      await waitForPort(port, 10_000);
    },
    run: () => costOf(group!, () => timed(group!, '/usr/bin/redis-benchmark', ['-p', String(port), '-n', String(requests), '-c', '16', '-t', 'set,get,lpush,lpop,incr', '-q'])),
    pids: () => (server?.pid ? [server.pid] : []),
    async teardown() {
      if (server && server.exitCode === null) {
        const exited = new Promise<void>((r) => server!.once('exit', () => r()));
        server.kill('SIGTERM');
        await exited;
      }
      group?.remove();
    },
  };
}

/**
 * A C file of `functions` functions with loops, arrays, a struct and a
 * switch: enough for gcc -O2 to spend ~0.3 s on it, the same text every time.
 */
export function generatedCSource(functions = 300): string {
  const out: string[] = ['#include <stddef.h>', '#include <string.h>', 'struct acc { long sum; int n; double mean; char tag[16]; };'];
  for (let i = 0; i < functions; i++) {
    out.push(`static long f${i}(const int *v, size_t n, struct acc *a) {
  long s = ${i};
  for (size_t k = 0; k < n; k++) {
    switch ((v[k] + ${i}) & 7) {
      case 0: s += v[k] * ${(i % 13) + 1}; break;
      case 1: s -= v[k] >> 1; break;
      case 2: s ^= (long)v[k] << ${i % 5}; break;
      case 3: s = s * 31 + v[k]; break;
      default: s += k;
    }
  }
  a->sum += s; a->n++; a->mean = (double)a->sum / a->n;
  memcpy(a->tag, "f${i}", sizeof("f${i}") < 16 ? sizeof("f${i}") : 16);
  return s;
}`);
  }
  out.push('long run_all(const int *v, size_t n) {', '  struct acc a = {0};', '  long t = 0;');
  for (let i = 0; i < functions; i++) out.push(`  t += f${i}(v, n, &a);`);
  out.push('  return t + a.n;', '}');
  return out.join('\n') + '\n';
}

/** gcc -O2 -c on a generated C file, `compiles` times in a row. */
export function gccWorkload(compiles = 3): RealWorkload {
  let dir = '';
  let group: CpuGroup | undefined;
  return {
    name: 'gcc',
    describe: `gcc -O2 -c of a generated 300-function C file (${(generatedCSource().length / 1024).toFixed(0)} KiB), ${compiles} times in a row`,
    async setup() {
      ensureDebianPackages({ '/usr/bin/gcc': 'gcc' });
      dir = mkdtempSync(join(tmpdir(), 'pageloop-gcc-'));
      writeFileSync(join(dir, 'unit.c'), generatedCSource());
      group = groupFor('gcc');
    },
    run: () =>
      costOf(group!, async () => {
        let ns = 0;
        for (let i = 0; i < compiles; i++) ns += await timed(group!, '/usr/bin/gcc', ['-O2', '-c', 'unit.c', '-o', 'unit.o'], { cwd: dir });
        return ns;
      }),
    pids: () => [],
    async teardown() {
      if (dir) rmSync(dir, { recursive: true, force: true });
      group?.remove();
    },
  };
}

/** `python3 -c pass`, `starts` times in a row: a language runtime starting up and exiting. */
export function startupWorkload(starts = 40): RealWorkload {
  let group: CpuGroup | undefined;
  return {
    name: 'startup',
    describe: `/usr/bin/python3 -c pass, ${starts} times in a row`,
    async setup() {
      ensureDebianPackages({ '/usr/bin/python3': 'python3-minimal' });
      group = groupFor('startup');
    },
    run: () =>
      costOf(group!, async () => {
        let ns = 0;
        for (let i = 0; i < starts; i++) ns += await timed(group!, '/usr/bin/python3', ['-c', 'pass']);
        return ns;
      }),
    pids: () => [],
    async teardown() {
      group?.remove();
    },
  };
}

/** pageloop's fault storm: mmap, touch every 4 KiB page, munmap (memtouch churn). */
export function stormWorkload(segmentMib = 256): RealWorkload {
  let w: Memtouch | undefined;
  let group: CpuGroup | undefined;
  return {
    name: 'storm',
    describe: `memtouch churn ${segmentMib} 1: mmap ${segmentMib} MiB, write one byte per 4 KiB page (${(segmentMib * 256).toLocaleString('en')} faults), munmap`,
    async setup() {
      w = await startMemtouch();
      group = groupFor('storm');
      group.add(w.pid);
      for (let i = 0; i < 4; i++) await w.send(`churn ${segmentMib} 1`); // the host backs the memory once
    },
    // memtouch times the churn itself (the pipe round trip is not in it).
    run: () => costOf(group!, async () => Number(await w!.send(`churn ${segmentMib} 1`))),
    pids: () => (w ? [w.pid] : []),
    async teardown() {
      await w?.exit();
      group?.remove();
    },
  };
}

export const WORKLOADS: Record<string, () => RealWorkload> = {
  storm: () => stormWorkload(),
  redis: () => redisWorkload(),
  gcc: () => gccWorkload(),
  startup: () => startupWorkload(),
};
