/*
 * A sliding window of tasks for check and repair: at most `size` tasks are unfinished at
 * any time, and a new one starts only when the oldest unfinished one is done. Waiting on
 * the oldest (not on any) keeps it simple and keeps memory bounded by `size` tasks' data
 * even when results are consumed in submission order, which is what makes reports come
 * out in the same order whatever the window (deterministic `--json`). Over a network the
 * tasks' round trips overlap; with size 1 it is the plain sequential loop.
 */

/** Chunk groups check and repair work on at once when the config does not say. */
export const DEFAULT_MAINTENANCE_IN_FLIGHT = 4;
/** The most the config may ask for (memory: each holds a chunk's shards). */
export const MAX_MAINTENANCE_IN_FLIGHT = 32;

export class TaskWindow {
  readonly size: number;
  readonly #running: Promise<void>[] = [];

  constructor(size: number) {
    this.size = size;
  }

  /**
   * Starts `task` once fewer than `size` earlier tasks are unfinished, and resolves then
   * (without waiting for the task) with the promise of its result, boxed so that awaiting
   * the start does not await the task. The caller must await that promise: the window
   * only waits on it, it never reports its rejection.
   */
  async start<T>(task: () => Promise<T>): Promise<{ readonly result: Promise<T> }> {
    while (this.#running.length >= this.size) {
      const oldest = this.#running[0]!;
      await oldest;
      if (this.#running[0] === oldest) this.#running.shift();
    }
    const p = task();
    // The window waits on a settled copy: a rejection stays the caller's to handle (on the
    // promise returned), and is not reported as unhandled while the caller is still busy
    // starting later tasks.
    this.#running.push(
      p.then(
        () => {},
        () => {},
      ),
    );
    p.catch(() => {});
    return { result: p };
  }

  /** Resolves when every task started so far has finished (rejections ignored here). */
  async idle(): Promise<void> {
    await Promise.allSettled(this.#running);
    this.#running.length = 0;
  }
}
