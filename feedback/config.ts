/**
 * The feedback agent's settings: a typed config with named defaults and a
 * validate() whose errors name the key. The policy part (allow, dryRun,
 * rateLimits) is the `feedback` section of schemas/config.schema.json.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { DEFAULT_HINT_MAP_PIN } from '../bpf/hint-map.js';
import type { PageloopConfig } from '../schemas/validate.js';

/** Who may be touched. All three empty: nobody (never "everybody"). */
export interface AllowList {
  /** cgroup paths; a process in one of them or below matches. */
  cgroups: string[];
  /** Absolute paths, compared with /proc/PID/exe. */
  executables: string[];
  /** Command names (/proc/PID/comm, at most 15 characters). */
  comms: string[];
}

/** Actions (tried or dry-run) per sliding minute. 0 allows none. */
export interface RateLimits {
  perProcessPerMinute: number;
  perHostPerMinute: number;
}

/** What decides whether a hint is acted on, and how. */
export interface EnforcerConfig {
  /** This host's name: hints for other hosts are not ours. */
  host: string;
  allow: AllowList;
  /** Record what would be done (outcome dry_run) and change nothing, the hint map included. */
  dryRun: boolean;
  rateLimits: RateLimits;
  /** Where the hint map is pinned (shared with the probes). */
  hintMapPinPath: string;
  /** cgroup v2 mount point for memory.reclaim; '' finds it in /proc/self/mountinfo. */
  cgroupRoot: string;
}

