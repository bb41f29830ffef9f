import { fail } from '../core/assert.ts';
import { asVdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import type { Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import type { LedgerClient, LedgerFollower, NameRecord } from '../ledger/index.ts';
import { BackendPool } from './backend-pool.ts';
import { startHttpFront } from './http-front.ts';
import { RateLimiter } from './name-policy.ts';
import { startTlsFront } from './tls-front.ts';
import type { HostPort } from './tunnel-forward.ts';
import { startTunnelServer } from './tunnel-server.ts';

/*
 * A gateway: the tunnel port, the public HTTP and TLS listeners, and the ledger view that
 * decides what is served. A name is looked up in the verified view on every request and
 * connection, and every tunnel is re-checked at every new head, so a released or re-pointed
 * name stops being served as soon as the follower has seen it (seconds).
 */

export interface GatewayOptions {
  follower: LedgerFollower;
  gateway: number;
  domain: string;
  http: HostPort;
  https: HostPort;
  tunnel: HostPort;
  key: Buffer;
  cert: Buffer;
  logger: Logger;
  /** a fallback sync when the event stream is quiet, ms */
  syncMs?: number;
  headersTimeoutMs?: number;
  checkIntervalMs?: number;
  helloTimeoutMs?: number;
}

export interface RunningGateway {
  httpPort: number;
  httpsPort: number;
  tunnelPort: number;
  pool: BackendPool;
  close(): Promise<void>;
}

/**
 * Finds this operator's gateway for `domain`, or registers it (gateway.register, signed by
 * the farm owner) when the ledger has none. When the ledger holds another tunnel key or
 * address for it, `update` records these (gateway.update: a rotated key, a moved gateway);
 * without it that is an error, so a wrong key file never re-keys a gateway by accident.
 * @throws VdcError GATEWAY_NO_FARM, GATEWAY_REGISTRATION_MISMATCH, the ledger's refusal
 */
export async function ensureGatewayRegistered(
  client: LedgerClient,
  identity: Identity,
  want: {
    domain: string;
    tunnelAddress: string;
    spkiSha256: string;
    farm?: number;
    update?: boolean;
  },
): Promise<{ id: number; registered: boolean; updated: boolean }> {
  await client.follower.sync();
  const view = client.follower.view;
  const existing = view.gatewayByDomain(want.domain);
  if (existing) {
    const same =
      existing.tunnelSpkiSha256 === want.spkiSha256 &&
      existing.tunnelAddress === want.tunnelAddress;
    if (same) return { id: existing.id, registered: false, updated: false };
    if (!want.update)
      fail(
        'GATEWAY_REGISTRATION_MISMATCH',
        `gateway ${existing.id} for ${want.domain} is registered with tunnel ${existing.tunnelAddress} and key ${existing.tunnelSpkiSha256.slice(0, 16)}…, not ${want.tunnelAddress} and ${want.spkiSha256.slice(0, 16)}…: run with the key file and tunnel address it was registered with, or add --update-registration to record these`,
      );
    await client.submit(identity, 'gateway.update', {
      gateway: existing.id,
      tunnelAddress: want.tunnelAddress,
      tunnelSpkiSha256: want.spkiSha256,
    });
    // Serve only once our own view pins the new key, as the backends' views will.
    await client.follower.sync();
    return { id: existing.id, registered: false, updated: true };
  }
  const twin = client.twinOf(identity);
  const farms = twin === undefined ? [] : view.farmsOf(twin);
  const farm = want.farm ?? farms[0]?.id;
  if (farm === undefined)
    fail(
      'GATEWAY_NO_FARM',
      `key ${toHex(identity.signingPublicKey).slice(0, 16)}… owns no farm: create one with 'vdc farm create' first`,
    );
  const receipt = await client.submit(identity, 'gateway.register', {
    farm,
    domain: want.domain,
    tunnelAddress: want.tunnelAddress,
    tunnelSpkiSha256: want.spkiSha256,
  });
  return { id: receipt.created['gateways'] ?? Number.NaN, registered: true, updated: false };
}

/** Starts the listeners and follows the ledger. @throws when a port cannot be bound */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const { follower, logger } = opts;
  const pool = new BackendPool();
  const limiter = new RateLimiter();
  const lookup = (name: string): NameRecord | undefined => {
    try {
      return follower.view.nameOnGateway(opts.gateway, name);
    } catch {
      return undefined; // a follower that caught the ledger lying serves nothing
    }
  };
  const tunnel = await startTunnelServer({
    ...opts.tunnel,
    key: opts.key,
    cert: opts.cert,
    ledger: follower.ledger,
    gateway: opts.gateway,
    domain: opts.domain,
    view: () => follower.view,
    sync: () => follower.sync(),
    pool,
    logger: logger.child({ part: 'tunnel' }),
  });
  const front = { domain: opts.domain, lookup, pool, limiter };
  let httpsPort: number | undefined;
  const http = await startHttpFront({
    ...opts.http,
    ...front,
    httpsPort: () => httpsPort,
    logger: logger.child({ part: 'http' }),
    ...(opts.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: opts.headersTimeoutMs }),
    ...(opts.checkIntervalMs === undefined ? {} : { checkIntervalMs: opts.checkIntervalMs }),
  });
  const tls = await startTlsFront({
    ...opts.https,
    ...front,
    logger: logger.child({ part: 'tls' }),
    terminated: (socket) => http.accept(socket),
    ...(opts.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: opts.helloTimeoutMs }),
  });
  httpsPort = tls.port;
  const stop = new AbortController();
  const recheck = () => {
    try {
      tunnel.recheck();
    } catch (err) {
      logger.log('error', 'ledger view unusable: closing every tunnel', { err: asVdcError(err) });
      pool.closeAll();
    }
  };
  void follower
    .follow(stop.signal, recheck, (err) => logger.log('warn', 'ledger stream', { err }))
    .catch((err) => {
      logger.log('error', 'ledger follower failed: serving nothing', { err: asVdcError(err) });
      pool.closeAll();
    });
  const poll = setInterval(() => {
    follower.sync().then(recheck, () => {});
  }, opts.syncMs ?? 2_000);
  poll.unref();
  return {
    httpPort: http.port,
    httpsPort: tls.port,
    tunnelPort: tunnel.port,
    pool,
    async close() {
      stop.abort();
      clearInterval(poll);
      await Promise.all([tunnel.close(), http.close(), tls.close()]);
    },
  };
}
