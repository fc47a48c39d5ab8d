/**
 * At most `limit` asynchronous tasks at once; the others wait their turn in
 * the order they came.
 */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
}

export function createLimiter(limit: number): Limiter {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limiter: limit must be a positive integer, got ${limit}`);
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    get active() {
      return active;
    },
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      else active++;
      try {
        return await task();
      } finally {
        // The slot passes straight to the next waiter (active stays), or is freed.
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
  };
}
