/**
 * `work`'s value, or undefined once `ms` have passed without it: for waits that must not
 * hold their caller past a deadline (a slow ledger, a tunnel's first outcome). The timer is
 * cleared either way, so it never keeps the event loop alive; `work`'s rejection before the
 * deadline is the caller's, as with Promise.race.
 */
export async function settleWithin<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
