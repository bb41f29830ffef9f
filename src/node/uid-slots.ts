import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fail } from '../core/assert.ts';

/*
 * Host-wide claims on containers' uid ranges. Each container runs as its own 65,536 host
 * ids (slot N: base + N × 65,536), so what one container owns no other can touch. The
 * slots are the host's, not a node's: two agents on one machine (the local grid, tests
 * running side by side) must never hand out the same slot, or a container of one node
 * would own the files of a container of another. A slot is claimed by creating
 * `<dir>/<N>` exclusively (one creator wins, whatever the race), holding the node folder
 * and container it serves. The agent that removes the container frees it; anyone may take
 * a claim whose node folder is gone (a deleted node never frees its own).
 */

export const DEFAULT_UID_SLOTS_DIR = '/var/lib/vdc/uid-slots';

interface Claim {
  node: string;
  container: string;
}

function readClaim(dir: string, slot: number): Claim | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, String(slot)), 'utf8')) as Claim;
  } catch {
    return undefined; // absent, or torn by a crash mid-write
  }
}

/**
 * Removes slot `slot`'s claim if its node folder is gone and `also(claim)` holds, under the
 * slot's one-reclaimer marker (`N.reclaim`, created exclusively): two that both saw the
 * stale claim would otherwise both unlink, and the second would unlink the claim the first
 * made next. Nothing else removes a claim whose node is gone, and no claim can be created
 * while the file exists, so the claim re-read under the marker is the one unlinked. A
 * process that crashes here leaves the marker, and that one slot is never reclaimed.
 * @returns whether it removed the claim (false too while another holds the marker)
 */
function unlinkStale(dir: string, slot: number, also: (held: Claim) => boolean): boolean {
  const stale = () => {
    const held = readClaim(dir, slot);
    return held !== undefined && !existsSync(held.node) && also(held);
  };
  if (!stale()) return false;
  const marker = join(dir, `${slot}.reclaim`);
  try {
    writeFileSync(marker, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch {
    return false;
  }
  try {
    if (!stale()) return false;
    unlinkSync(join(dir, String(slot)));
    return true;
  } finally {
    unlinkSync(marker);
  }
}

export class UidSlots {
  readonly #dir: string;
  readonly #node: string;
  readonly #max: number;

  /** `node` is this agent's containers folder: it names the claims it holds. */
  constructor(dir: string, node: string, max: number) {
    this.#dir = dir;
    // Absolute: another agent judges the claim from its own working directory.
    this.#node = resolve(node);
    this.#max = max;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  #read(slot: number): Claim | undefined {
    return readClaim(this.#dir, slot);
  }

  /** Creates the claim if no one holds it; true when it is ours now. */
  #take(slot: number, container: string): boolean {
    const path = join(this.#dir, String(slot));
    const claim: Claim = { node: this.#node, container };
    try {
      writeFileSync(path, JSON.stringify(claim), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = this.#read(slot);
    if (held?.node === this.#node && held.container === container) return true;
    // A claim whose node is gone is taken over; a torn one is left alone (its writer may
    // still be finishing it: unlinkStale reads no node there).
    return unlinkStale(this.#dir, slot, () => true) && this.#take(slot, container);
  }

  /** The first slot no one holds, claimed for `container`. @throws CONTAINER_START_FAILED */
  claim(container: string): number {
    for (let slot = 0; slot < this.#max; slot++) if (this.#take(slot, container)) return slot;
    fail('CONTAINER_START_FAILED', 'this host has no free uid range for another container');
  }

  /** Re-claims a slot a container already runs in (records made before claims existed). */
  hold(slot: number, container: string): boolean {
    return this.#take(slot, container);
  }

  release(slot: number, container: string): void {
    const held = this.#read(slot);
    if (held?.node !== this.#node || held.container !== container) return;
    try {
      unlinkSync(join(this.#dir, String(slot)));
    } catch {}
  }

  /** Frees this node's claims that no container record holds (a crash between the two). */
  prune(live: ReadonlyMap<number, string>): void {
    for (const entry of readdirSync(this.#dir)) {
      if (!/^[0-9]+$/.test(entry)) continue;
      const slot = Number(entry);
      const held = this.#read(slot);
      if (held?.node === this.#node && live.get(slot) !== held.container)
        this.release(slot, held.container);
    }
  }
}

/**
 * Frees the claims of every node folder under `dir` that is gone (a local grid purged with
 * its nodes' data): what a later claim would take over anyway, freed by whoever deleted
 * them — each under the one-reclaimer-per-slot marker, as a takeover is.
 * @returns how many were freed
 */
export function releaseClaimsUnder(dir: string, registry = DEFAULT_UID_SLOTS_DIR): number {
  if (!existsSync(registry)) return 0;
  const under = `${resolve(dir)}/`;
  let freed = 0;
  for (const entry of readdirSync(registry))
    if (
      /^[0-9]+$/.test(entry) &&
      unlinkStale(registry, Number(entry), (held) => held.node.startsWith(under))
    )
      freed++;
  return freed;
}
