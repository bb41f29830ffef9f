import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { asVdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { jsonLogger, type Logger } from '../core/log.ts';
import { settleWithin } from '../core/settle-within.ts';
import type { Identity } from '../identity/index.ts';
import { LedgerClient, type LedgerFollower, type LedgerNode } from '../ledger/index.ts';
import { followerDirectory, RelayClient } from '../relay/index.ts';
import { DeploymentEngine, type WorkloadRuntime } from './deployment-engine.ts';
import { DeploymentStore } from './deployment-store.ts';
import { nodeApi } from './node-api.ts';
import { readCapacity, readMemory } from './node-capacity.ts';
import type { SignedGrant } from './node-grant.ts';
import { attachLedger } from './node-runtimes.ts';
import type { WorkloadKind } from './workload-kinds.ts';

/*
 * The node agent (DESIGN §7): it enrols with the farmer's grant or resumes, follows the
 * ledger with its own verifying follower, connects OUT to its relay and answers the message
 * API there, reports at an interval with the newest head it verified, and on every report
 * tick and every new head it reconciles (removes deployments whose contract is no longer
 * active) and checks its lease: a node whose newest verified head is older than
 * `fenceAfterMs` fences every deployment, because the owner's agent may have healed them
 * elsewhere. It opens no listening socket: everything it does is a connection out.
 */

export const DEFAULT_REPORT_INTERVAL_MS = 20_000;
export const DEFAULT_FENCE_AFTER_MS = 60_000;
/** How long a deployment waits for the follower to reach the ledger's newest head. */
const SYNC_BEFORE_CHECK_MS = 5000;

export interface NodeAgentOptions {
  data: string;
  ledgerUrl: string;
  relayUrl: string;
  /** further relays, listed with the first in the node's twin at registration */
  moreRelays?: string[];
  farm: number;
  identity: Identity;
  grant?: SignedGrant;
  /** the ledger's key, pinned on first contact otherwise */
  ledgerKey?: string;
  reportIntervalMs?: number;
  fenceAfterMs?: number;
  clock?: Clock;
  logger?: Logger;
  runtimes?: Partial<Record<WorkloadKind, WorkloadRuntime>>;
}

export interface NodeAgent {
  readonly node: number;
  readonly twin: number;
  readonly farm: number;
  /** whether this start registered the node (false: it resumed) */
  readonly registered: boolean;
  readonly engine: DeploymentEngine;
  readonly follower: LedgerFollower;
  readonly relay: RelayClient;
  /** One report tick now: sync, report, fence check, reconcile. */
  tick(): Promise<void>;
  close(): Promise<void>;
}

async function registerOrResume(
  client: LedgerClient,
  o: NodeAgentOptions,
): Promise<{ node: LedgerNode; registered: boolean }> {
  const key = toHex(o.identity.signingPublicKey);
  const known = client.follower.view.nodeByKey(key);
  if (known) {
    if (known.farm !== o.farm)
      fail(
        'NODE_FARM_MISMATCH',
        `this node key is registered as node ${known.id} in farm ${known.farm}, not in farm ${o.farm}: a node moves farms only with a new key (a new --data folder)`,
      );
    return { node: known, registered: false };
  }
  if (!o.grant)
    fail(
      'NODE_GRANT_REQUIRED',
      `this node is not registered yet: the farmer runs 'vdc farm enrol --farm ${o.farm} --node-key ${key}' and gives you the grant file for --grant`,
    );
  await client.submit(o.identity, 'node.register', {
    farm: o.farm,
    encryptionKey: toHex(o.identity.encryptionPublicKey),
    relays: [...new Set([o.relayUrl, ...(o.moreRelays ?? [])].map((r) => new URL(r).href))],
    grant: o.grant.grant,
    grantSignature: o.grant.grantSignature,
  });
  const node = client.follower.view.nodeByKey(key);
  if (!node)
    fail(
      'LEDGER_STATE_MISMATCH',
      'node.register was logged but the node is not in the verified view',
    );
  return { node, registered: true };
}

/**
 * Starts the node agent.
 * @throws VdcError NODE_GRANT_REQUIRED, NODE_FARM_MISMATCH, NODE_STATE_CORRUPT, the ledger's
 *   refusal of node.register (ENROL_GRANT_*), LEDGER_*, PEER_*
 */
export async function startNodeAgent(o: NodeAgentOptions): Promise<NodeAgent> {
  const clock = o.clock ?? systemClock;
  const reportEvery = o.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS;
  const fenceAfter = o.fenceAfterMs ?? DEFAULT_FENCE_AFTER_MS;
  const client = await LedgerClient.connect({
    url: o.ledgerUrl,
    home: o.data,
    ...(o.ledgerKey ? { ledgerKey: o.ledgerKey } : {}),
  });
  const follower = client.follower;
  const { node, registered } = await registerOrResume(client, o);
  const log = (o.logger ?? jsonLogger(undefined, { program: 'node' })).child({ node: node.id });
  const started = clock.now();
  // Bounded: a slow ledger must not hold a deployment past the sender's request timeout, nor
  // a tunnel handshake past the gateway's.
  const boundedSync = async () => void (await settleWithin(follower.sync(), SYNC_BEFORE_CHECK_MS));
  const engine = new DeploymentEngine({
    store: new DeploymentStore(join(o.data, 'deployments')),
    view: () => follower.view,
    ledger: follower.ledger,
    node: node.id,
    clock,
    logger: log,
    sync: boundedSync,
    ...(o.runtimes ? { runtimes: o.runtimes } : {}),
    memory: () => readMemory().total,
  });
  // The gateway runtime opens tunnels as this node, on this node's verified view.
  attachLedger(o.runtimes ?? {}, {
    view: () => follower.view,
    sync: boundedSync,
    ledger: follower.ledger,
    node: node.id,
  });
  const relay = new RelayClient({
    // the relay given first, then every relay the node is listed with on the ledger, so the
    // node stays reachable while one of them is down (DESIGN §6)
    url: o.relayUrl,
    urls: o.moreRelays ?? [],
    relaysFromDirectory: true,
    identity: o.identity,
    twin: node.twin,
    directory: followerDirectory(follower),
    dataDir: join(o.data, 'relay'),
    // A relay learns a newly registered twin from its own follower a moment after the
    // node does, so the first logins may be refused: retry soon, and never wait long.
    reconnect: { minDelayMs: 100, maxDelayMs: 2000 },
    logger: log.child({ part: 'relay-client' }),
  });

  // The newest head verified so far. The follower shows no head while it is applying the
  // leaves of a newer one; that moment must not read as "no lease".
  let lease = follower.head;
  const newestHead = () => {
    const h = follower.head;
    if (h && (!lease || h.size > lease.size || h.time > lease.time)) lease = h;
    return lease;
  };
  const headView = () => {
    const h = newestHead();
    return h ? { size: h.size, root: h.root, time: h.time } : null;
  };
  const stats = (): JsonValue => ({
    node: node.id,
    farm: node.farm,
    twin: node.twin,
    uptime: Math.floor((clock.now() - started) / 1000),
    capacity: readCapacity(o.data) as unknown as JsonValue,
    head: headView(),
    fenced: engine.fenced,
    relay: { connected: relay.connected },
  });
  const farmOwner = () => follower.view.farm(node.farm)?.owner;
  relay.handle(nodeApi({ engine, stats, isFarmer: (twin) => twin === farmOwner() }));
  // Only `request` envelopes reach the API; every other kind is answered with a refusal.
  relay.onMessage((msg) => {
    if (msg.kind === 'response') return; // a late or stray answer: never answer an answer
    const body = {
      ok: false,
      error: {
        code: 'NODE_API_KIND_REFUSED',
        message: `this node answers only 'request' envelopes; kind ${JSON.stringify(msg.kind)} is refused`,
      },
    };
    relay.send(msg.from, 'response', body, { replyTo: msg.id }).catch(() => {});
  });

  const checkLease = async () => {
    const failure = follower.failure;
    const head = newestHead();
    const age = head ? clock.now() - head.time : Number.POSITIVE_INFINITY;
    if (failure) await engine.setFenced(true, `the ledger failed verification: ${failure.code}`);
    else if (age > fenceAfter)
      await engine.setFenced(
        true,
        head
          ? `the newest verified ledger head is ${Math.round(age / 1000)} s old (fence after ${fenceAfter / 1000} s)`
          : 'no verified ledger head yet',
      );
    else await engine.setFenced(false, 'caught up with the ledger');
  };
  const reconcile = async () => {
    await checkLease();
    if (follower.failure) return; // a forged view decides nothing, not even removals
    const removed = await engine.reconcile();
    if (removed.length)
      log.log('info', 'removed deployments without an active contract', { removed });
  };

  let ticking: Promise<void> | undefined;
  const tick = () => {
    ticking ??= (async () => {
      try {
        await follower.sync();
      } catch (err) {
        log.log('warn', 'ledger sync failed', { code: asVdcError(err).code });
      }
      try {
        const h = follower.head;
        await client.submit(o.identity, 'node.report', {
          node: node.id,
          uptime: Math.floor((clock.now() - started) / 1000),
          capacity: readCapacity(o.data),
          head: h ? { size: h.size, root: h.root } : null,
        });
      } catch (err) {
        log.log('warn', 'node.report failed', { code: asVdcError(err).code });
      }
      await reconcile().catch((err: unknown) =>
        log.log('error', 'reconcile failed', { code: asVdcError(err).code }),
      );
    })().finally(() => {
      ticking = undefined;
    });
    return ticking;
  };

  const abort = new AbortController();
  follower
    .follow(
      abort.signal,
      () => void reconcile().catch(() => {}),
      (err) => log.log('warn', 'ledger stream interrupted; retrying', { code: err.code }),
    )
    .catch((err: unknown) => {
      log.log('error', 'ledger follower stopped: fencing every deployment', {
        code: asVdcError(err).code,
      });
      void checkLease().catch(() => {});
    });
  const timer = setInterval(() => void tick(), reportEvery);
  await tick();
  // Workloads that ran on through the restart are left alone; the others start again.
  await engine.resume();
  log.log('info', registered ? 'node registered' : 'node resumed', {
    twin: node.twin,
    farm: node.farm,
  });

  return {
    node: node.id,
    twin: node.twin,
    farm: node.farm,
    registered,
    engine,
    follower,
    relay,
    tick,
    async close() {
      clearInterval(timer);
      abort.abort();
      await ticking?.catch(() => {});
      await relay.close();
      for (const runtime of Object.values(o.runtimes ?? {})) runtime.close?.();
    },
  };
}
