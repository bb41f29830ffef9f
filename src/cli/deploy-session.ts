import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { toHex } from '../core/hex.ts';
import { vdcHome } from '../core/vdc-home.ts';
import { gridStatus } from '../grid/index.ts';
import type { Identity } from '../identity/index.ts';
import type { LedgerClient } from '../ledger/index.ts';
import type { DeploymentView } from '../node/index.ts';
import { followerDirectory, RelayClient } from '../relay/index.ts';
import type { CliIo } from './cli-io.ts';
import { connectAsUser, type LedgerFlags } from './ledger-context.ts';

/*
 * What `vdc deploy` and `vdc deployment …` share (docs/deploy.md): the user's identity and
 * twin, the ledger (--ledger, $VDC_LEDGER, or the running local grid's), a node as the
 * user's own verified view of the ledger has it, and a relay client logged in as the
 * user's twin (--relay, $VDC_RELAY, the twin's first relay on the ledger, or the running
 * local grid's) that talks to the node's twin.
 */

export interface SessionFlags extends LedgerFlags {
  relay?: string;
}

export interface NodeTarget {
  node: number;
  /** the node's twin, which answers its message API over the relay */
  twin: number;
  /** hex X25519 key secrets are sealed to */
  encryptionKey: string;
}

export interface DeploySession {
  identity: Identity;
  client: LedgerClient;
  twin: number;
  node: NodeTarget;
  relay: RelayClient;
  /** a request to the node's message API */
  call(method: string, params: Record<string, JsonValue>, timeoutMs?: number): Promise<JsonValue>;
  close(): Promise<void>;
}

const DEFAULT_REQUEST_MS = 30_000;
/**
 * The longest one request waits: a request's envelope lives as long as its wait, and
 * receivers refuse envelopes living longer than 5 minutes (docs/relay.md).
 */
export const MAX_REQUEST_MS = 240_000;

function runningGridAddress(io: CliIo, service: string): string | undefined {
  try {
    const s = gridStatus(vdcHome(io.env)).services[service];
    return s?.running ? s.address : undefined;
  } catch {
    return undefined; // no readable grid state: there is simply no local grid to default to
  }
}

/** The ledger flags with the URL defaulted: --ledger, then $VDC_LEDGER, then the local grid's. */
export function withDefaultLedger(io: CliIo, flags: LedgerFlags): LedgerFlags {
  if (flags.ledger || io.env['VDC_LEDGER']) return flags;
  const url = runningGridAddress(io, 'ledger');
  return url ? { ...flags, ledger: url } : flags;
}

/**
 * The node as the user's verified view of the ledger has it.
 * @throws VdcError DEPLOY_NODE_UNKNOWN
 */
export function nodeTarget(client: LedgerClient, node: number): NodeTarget {
  const view = client.follower.view;
  const record = view.node(node);
  const twin = record ? view.twin(record.twin) : undefined;
  if (!record || !twin)
    fail(
      'DEPLOY_NODE_UNKNOWN',
      `node ${node} is not registered on this ledger (as your verified copy of it shows): check the node id`,
    );
  return { node, twin: twin.id, encryptionKey: twin.encryptionKey };
}

/** @throws VdcError DEPLOY_RELAY_UNKNOWN, USAGE */
export function relayUrl(io: CliIo, flags: SessionFlags, twinRelays: readonly string[]): string {
  const url =
    flags.relay ?? io.env['VDC_RELAY'] ?? twinRelays[0] ?? runningGridAddress(io, 'relay');
  if (!url)
    fail(
      'DEPLOY_RELAY_UNKNOWN',
      "no relay known: pass --relay URL, set VDC_RELAY, or list one in your twin ('vdc twin register --relay URL')",
    );
  if (!/^wss?:\/\/\S+$/.test(url))
    fail('USAGE', `'--relay' must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
  return url.endsWith('/') && new URL(url).pathname === '/' ? url.slice(0, -1) : url;
}

/**
 * Unlocks the identity, follows the ledger, finds the node and logs in to a relay as the
 * user's twin. The relay client's replay store lives in a folder of this run only: a CLI
 * run accepts only responses to its own fresh request ids, so nothing older can be replayed
 * into it, and concurrent runs never share the store's file.
 * @throws VdcError TWIN_NOT_REGISTERED, DEPLOY_NODE_UNKNOWN, DEPLOY_RELAY_UNKNOWN,
 *   RELAY_UNAVAILABLE, and the ledger's and keystore's codes
 */
export async function openDeploySession(
  io: CliIo,
  flags: SessionFlags,
  node: number | ((client: LedgerClient, twin: number) => number),
): Promise<DeploySession> {
  const { client, identity } = await connectAsUser(io, withDefaultLedger(io, flags));
  const view = client.follower.view;
  // A relay logs in twins by their own key: a delegated key has no twin to log in as.
  const own = view.twinByKey(toHex(identity.signingPublicKey));
  if (!own)
    fail(
      'TWIN_NOT_REGISTERED',
      `your key ${toHex(identity.signingPublicKey).slice(0, 16)}… is not a twin's own key on this ledger: run 'vdc twin register --relay URL' first`,
    );
  const target = nodeTarget(client, typeof node === 'number' ? node : node(client, own.id));
  const url = relayUrl(io, flags, own.relays);
  const dataDir = mkdtempSync(join(tmpdir(), 'vdc-cli-relay-'));
  const relay = new RelayClient({
    url,
    identity,
    twin: own.id,
    directory: followerDirectory(client.follower),
    dataDir,
    reconnect: { minDelayMs: 100, maxDelayMs: 2000 },
  });
  const close = async () => {
    await relay.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await relay.ready(10_000);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    identity,
    client,
    twin: own.id,
    node: target,
    relay,
    call: (method, params, timeoutMs = DEFAULT_REQUEST_MS) =>
      relay.request(
        target.twin,
        { method, params },
        { timeoutMs: Math.min(MAX_REQUEST_MS, timeoutMs) },
      ),
    close,
  };
}

/** A deployment's view as the node answered it; the fields `vdc` shows. */
export function asView(value: JsonValue): DeploymentView {
  return value as unknown as DeploymentView;
}

/** `30d`, `12h`, `90m`, `3600s` → milliseconds. @throws VdcError USAGE */
export function parseDuration(value: string, flag: string): number {
  const m = /^([1-9][0-9]{0,5})(s|m|h|d)$/.exec(value);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const ms = m ? Number(m[1]) * unit[m[2] as keyof typeof unit] : Number.NaN;
  // The ledger takes contracts of up to five years.
  if (!(ms >= 60_000 && ms <= 5 * 365 * 86_400_000))
    fail(
      'USAGE',
      `'${flag}' must be a duration from 1m to 1825d such as 30d, 12h or 90m, got ${JSON.stringify(value)}`,
    );
  return ms;
}

/** Whole seconds 1..86400 → milliseconds. @throws VdcError USAGE */
export function parseSeconds(value: string, flag: string): number {
  const n = /^[1-9][0-9]{0,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= 86_400))
    fail('USAGE', `'${flag}' must be whole seconds in 1..86400, got ${JSON.stringify(value)}`);
  return n * 1000;
}
