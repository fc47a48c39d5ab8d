/**
 * How long-running commands wait for their end, and how long their stop may
 * take. One place, so every command stops the same way:
 *
 * - the first SIGINT/SIGTERM starts a clean stop;
 * - a second one exits at once (130), as an operator pressing Ctrl-C twice expects;
 * - a clean stop that takes longer than the grace period exits with 1 and
 *   says so. A stuck stop was seen in the processors, the sink and the agent
 *   (a kafkajs disconnect waiting on a broker that is gone); an exit there is
 *   safe: open Kafka transactions are aborted by fencing or their timeout, and
 *   uncommitted input is read again.
 */

/** How long a clean stop may take after the first signal (Kubernetes' default grace period is 30 s longer than the probes'). */
export const STOP_GRACE_MS = 60_000;

let stopSignalled = false;

/** Called on every stop signal any waiter sees: the deadline and the second-signal exit. */
function onStopSignal(signal: NodeJS.Signals, graceMs: number): void {
  if (stopSignalled) return;
  stopSignalled = true;
  const second = (): void => {
    process.stderr.write(`pageloop: ${signal} again: exiting without a clean stop\n`);
    process.exit(130);
  };
  // After this tick, so the listener that brought us here is not the one seeing "again".
  setImmediate(() => {
    process.once('SIGINT', second);
    process.once('SIGTERM', second);
  });
  setTimeout(() => {
    process.stderr.write(`pageloop: the clean stop took over ${graceMs / 1000} s: exiting without it\n`);
    process.exit(1);
  }, graceMs).unref();
}

/** Resolves on SIGINT/SIGTERM; `cancel` removes the listeners (a command that ended by itself). */
export function untilSignal(graceMs = STOP_GRACE_MS): { done: Promise<void>; cancel: () => void } {
  let resolve: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  const on = (signal: NodeJS.Signals): void => {
    cancel();
    onStopSignal(signal, graceMs);
    resolve();
  };
  const cancel = (): void => {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { done, cancel };
}

/** Resolves on SIGINT or SIGTERM, or after `seconds` if given. */
export function untilStopped(seconds?: number): Promise<void> {
  const signal = untilSignal();
  if (!seconds) return signal.done;
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      signal.cancel();
      resolve();
    }, seconds * 1000);
    void signal.done.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
