/**
 * One hint in, one action record out: the safety checks in a fixed order,
 * then the hint map write and the act. Used by the agent (hints from Kafka)
 * and by `pageloop profile load` (hints from a profile), so both are
 * enforced the same way.
 *
 * Order, cheapest and most final first: fields, host, boot, expiry,
 * protected pids; then a pidfd is opened BEFORE the process is read, and is
 * checked to still hold its pid AFTER, so the identity check and
 * process_madvise are about the same process (a pid reused after the check
 * cannot be hit: the pidfd still names the old one, and the kernel answers
 * ESRCH); then kernel thread, start time, allow-list,
 * mapping, rate limit, dry run, and the act.
 *
 * Idempotence: a hint id acted on is not acted on again: in this run, and
 * across restarts when the agent keeps an applied log (feedback/applied-log.ts,
 * written before each act). Without one, the pinned hint map
 * remembers: entries for every region of the hint with its process start,
 * action and page size, written after the hint was issued, mean it was
 * accepted already. The map is written before the act, so the act's own
 * events carry the hint; an agent killed between the two leaves that hint
 * un-acted (at most once, never twice). The map check is only made for
 * replayed hints: two hints of one 2 MiB region with the same action would
 * look alike to it, which in a running agent the hint ids tell apart.
 */
import { errorMessage } from '../lib/errors.js';
import { pidOfPidfd, readBootId } from '../lib/procfs.js';
import { formatMappingName, nameMappings, nameOf, readMaps, type Vma } from './mappings.js';
import type { HintMap } from '../bpf/hint-map.js';
import type { AppliedHints } from './applied-log.js';
import { errnoOf, loadAddon } from '../bpf/native.js';
import type { ProcessId } from '../schemas/identity.js';
import type { Hint, HintAction, HintOutcome } from '../schemas/derived.js';
import { validateEnforcerConfig, type EnforcerConfig } from './config.js';
import {
  MAP_ACTION_OF,
  checkHintFields,
  checkIdentity,
  checkKernelThread,
  checkProtected,
  checkRange,
  enforcementOf,
  hex,
  matchAllowList,
  matchAllowedCgroup,
  regionIndexes,
  startTicksOf,
  type ProcessFacts,
} from './policy.js';
import { readProcessFacts } from './process.js';
import { createRateLimiter } from './rate-limit.js';
import { cgroup2Root, reclaimCgroup } from './cgroup.js';

/** The kernel calls the enforcer makes (the native addon's, in production and in the tests). */
export interface Kernel {
  bootTimeNs(): number;
  pidfdOpen(pid: number): number;
  /** Whether the pidfd's process still holds its pid (not yet reaped). */
  pidfdAlive(pidfd: number): boolean;
  processMadvise(pidfd: number, ranges: Buffer, advice: number): number;
  closeFd(fd: number): void;
}

export function nativeKernel(): Kernel {
  const a = loadAddon();
  return {
    bootTimeNs: () => a.bootTimeNs(),
    pidfdOpen: (pid) => a.pidfdOpen(pid),
    pidfdAlive: (fd) => pidOfPidfd(fd) !== -1,
    processMadvise: (fd, ranges, advice) => a.processMadvise(fd, ranges, advice),
    closeFd: (fd) => a.closeFd(fd),
  };
}

export interface EnforcerDeps {
  hintMap: HintMap;
  kernel?: Kernel;
  /** This boot's id (default: /proc/sys/kernel/random/boot_id). */
  bootId?: string;
  /** pageloop's own pid, never touched (default: process.pid). */
  selfPid?: number;
  /** Monotonic milliseconds for the rate limits (default: performance.now()). */
  nowMs?: () => number;
  readFacts?: (pid: number) => ProcessFacts;
  readMaps?: (pid: number) => Vma[];
  /** The hint ids acted on, kept across restarts (default: this run's memory only). */
  applied?: AppliedHints;
}

