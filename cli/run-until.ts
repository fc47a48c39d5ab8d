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

/**
 * A stop signal that comes while the command is still starting (before it
 * waits here) is kept instead of killing the process: the start finishes,
 * then the command stops cleanly at once. The chaos run found it: an agent
 * SIGTERMed 15 s after a restart, its feedback consumer still joining behind
 * the killed member's session, died by the signal, without its last batch.
 * Listening from this module's import on means only the long-running
 * commands (the ones that import it) get this; one-shot commands still die
 * at once on Ctrl-C.
 */
let earlySignal: NodeJS.Signals | undefined;
/** untilSignal listeners now: while there is one, it handles the signal (with its own grace). */
let waiting = 0;
const onEarlySignal = (signal: NodeJS.Signals): void => {
  if (waiting > 0) return;
  earlySignal ??= signal;
  onStopSignal(signal, STOP_GRACE_MS);
};
process.on('SIGINT', onEarlySignal);
process.on('SIGTERM', onEarlySignal);

/** Resolves on SIGINT/SIGTERM (at once if one came during the start); `cancel` removes the listeners (a command that ended by itself). */
export function untilSignal(graceMs = STOP_GRACE_MS): { done: Promise<void>; cancel: () => void } {
  if (earlySignal) return { done: Promise.resolve(), cancel: () => undefined };
  let resolve: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  const on = (signal: NodeJS.Signals): void => {
    cancel();
    onStopSignal(signal, graceMs);
    resolve();
  };
  let listening = true;
  const cancel = (): void => {
    if (listening) waiting--;
    listening = false;
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  };
  waiting++;
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
