/**
 * The overhead meter's production reading: the probes' program counters
 * (given as a function, so the meter does not depend on how the probes get
 * them), this process's CPU time and the host's faults and busy time from
 * /proc, stamped with CLOCK_BOOTTIME.
 */
import { readFileSync } from 'node:fs';
import { readProcStatBusyNs, readVmstat } from '../lib/procfs.js';
import type { OverheadReading, ProgramCounters } from './overhead.js';

export const BPF_STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export function procOverheadReading(programs: () => readonly ProgramCounters[], bootTimeNs: () => number): () => OverheadReading {
  return () => {
    const programsNow = programs();
    // process.cpuUsage counts every thread of the process (the ring reader's too), in µs.
    const cpu = process.cpuUsage();
    const faults = readVmstat().get('pgfault');
    if (faults === undefined) throw new Error('/proc/vmstat has no pgfault counter');
    return {
      atNs: bootTimeNs(),
      programs: programsNow.map((p) => ({ name: p.name, runCount: p.runCount, runTimeNs: p.runTimeNs })),
      agentCpuNs: (cpu.user + cpu.system) * 1000,
      hostFaults: faults,
      hostBusyNs: readProcStatBusyNs(),
    };
  };
}

/** Whether kernel.bpf_stats_enabled is set (someone turned stats on for everyone). */
export function bpfStatsSysctlOn(path = BPF_STATS_SYSCTL): boolean {
  try {
    return readFileSync(path, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}
