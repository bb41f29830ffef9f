import { createHash, X509Certificate } from 'node:crypto';
import { createServer as createH2Server, type ServerHttp2Session } from 'node:http2';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { fail } from '../core/assert.ts';
import type { ErrorCode } from '../core/error-codes.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import type { Identity } from '../identity/index.ts';
import type { Projection } from '../ledger/index.ts';
import { signTunnelHello, TUNNEL_EXPORTER_BYTES, TUNNEL_EXPORTER_LABEL } from './tunnel-auth.ts';
import { type HostPort, streamForwarder, type TunnelTarget } from './tunnel-forward.ts';
import { frameObject, readFrame, writeFrame } from './tunnel-frame.ts';
import { TUNNEL_ALPN, TUNNEL_SETTINGS } from './tunnel-server.ts';
import { loadTunnelTls } from './tunnel-tls.ts';

/*
 * The backend's side of a tunnel: dial out to the gateway, pin its key from the ledger,
 * prove the right to serve the name, then serve HTTP/2 on the connection just opened. Each
 * CONNECT stream the gateway opens becomes one TCP connection to the local target, so the
 * backend never listens on any public address.
 */

export interface TunnelOptions {
  /** the verified ledger view (a LedgerFollower's `view`) */
  view: () => Projection;
  ledger: string;
  identity: Identity;
  name: string;
  /** where streams go: the local service (TCP, or a unix socket) */
  to: TunnelTarget;
  /** the gateway to use; default the one the name contract names */
  gateway?: number;
  /** dial here instead of the gateway's registered tunnel address (same pinned key) */
  address?: HostPort;
  /** for a node serving a name: its node id and the holder's grant (hex) */
  node?: number;
  grant?: string;
  /**
   * http mode over TLS: the certificate chain (PEM, leaf first) and private key (PEM) the
   * gateway serves NAME.DOMAIN with; the leaf's SHA-256 must be the name's `tlsCertSha256`.
   * Sent over this authenticated tunnel only, kept in the gateway's memory while it lasts.
   */
  tls?: { cert: Buffer | string; key: Buffer | string };
  handshakeMs?: number;
  /**
   * Brings `view` up to the ledger's newest head (a LedgerFollower's `sync`). Called once
   * when the gateway presents a key the view does not pin: the gateway may have rotated
   * its key (gateway.update) a moment before this view saw it.
   */
  sync?: () => Promise<unknown>;
  /** startTunnel: how often an open tunnel checks that the view still pins its key, ms */
  repinCheckMs?: number;
}

export interface OpenTunnel {
  /** resolves when the tunnel connection closes, for any reason */
  closed: Promise<void>;
  close(): void;
  session: ServerHttp2Session;
  /** the gateway's id, the key SPKI hash this connection was pinned to, and where it dialed */
  gateway: number;
  spkiSha256: string;
  /** the registered tunnel address dialed; undefined when `address` overrode it */
  tunnelAddress: string | undefined;
}

/** Parses HOST:PORT (IPv6 in brackets). @throws VdcError `code` */
export function parseHostPort(
  value: string,
  label: string,
  code: ErrorCode = 'TUNNEL_TARGET_INVALID',
): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535)
    fail(
      code,
      `'${label}' must be HOST:PORT (port 1..65535, IPv6 in brackets), got ${JSON.stringify(value)}`,
    );
  return { host: (m[1] ?? m[2])!, port };
}

function gatewayFor(opts: TunnelOptions) {
  const view = opts.view();
  const id = opts.gateway ?? view.name(opts.name)?.gateway;
  if (id === undefined)
    fail(
      'TUNNEL_NAME_UNKNOWN',
      `name ${opts.name} is not registered on this ledger: register it on a gateway first`,
    );
  const gateway = view.gateway(id);
  if (!gateway) fail('GATEWAY_UNKNOWN', `gateway ${id} is not registered on this ledger`);
  return gateway;
}

/**
 * The private key of a name goes only to the gateway the name is on, in http mode, pinning
 * this certificate — in our own view of the ledger, whatever a deployment or a flag says,
 * so a wrong gateway id or a name switched to passthrough never receives it. The codes are
 * the ones the gateway would answer.
 * @throws VdcError TUNNEL_NAME_UNKNOWN, TUNNEL_CERT_NOT_HTTP, TUNNEL_CERT_NOT_PINNED
 */
