/**
 * Sliding-minute rate limits, per process and per host. Every action that
 * would reach the kernel (or would in a dry run) takes one slot from both;
 * refusals take none. A limit of 0 allows nothing.
 */
import type { RateLimits } from './config.js';

export const RATE_WINDOW_MS = 60_000;

export interface RateLimiter {
  /** Takes a slot for `processKey` (undefined for host-wide actions) at `nowMs`, or says which limit is reached. */
  take(processKey: string | undefined, nowMs: number): { ok: true } | { ok: false; reason: string };
}

export function createRateLimiter(limits: RateLimits, windowMs = RATE_WINDOW_MS): RateLimiter {
  const host: number[] = [];
  const perProcess = new Map<string, number[]>();
  const prune = (times: number[], now: number) => {
    while (times.length > 0 && times[0]! <= now - windowMs) times.shift();
  };
  return {
    take(processKey, now) {
      prune(host, now);
      if (host.length >= limits.perHostPerMinute) {
        return { ok: false, reason: `rate limit: ${limits.perHostPerMinute} actions per minute on this host reached` };
      }
      let times: number[] | undefined;
      if (processKey !== undefined) {
        times = perProcess.get(processKey) ?? [];
        prune(times, now);
        if (times.length >= limits.perProcessPerMinute) {
          return { ok: false, reason: `rate limit: ${limits.perProcessPerMinute} actions per minute for this process reached` };
        }
      }
      host.push(now);
      if (processKey !== undefined && times) {
        times.push(now);
        perProcess.set(processKey, times);
      }
      // Forget processes with nothing in the window, so the map stays small.
      for (const [k, t] of perProcess) {
        prune(t, now);
        if (t.length === 0) perProcess.delete(k);
      }
      return { ok: true };
    },
  };
}