export interface Enforcer {
  readonly config: Readonly<EnforcerConfig>;
  readonly bootId: string;
  /**
   * Decides on and acts on one hint; undefined when this hint was acted on
   * before (nothing new to record). `replayed`: the hint comes from reading
   * the topic again after a restart, so the hint map is asked too.
   */
  enforce(hint: Hint, replayed?: boolean): HintAction | undefined;
  /** The record of a refusal of something that never became a hint (a malformed record). */
  refuse(hintId: string, process: ProcessId, reason: string, extra?: Partial<HintAction>): HintAction;
  /** Removes a withdrawn hint's hint-map entries, except regions `keep` says another live hint still holds. */
  withdraw(hint: Hint, keep?: (pid: number, region: number) => boolean): number;
  /**
   * A withdrawal whose hint this run never saw (only the tombstone is left):
   * removes the run of entries of that process from the key's region up,
   * stopping at the first region `keep` claims or that has no entry.
   */
  withdrawByKey(pid: number, startNs: number, regionStart: number, keep?: (pid: number, region: number) => boolean): number;
  /** Drops the entries of processes that exited or whose pid was reused; returns how many. */
  sweepGone(): number;
  /** Whether a hint has expired at boot time `nowNs`. */
  expired(hint: Hint, nowNs: number): boolean;
  nowNs(): number;
}

const ESRCH = 3;

function describeProcess(p: ProcessId): string {
  return `pid ${p.pid}`;
}