async function checkCertPinned(opts: TunnelOptions, gateway: number, sha256: string) {
  const refusal = (): [ErrorCode, string] | undefined => {
    const record = opts.view().name(opts.name);
    if (record?.gateway !== gateway)
      return ['TUNNEL_NAME_UNKNOWN', `name ${opts.name} is not on gateway ${gateway}`];
    if (record.mode !== 'http')
      return ['TUNNEL_CERT_NOT_HTTP', `name ${opts.name} is in ${record.mode} mode, not http`];
    if (record.rules.tlsCertSha256 !== sha256)
      return [
        'TUNNEL_CERT_NOT_PINNED',
        `name ${opts.name} does not pin certificate ${sha256.slice(0, 16)}…: update its rules.tlsCertSha256 first`,
      ];
    return undefined;
  };
  if (!refusal()) return;
  await opts.sync?.();
  const still = refusal();
  if (still)
    fail(still[0], `${still[1]} (this view of the ledger), so its private key is not sent`);
}

/**
 * Opens one tunnel: TLS to the gateway, pin check, signed hello, then HTTP/2 serving.
 * @throws VdcError TUNNEL_PIN_MISMATCH (the gateway's key is not the one in the ledger), the
 *   gateway's refusal code (TUNNEL_AUTH_FAILED, TUNNEL_NOT_NAME_OWNER, ...), TUNNEL_UNAVAILABLE
 */
export async function openTunnel(opts: TunnelOptions): Promise<OpenTunnel> {
  const gateway = gatewayFor(opts);
  const tls = opts.tls ? loadTunnelTls(opts.tls.cert, opts.tls.key) : undefined;
  const addr =
    opts.address ??
    parseHostPort(gateway.tunnelAddress, `gateway ${gateway.id} tunnelAddress`, 'GATEWAY_UNKNOWN');
  const handshakeMs = opts.handshakeMs ?? 10_000;
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: addr.host,
      port: addr.port,
      // The chain is not what we trust: the SPKI pin from the ledger is, checked below before a byte is sent.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      ALPNProtocols: [TUNNEL_ALPN],
      servername: /^[0-9.:]+$/.test(addr.host) ? '' : addr.host,
      timeout: handshakeMs,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('timeout', () => s.destroy(new Error(`no TLS handshake within ${handshakeMs} ms`)));
    s.once('error', (cause) =>
      reject(
        new VdcError(
          'TUNNEL_UNAVAILABLE',
          `cannot reach gateway ${gateway.id} at ${addr.host}:${addr.port}: ${cause.message}`,
          { cause },
        ),
      ),
    );
  });
  socket.setTimeout(0);
  socket.setNoDelay(true);
  let spki = '';
  try {
    const peer = socket.getPeerCertificate(false);
    spki = peer?.raw
      ? createHash('sha256')
          .update(new X509Certificate(peer.raw).publicKey.export({ type: 'spki', format: 'der' }))
          .digest('hex')
      : '';
    // Read after the handshake, not before: a handshake stalled past a gateway.update must
    // meet the key the ledger pins now.
    const pinNow = () => opts.view().gateway(gateway.id)?.tunnelSpkiSha256 ?? '';
    let pinned = pinNow();
    if (spki !== pinned && opts.sync) {
      await opts.sync();
      pinned = pinNow();
    }
    if (spki !== pinned)
      fail(
        'TUNNEL_PIN_MISMATCH',
        `the gateway at ${addr.host}:${addr.port} presented key ${spki.slice(0, 16) || 'none'}…, but the ledger pins ${pinned.slice(0, 16)}… for gateway ${gateway.id}: it is not that gateway`,
      );
    if (tls) await checkCertPinned(opts, gateway.id, tls.sha256);
    const exporter = socket.exportKeyingMaterial(
      TUNNEL_EXPORTER_BYTES,
      TUNNEL_EXPORTER_LABEL,
      Buffer.alloc(0),
    );
    await writeFrame(
      socket,
      signTunnelHello(
        opts.identity,
        {
          ledger: opts.ledger,
          gateway: gateway.id,
          name: opts.name,
          ...(opts.node === undefined ? {} : { node: opts.node, grant: opts.grant ?? '' }),
          ...(tls ? { cert: tls.sha256 } : {}),
        },
        exporter,
      ),
    );
    if (tls) await writeFrame(socket, { cert: tls.cert, key: tls.key });
    const answer = frameObject(await readFrame(socket, handshakeMs), 'answer');
    if (answer['ok'] !== true) {
      const code = typeof answer['code'] === 'string' ? answer['code'] : 'TUNNEL_REFUSED';
      const known = code.startsWith('TUNNEL_') || code.startsWith('GATEWAY_');
      throw new VdcError(
        (known ? code : 'TUNNEL_REFUSED') as ErrorCode,
        `gateway ${gateway.id} refused the tunnel for ${opts.name}: ${String(answer['message'] ?? code)}`,
      );
    }
  } catch (err) {
    socket.destroy();
    throw asVdcError(err);
  }
  const server = createH2Server({ settings: TUNNEL_SETTINGS });
  const forwarder = streamForwarder(opts.to);
  const session: ServerHttp2Session = await new Promise((resolve) => {
    server.once('session', resolve);
    server.on('stream', (stream, headers) => forwarder.serve(stream, headers));
    server.emit('connection', socket);
  });
  session.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      forwarder.close();
      resolve();
    });
  });
  return {
    closed,
    session,
    gateway: gateway.id,
    spkiSha256: spki,
    tunnelAddress: opts.address ? undefined : gateway.tunnelAddress,
    close() {
      session.destroy();
      socket.destroy();
    },
  };
}