export interface FeedbackConfig extends EnforcerConfig {
  /** Consumer group on pageloop.hints.v1; '' means pageloop-feedback-HOST. */
  groupId: string;
  /** How often expired hints and hints of exited processes leave the hint map. */
  sweepIntervalMs: number;
  /** How long start-up may take to read the hint topic to its end before acting anyway. */
  catchUpTimeoutMs: number;
  /**
   * The file of hint ids acted on, so that a restarted agent acts on none
   * twice (feedback/applied-log.ts); '' keeps them in memory only. The
   * commands default it to defaultAppliedLogPath(host).
   */
  appliedLogPath: string;
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = Object.freeze({
  // A collapse or page-out of a large region is real work for the kernel:
  // a few per process per minute is plenty for a planner that re-plans per window.
  perProcessPerMinute: 6,
  perHostPerMinute: 60,
});

export const DEFAULT_FEEDBACK_CONFIG: Readonly<Omit<FeedbackConfig, 'host'>> = Object.freeze({
  allow: Object.freeze({ cgroups: [], executables: [], comms: [] }) as AllowList,
  dryRun: false,
  rateLimits: DEFAULT_RATE_LIMITS as RateLimits,
  hintMapPinPath: DEFAULT_HINT_MAP_PIN,
  cgroupRoot: '',
  groupId: '',
  sweepIntervalMs: 5_000,
  catchUpTimeoutMs: 60_000,
  appliedLogPath: '',
});

/**
 * Where the commands keep a host's applied log: PAGELOOP_STATE_DIR, else
 * /var/lib/pageloop (state that outlives the agent; on Kubernetes a hostPath).
 */
export function defaultAppliedLogPath(host: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(env.PAGELOOP_STATE_DIR || '/var/lib/pageloop', 'feedback', `applied-${host}.log`);
}

function fail(key: string, expected: string, got: unknown): never {
  throw new UsageError(`${key}: ${expected}, got ${JSON.stringify(got)}`);
}

function stringList(key: string, v: unknown, check: (s: string) => string | undefined): void {
  if (!Array.isArray(v)) fail(key, 'wants a list of strings', v);
  v.forEach((s, i) => {
    if (typeof s !== 'string') fail(`${key}[${i}]`, 'wants a string', s);
    const bad = check(s);
    if (bad) fail(`${key}[${i}]`, bad, s);
  });
}

/** Checks the policy settings; every error names the key. */
export function validateEnforcerConfig(c: EnforcerConfig): void {
  if (typeof c.host !== 'string' || !/^\S+$/.test(c.host) || c.host.includes('|')) {
    fail('host', "wants a host name without spaces or '|'", c.host);
  }
  if (!c.allow || typeof c.allow !== 'object') fail('allow', 'wants {cgroups, executables, comms}', c.allow);
  stringList('allow.cgroups', c.allow.cgroups, (s) => (s.startsWith('/') ? undefined : "wants a cgroup path starting with '/'"));
  stringList('allow.executables', c.allow.executables, (s) => (s.startsWith('/') ? undefined : 'wants an absolute path'));
  stringList('allow.comms', c.allow.comms, (s) => (s.length >= 1 && s.length <= 15 ? undefined : 'wants a command name of 1 to 15 characters'));
  if (typeof c.dryRun !== 'boolean') fail('dryRun', 'wants true or false', c.dryRun);
  if (!c.rateLimits || typeof c.rateLimits !== 'object') fail('rateLimits', 'wants {perProcessPerMinute, perHostPerMinute}', c.rateLimits);
  for (const k of ['perProcessPerMinute', 'perHostPerMinute'] as const) {
    const v = c.rateLimits[k];
    if (!Number.isInteger(v) || v < 0) fail(`rateLimits.${k}`, 'wants an integer >= 0', v);
  }
  if (typeof c.hintMapPinPath !== 'string' || !c.hintMapPinPath.startsWith('/')) fail('hintMapPinPath', 'wants an absolute path under bpffs', c.hintMapPinPath);
  if (typeof c.cgroupRoot !== 'string' || (c.cgroupRoot !== '' && !c.cgroupRoot.startsWith('/'))) {
    fail('cgroupRoot', "wants '' (find the cgroup v2 mount) or an absolute path", c.cgroupRoot);
  }
}

export function validateFeedbackConfig(c: FeedbackConfig): void {
  validateEnforcerConfig(c);
  if (typeof c.groupId !== 'string') fail('groupId', 'wants a string', c.groupId);
  if (!Number.isInteger(c.sweepIntervalMs) || c.sweepIntervalMs < 100 || c.sweepIntervalMs > 3_600_000) {
    fail('sweepIntervalMs', 'wants an integer from 100 to 3600000', c.sweepIntervalMs);
  }
  if (!Number.isInteger(c.catchUpTimeoutMs) || c.catchUpTimeoutMs < 1 || c.catchUpTimeoutMs > 3_600_000) {
    fail('catchUpTimeoutMs', 'wants an integer from 1 to 3600000', c.catchUpTimeoutMs);
  }
  if (typeof c.appliedLogPath !== 'string' || (c.appliedLogPath !== '' && !c.appliedLogPath.startsWith('/'))) {
    fail('appliedLogPath', "wants '' (memory only) or an absolute path", c.appliedLogPath);
  }
}

/** Defaults under a partial config (nested objects merged), validated. */
export function feedbackConfig(partial: Partial<FeedbackConfig> = {}): FeedbackConfig {
  const config: FeedbackConfig = {
    ...DEFAULT_FEEDBACK_CONFIG,
    host: hostname(),
    ...partial,
    allow: { ...DEFAULT_FEEDBACK_CONFIG.allow, ...partial.allow },
    rateLimits: { ...DEFAULT_FEEDBACK_CONFIG.rateLimits, ...partial.rateLimits },
  };
  validateFeedbackConfig(config);
  return config;
}

/** The policy part of a pageloop config file (its `feedback` section and host). */
export function feedbackSettingsFromFile(file: PageloopConfig, env: Readonly<Record<string, string | undefined>> = process.env): Partial<FeedbackConfig> {
  const f = file.feedback ?? {};
  const out: Partial<FeedbackConfig> = {};
  const host = env.PAGELOOP_HOST || file.host;
  if (host) out.host = host;
  out.allow = { cgroups: f.allow?.cgroups ?? [], executables: f.allow?.executables ?? [], comms: f.allow?.comms ?? [] };
  if (f.dryRun !== undefined) out.dryRun = f.dryRun;
  out.rateLimits = { ...DEFAULT_RATE_LIMITS, ...f.rateLimits };
  return out;
}