export function createEnforcer(config: EnforcerConfig, deps: EnforcerDeps): Enforcer {
  validateEnforcerConfig(config);
  const kernel = deps.kernel ?? nativeKernel();
  const bootId = deps.bootId ?? readBootId();
  const selfPid = deps.selfPid ?? process.pid;
  const nowMs = deps.nowMs ?? (() => performance.now());
  const readFacts = deps.readFacts ?? ((pid: number) => readProcessFacts(pid));
  const mapsOf = deps.readMaps ?? ((pid: number) => readMaps(pid));
  const limiter = createRateLimiter(config.rateLimits);
  const applied: AppliedHints = deps.applied ?? new Set<string>();
  const map = deps.hintMap;

  const record = (hint: Hint, outcome: HintOutcome, reason: string, more: Partial<HintAction> = {}): HintAction => ({
    hintId: hint.hintId,
    process: hint.process,
    ...(hint.region ? { region: hint.region } : {}),
    action: hint.action,
    pageSizeKb: hint.pageSizeKb,
    outcome,
    reason,
    errno: 0,
    bytesAffected: 0,
    durationNs: 0,
    atNs: kernel.bootTimeNs(),
    cgroup: hint.cgroup,
    ...more,
  });

  /** Entries for every region of the hint, written after it was issued, with its identity and action. */
  const inMapAlready = (hint: Hint): boolean => {
    if (!hint.region || hint.action === 'unspecified') return false;
    const action = MAP_ACTION_OF[hint.action];
    return regionIndexes(hint.region.start, hint.region.length).every((r) => {
      const e = map.get(hint.process.pid, r);
      return e !== undefined && e.startNs === hint.process.startNs && e.action === action && e.pageSizeKb === hint.pageSizeKb && e.updatedNs >= hint.issuedNs;
    });
  };

  const writeMap = (hint: Hint): void => {
    const action = MAP_ACTION_OF[hint.action as Exclude<Hint['action'], 'unspecified'>];
    const updatedNs = kernel.bootTimeNs();
    for (const region of regionIndexes(hint.region!.start, hint.region!.length)) {
      map.set({ pid: hint.process.pid, region, startNs: hint.process.startNs, action, pageSizeKb: hint.pageSizeKb, updatedNs });
    }
  };

  const enforceCgroup = (hint: Hint): HintAction => {
    const allowed = matchAllowedCgroup(config.allow, hint.cgroup);
    if (!allowed.ok) return record(hint, 'refused', allowed.reason);
    const rate = limiter.take(undefined, nowMs());
    if (!rate.ok) return record(hint, 'refused', rate.reason);
    const root = cgroup2Root(config.cgroupRoot);
    if (config.dryRun) return record(hint, 'dry_run', `dry run: would write ${hint.bytes} to ${root ?? '(no cgroup v2)'}${hint.cgroup}/memory.reclaim`);
    // Before the act: an agent killed during it does not reclaim again after its restart (at most once).
    applied.add(hint.hintId);
    const t0 = process.hrtime.bigint();
    const r = reclaimCgroup(root, hint.cgroup, hint.bytes);
    const durationNs = Number(process.hrtime.bigint() - t0);
    if (r.outcome === 'applied') return record(hint, 'applied', `memory.reclaim of ${r.bytes} bytes (${r.file})`, { bytesAffected: r.bytes, durationNs });
    // Not reclaimed: a later delivery may try again.
    applied.delete(hint.hintId);
    if (r.outcome === 'refused') return record(hint, 'refused', r.reason);
    return record(hint, 'failed', r.reason, { errno: r.errno, durationNs });
  };

  const enforceProcess = (hint: Hint, replayed: boolean): HintAction | undefined => {
    const p = hint.process;
    const region = hint.region!;
    const prot = checkProtected(p.pid, selfPid);
    if (!prot.ok) return record(hint, 'refused', prot.reason);
    if (replayed && !config.dryRun && inMapAlready(hint)) {
      applied.add(hint.hintId);
      return undefined;
    }
    let pidfd: number;
    try {
      pidfd = kernel.pidfdOpen(p.pid);
    } catch (err) {
      if (errnoOf(err) === ESRCH) return record(hint, 'refused', `${describeProcess(p)} is gone`);
      return record(hint, 'failed', `pidfd_open ${p.pid}: ${errorMessage(err)}`, { errno: errnoOf(err) ?? 0 });
    }
    try {
      let facts: ProcessFacts;
      try {
        facts = readFacts(p.pid);
      } catch {
        return record(hint, 'refused', `${describeProcess(p)} is gone`);
      }
      for (const v of [checkKernelThread(facts), checkIdentity(p, facts, bootId)]) if (!v.ok) return record(hint, 'refused', v.reason);
      // The start time is in clock ticks (10 ms): a pid reused within one tick
      // passes the identity check. The pidfd's process still holding its pid
      // after /proc was read means /proc was about that process.
      if (!kernel.pidfdAlive(pidfd)) return record(hint, 'refused', `the pid was reused: ${describeProcess(p)} exited after its pidfd was opened`);
      const allowed = matchAllowList(config.allow, facts);
      if (!allowed.ok) return record(hint, 'refused', allowed.reason);
      let vmas: Vma[];
      try {
        vmas = mapsOf(p.pid);
      } catch {
        return record(hint, 'refused', `${describeProcess(p)} is gone`);
      }
      const inside = checkRange(vmas, region.start, region.length);
      if (!inside.ok) return record(hint, 'refused', inside.reason);
      const named = nameOf(nameMappings(vmas), region.start);
      const where = `${region.length} bytes at ${hex(region.start)}${named ? ` (${formatMappingName(named.name)}+${hex(named.offset)})` : ''}`;
      const rate = limiter.take(`${p.pid}:${p.startNs}`, nowMs());
      if (!rate.ok) return record(hint, 'refused', rate.reason);
      const how = enforcementOf(hint.action as Exclude<Hint['action'], 'unspecified'>, hint.pageSizeKb);
      const what = how.kind === 'madvise' ? `process_madvise ${how.adviceName} of ${where}` : `hint map only for ${where}: ${how.kind === 'map-only' ? how.why : ''}`;
      if (config.dryRun) return record(hint, 'dry_run', `dry run: would ${what}; ${allowed.by} is allowed`);
      writeMap(hint);
      applied.add(hint.hintId);
      const by = `; ${allowed.by} is allowed`;
      if (how.kind !== 'madvise') return record(hint, 'applied', `${what}${by}`);
      const ranges = Buffer.alloc(16);
      ranges.writeBigUInt64LE(BigInt(region.start), 0);
      ranges.writeBigUInt64LE(BigInt(region.length), 8);
      const t0 = process.hrtime.bigint();
      try {
        const bytes = kernel.processMadvise(pidfd, ranges, how.advice);
        const durationNs = Number(process.hrtime.bigint() - t0);
        const partial = bytes < region.length ? ` (the kernel stopped after ${bytes} bytes)` : '';
        return record(hint, 'applied', `${what}${partial}${by}`, { bytesAffected: bytes, durationNs });
      } catch (err) {
        const durationNs = Number(process.hrtime.bigint() - t0);
        return record(hint, 'failed', `${what}: ${errorMessage(err)}`, { errno: errnoOf(err) ?? 0, durationNs });
      }
    } finally {
      kernel.closeFd(pidfd);
    }
  };

  const removeRegions = (pid: number, startNs: number, regions: Iterable<number>, keep?: (pid: number, region: number) => boolean): number => {
    let removed = 0;
    for (const r of regions) {
      if (keep?.(pid, r)) continue;
      const e = map.get(pid, r);
      // Only this process's entry: a newer process with the same pid keeps its own.
      if (e && e.startNs === startNs && map.delete(pid, r)) removed++;
    }
    return removed;
  };

  return {
    config,
    bootId,
    nowNs: () => kernel.bootTimeNs(),
    expired: (hint, nowNs) => hint.expiresNs !== 0 && hint.expiresNs <= nowNs,
    enforce(hint, replayed = false) {
      const fields = checkHintFields(hint);
      if (!fields.ok) return record(hint, 'refused', `malformed hint: ${fields.reason}`);
      if (hint.process.host !== config.host) return record(hint, 'refused', `hint is for host ${hint.process.host}, this is ${config.host}`);
      if (hint.process.bootId !== bootId) {
        return record(hint, 'refused', `boot id ${hint.process.bootId} is not this boot (${bootId}): the process is from before a reboot`);
      }
      const now = kernel.bootTimeNs();
      if (hint.expiresNs <= now) return record(hint, 'refused', `expired at ${hint.expiresNs} ns (now ${now} ns since boot)`);
      if (applied.has(hint.hintId)) return undefined;
      return hint.action === 'reclaim_cgroup' ? enforceCgroup(hint) : enforceProcess(hint, replayed);
    },
    refuse(hintId, processId, reason, extra = {}) {
      return {
        hintId,
        process: processId,
        action: 'unspecified',
        pageSizeKb: 0,
        outcome: 'refused',
        reason,
        errno: 0,
        bytesAffected: 0,
        durationNs: 0,
        atNs: kernel.bootTimeNs(),
        cgroup: '',
        ...extra,
      };
    },
    withdraw(hint, keep) {
      applied.delete(hint.hintId);
      if (!hint.region || hint.process.pid === 0) return 0;
      return removeRegions(hint.process.pid, hint.process.startNs, regionIndexes(hint.region.start, hint.region.length), keep);
    },
    withdrawByKey(pid, startNs, regionStart, keep) {
      let removed = 0;
      for (let r = Math.floor(regionStart / 2 ** 21); ; r++) {
        const e = map.get(pid, r);
        if (!e || e.startNs !== startNs || keep?.(pid, r)) break;
        if (map.delete(pid, r)) removed++;
      }
      return removed;
    },
    sweepGone() {
      let removed = 0;
      const alive = new Map<number, number | undefined>();
      for (const e of map.entries()) {
        // startNs 0: an entry written by hand or by a test, identity unknown: left alone.
        if (e.startNs === 0) continue;
        if (!alive.has(e.pid)) {
          let ticks: number | undefined;
          try {
            ticks = readFacts(e.pid).startTicks;
          } catch {
            ticks = undefined;
          }
          alive.set(e.pid, ticks);
        }
        const ticks = alive.get(e.pid);
        if (ticks === undefined || ticks !== startTicksOf(e.startNs)) {
          if (map.delete(e.pid, e.region)) removed++;
        }
      }
      return removed;
    },
  };
}