/** Refusals that retrying cannot change: the client stops and reports them. */
export function isPermanentRefusal(err: VdcError): boolean {
  if (err.code === 'TUNNEL_CERT_EXPIRED') return true; // waiting does not renew it
  // Nothing was sent, and the ledger may pin the presented key in a moment (a gateway
  // re-keyed while our view caught up): retried with backoff, each try logged.
  if (err.code === 'TUNNEL_PIN_MISMATCH') return false;
  return ['unauthorized', 'forbidden', 'not-found', 'invalid', 'usage'].includes(err.kind);
}

export interface RunningTunnel {
  /** rejects with a permanent refusal; resolves after stop() */
  done: Promise<void>;
  stop(): void;
  /** how many times the tunnel has been connected */
  readonly connects: number;
}

/**
 * Keeps a tunnel open: reconnects with exponential backoff (250 ms doubling to 30 s, with
 * jitter) after the connection drops or the gateway cannot be reached; stops on a permanent
 * refusal (not allowed, pin mismatch, unknown name), which `done` rejects with.
 * @throws nothing itself; see `done`
 */
export function startTunnel(
  opts: TunnelOptions & {
    onEvent?: (event: 'open' | 'closed' | 'retry', fields: Record<string, unknown>) => void;
    maxBackoffMs?: number;
  },
): RunningTunnel {
  let stopped = false;
  let current: OpenTunnel | undefined;
  let wake: (() => void) | undefined;
  let connects = 0;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const done = (async () => {
    let backoff = 250;
    while (!stopped) {
      try {
        const open = await openTunnel(opts);
        current = open;
        connects++;
        backoff = 250;
        opts.onEvent?.('open', { name: opts.name });
        if (stopped) open.close();
        // A gateway re-keyed (gateway.update) after a leak: the old key is no longer that
        // gateway, so a connection pinned to it is dropped and the loop pins the new one.
        let why: string | undefined;
        const repin = setInterval(() => {
          let now: { tunnelSpkiSha256: string; tunnelAddress: string } | undefined;
          try {
            now = opts.view().gateway(open.gateway);
          } catch {} // a view that caught its ledger lying pins nothing
          if (now?.tunnelSpkiSha256 !== open.spkiSha256)
            why = 'the ledger pins another key for the gateway now';
          else if (open.tunnelAddress !== undefined && now.tunnelAddress !== open.tunnelAddress)
            why = `the gateway moved to ${now.tunnelAddress}`;
          else return;
          open.close();
        }, opts.repinCheckMs ?? 2_000);
        await open.closed.finally(() => clearInterval(repin));
        current = undefined;
        opts.onEvent?.('closed', { name: opts.name, ...(why ? { why } : {}) });
      } catch (err) {
        const e = asVdcError(err);
        if (isPermanentRefusal(e)) throw e;
        const wait = Math.round(backoff * (0.5 + Math.random() / 2));
        opts.onEvent?.('retry', { name: opts.name, code: e.code, err: e.message, inMs: wait });
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, wait);
        });
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  })();
  return {
    done,
    get connects() {
      return connects;
    },
    stop() {
      stopped = true;
      current?.close();
      wake?.();
    },
  };
}
