import type { JsonValue } from '../core/canonical-json.ts';
import { LedgerClient, type LedgerFollower } from '../ledger/index.ts';
import type { DirectoryTwin, TwinDirectory } from './twin-directory.ts';

/*
 * The relay's twin directory over its own verifying follower of the ledger (DESIGN §5: a
 * relay never trusts the ledger server's word about keys). The follower keeps following the
 * event stream in the background; if it ever meets a forked or rewritten log, every lookup
 * throws that error and the relay refuses everyone rather than act on a false view.
 */

export interface LedgerDirectory extends TwinDirectory {
  close(): void;
}

/** The ledger writes relay URLs as URL.href (`ws://host:port/`); the relay names itself without the root slash. */
export function relayForm(url: string): string {
  try {
    return url.endsWith('/') && new URL(url).pathname === '/' ? url.slice(0, -1) : url;
  } catch {
    return url; // not a URL: dialing it fails with a clear error of its own
  }
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

/**
 * Pins the ledger key (config under `home`), syncs, and keeps following.
 * @throws VdcError LEDGER_*, PEER_* when the ledger cannot be verified at start
 */
export async function openTwinDirectory(
  ledgerUrl: string,
  opts: {
    home: string;
    ledgerKey?: string;
    log?: (msg: string, fields?: Record<string, JsonValue>) => void;
  },
): Promise<LedgerDirectory> {
  const client = await LedgerClient.connect({
    url: ledgerUrl,
    home: opts.home,
    ...(opts.ledgerKey ? { ledgerKey: opts.ledgerKey } : {}),
    say: (line) => opts.log?.(line),
  });
  const follower = client.follower;
  const abort = new AbortController();
  follower
    .follow(abort.signal, undefined, (err) =>
      opts.log?.('ledger unreachable; retrying', { code: err.code }),
    )
    .catch((err: unknown) =>
      opts.log?.('ledger follower stopped: refusing every lookup', {
        error: String((err as Error).message),
      }),
    );
  return { ...followerDirectory(follower), close: () => abort.abort() };
}

/**
 * A twin directory over a follower someone already runs (the node agent's own): lookups
 * throw once that follower met a forged log, so nothing is opened on a false view.
 */
export function followerDirectory(follower: LedgerFollower): TwinDirectory {
  return {
    ledger: follower.ledger,
    twin: (id) => toDirectoryTwin(follower.view.twin(id)),
    twinByKey: (key) => toDirectoryTwin(follower.view.twinByKey(key)),
  };
}
