import type { LedgerFollower } from '../ledger/index.ts';
import type { DirectoryTwin, TwinDirectory } from '../relay/index.ts';

/*
 * The twin directory the node's relay client uses, over the node's OWN follower (one
 * verified view for every decision the node makes: envelope senders, deployment owners,
 * contracts). Lookups throw once the follower met a forged log, so the node then opens
 * nothing at all.
 */

/** The ledger writes relay URLs as URL.href (`ws://host:port/`); relays name themselves without it. */
function relayForm(url: string): string {
  return url.endsWith('/') && new URL(url).pathname === '/' ? url.slice(0, -1) : url;
}

function toDirectoryTwin(
  twin:
    | { id: number; signingKey: string; encryptionKey: string; relays: readonly string[] }
    | undefined,
): DirectoryTwin | undefined {
  if (!twin) return undefined;
  return {
    id: twin.id,
    signingKey: Buffer.from(twin.signingKey, 'hex'),
    encryptionKey: Buffer.from(twin.encryptionKey, 'hex'),
    relays: twin.relays.map(relayForm),
  };
}

export function followerDirectory(follower: LedgerFollower): TwinDirectory {
  return {
    ledger: follower.ledger,
    twin: (id) => toDirectoryTwin(follower.view.twin(id)),
    twinByKey: (key) => toDirectoryTwin(follower.view.twinByKey(key)),
  };
}
