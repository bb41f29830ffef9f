import { isIPv4, isIPv6 } from 'node:net';

/*
 * Bounds on connections that have not logged in yet (docs/relay.md, "Queues and bounds").
 * Such a connection costs the relay a socket and a timer until its login deadline; counting
 * them per source address stops one host from holding every connection slot with
 * challenges it never answers. IPv6 sources are grouped by /64, since anyone holding one
 * address usually holds the whole /64.
 */

/** The group a remote address counts in: the IPv4 address, or the IPv6 /64 prefix. */
export function addressGroup(remote: string | undefined): string {
  if (!remote) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (mapped) return mapped[1]!;
  if (isIPv4(remote)) return remote;
  if (!isIPv6(remote)) return remote;
  const [head = '', tail = ''] = remote.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = remote.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = remote.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export interface PreauthLimits {
  /** Connections not yet logged in, in all. */
  maxUnauthenticated: number;
  /** Connections not yet logged in from one address (IPv6: one /64). */
  maxUnauthenticatedPerAddress: number;
}

export const DEFAULT_PREAUTH_LIMITS: PreauthLimits = {
  maxUnauthenticated: 1024,
  maxUnauthenticatedPerAddress: 32,
};

export class PreauthGuard {
  readonly #limits: PreauthLimits;
  readonly #byGroup = new Map<string, number>();
  #total = 0;
  refused = 0;

  constructor(limits: PreauthLimits) {
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  /**
   * Counts a new unauthenticated connection from `group`, if the bounds allow it.
   * @returns false (and counts nothing) when either bound is reached
   */
  enter(group: string): boolean {
    const n = this.#byGroup.get(group) ?? 0;
    if (this.#total >= this.#limits.maxUnauthenticated) {
      this.refused++;
      return false;
    }
    if (n >= this.#limits.maxUnauthenticatedPerAddress) {
      this.refused++;
      return false;
    }
    this.#byGroup.set(group, n + 1);
    this.#total++;
    return true;
  }

  /** The connection logged in or closed; call once per successful `enter`. */
  leave(group: string): void {
    const n = this.#byGroup.get(group) ?? 0;
    if (n <= 1) this.#byGroup.delete(group);
    else this.#byGroup.set(group, n - 1);
    if (n > 0) this.#total--;
  }
}
