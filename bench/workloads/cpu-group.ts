/**
 * The CPU time a workload used, from a cgroup v2 group of its own
 * (`cpu.stat` usage_usec: every task that ran in it, exited ones too).
 *
 * Why: on a shared machine the wall clock of a run mostly measures the
 * neighbours (waiting for a core), while the probes' cost is CPU spent in the
 * workload's own context (the BPF programs run in the faulting task, the
 * perf sample is built there). The CPU time a run used is what a fleet pays
 * for and is far less disturbed by other load, so the overhead bench reports
 * both.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2MountPoint } from '../../bpf/targets.js';

export interface CpuGroup {
  readonly path: string;
  /** CPU time used by every task that has run in the group, ns (µs resolution). */
  usageNs(): number;
  /** Moves a running process (and the threads it starts later) into the group. */
  add(pid: number): void;
  /** Spawns `cmd` already inside the group: a shell joins it, then execs the command. */
  spawn(cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Moves what is left back to the root and removes the group. */
  remove(): void;
}

/** usage_usec out of a cpu.stat file, in ns. */
export function usageNsFromCpuStat(text: string): number {
  const m = /^usage_usec (\d+)$/m.exec(text);
  if (!m) throw new Error(`cpu.stat has no usage_usec line: ${JSON.stringify(text.slice(0, 120))}`);
  return Number(m[1]) * 1000;
}

export function createCpuGroup(name: string): CpuGroup {
  const root = cgroup2MountPoint(readFileSync('/proc/self/mounts', 'utf8'));
  if (root === undefined) throw new Error('cgroup v2 is not mounted (no cgroup2 line in /proc/self/mounts): the CPU time of a workload cannot be measured');
  const path = join(root, name);
  mkdirSync(path, { recursive: true });
  const procs = join(path, 'cgroup.procs');
  return {
    path,
    usageNs: () => usageNsFromCpuStat(readFileSync(join(path, 'cpu.stat'), 'utf8')),
    add(pid) {
      writeFileSync(procs, `${pid}\n`);
    },
    spawn(cmd, args, opts = {}) {
      // "$0" is the procs file, "$@" the command: nothing of the command runs outside the group.
      return spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', procs, cmd, ...args], opts);
    },
    remove() {
      const rootProcs = join(root, 'cgroup.procs');
      for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(rootProcs, `${pid}\n`);
        } catch {
          // exited meanwhile
        }
      }
      rmdirSync(path);
    },
  };
}
