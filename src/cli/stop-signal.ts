/** What stops a daemon command: the caller's signal (tests), else SIGINT or SIGTERM. */
export function stopSignal(given?: AbortSignal): AbortSignal {
  if (given) return given;
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ctl.signal;
}

/** Resolves when the daemon is told to stop (see stopSignal); at once if it already was. */
export function untilStopped(given?: AbortSignal): Promise<void> {
  const signal = stopSignal(given);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}
