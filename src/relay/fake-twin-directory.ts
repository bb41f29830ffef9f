import type { DirectoryTwin, TwinDirectory } from './twin-directory.ts';

/**
 * An in-memory twin directory for tests: the ledger's verifying follower cannot run inside
 * the relay's unit tests, so twins are put here by hand. Nothing outside tests uses it.
 */
export class FakeTwinDirectory implements TwinDirectory {
  readonly ledger: string;
  readonly #twins = new Map<number, DirectoryTwin>();

  constructor(ledger = 'aa'.repeat(32)) {
    this.ledger = ledger;
  }

  /** Adds or replaces a twin (a twin.create or twin.update on the ledger). */
  set(twin: DirectoryTwin): void {
    this.#twins.set(twin.id, twin);
  }

  delete(id: number): void {
    this.#twins.delete(id);
  }

  twin(id: number): DirectoryTwin | undefined {
    return this.#twins.get(id);
  }

  twinByKey(signingKeyHex: string): DirectoryTwin | undefined {
    for (const twin of this.#twins.values())
      if (twin.signingKey.toString('hex') === signingKeyHex) return twin;
    return undefined;
  }
}
