/**
 * A step of a stop that names itself when it takes long: every 10 s it
 * logs what it is still waiting for, so a stop that hangs says where (the
 * chaos run's SIGTERMs end with a SIGKILL after 60 s otherwise silent).
 */
export const SLOW_STEP_EVERY_MS = 10_000;

export async function slowStep<T>(log: (line: string) => void, what: string, step: () => Promise<T> | T): Promise<T> {
  const since = Date.now();
  const timer = setInterval(() => log(`stopping: still ${what} after ${Math.round((Date.now() - since) / 1000)} s`), SLOW_STEP_EVERY_MS);
  try {
    return await step();
  } finally {
    clearInterval(timer);
  }
}
