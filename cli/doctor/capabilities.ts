/**
 * What this host offers pageloop, as `pageloop doctor` reports it: the BPF
 * side (bpf-probe.ts), the memory features (memory-probe.ts), judged by
 * checks.ts. Everything is read from /proc and /sys through an injected
 * reader (host.ts); nothing here writes to the host.
 */
import { btfStringSection, probeBpfFacts } from './bpf-probe.js';
import { checksFor, type HostFacts } from './checks.js';
import { PATHS, parseMountinfo, realHostReader, type Check, type HostReader } from './host.js';
import { probeMemoryFacts } from './memory-probe.js';

export type { Check, HostFacts, HostReader };

export interface HostReport {
  /** False when any must-have is missing. */
  readonly ok: boolean;
  readonly checks: Check[];
  readonly host: HostFacts;
}

/** Gathers the facts; `checksFor` turns them into verdicts. */
export function probeFacts(r: HostReader = realHostReader): HostFacts {
  // Read once, used by both sides: BTF (tracepoints, DAMON functions) and the mount table.
  const btf = r.readBytes(PATHS.btf);
  const mountinfo = r.readText(PATHS.mountinfo);
  const mounts = mountinfo === null ? [] : parseMountinfo(mountinfo);
  const btfStrings = btf === null ? null : btfStringSection(btf);
  return { ...probeBpfFacts(r, btf, mounts), ...probeMemoryFacts(r, btfStrings, mounts) };
}

/** Probes the host and judges it: `ok` is false when any must-have is missing. */
export function probeHost(reader: HostReader = realHostReader): HostReport {
  const host = probeFacts(reader);
  const checks = checksFor(host);
  return { ok: !checks.some((c) => c.mustHave && c.status === 'missing'), checks, host };
}
