/** What stops a daemon command: the caller's signal (tests), else SIGINT or SIGTERM. */
export function stopSignal(given?: AbortSignal): AbortSignal {
  if (given) return given;
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ctl.signal;
}
