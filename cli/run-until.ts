/** Resolves on SIGINT or SIGTERM, or after `seconds` if given: how long-running commands wait. */
export function untilStopped(seconds?: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      if (timer) clearTimeout(timer);
      resolve();
    };
    const timer = seconds ? setTimeout(done, seconds * 1000) : undefined;
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
