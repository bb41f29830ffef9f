import { fail } from '../core/assert.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Identity } from '../identity/index.ts';
import type { NameRecord, Projection } from '../ledger/index.ts';
import { frameObject } from './tunnel-frame.ts';

/*
 * Who may serve a name through a gateway (docs/gateway.md, "Tunnel handshake"):
 *
 * - the name's holder: its twin's signing key, or a delegate of that twin granted name
 *   rights, not expired;
 * - a node the name contract lists, signing with its own key and presenting the holder's
 *   grant: a `vdc/grant/v1` signature over {purpose, ledger, gateway, name, node}.
 *
 * The hello is signed under `vdc/tunnel/v1` over the ledger, gateway, name, signer and the
 * TLS session's exported keying material (RFC 8446 §7.5), so a captured hello verifies on
 * no other TLS connection: it cannot be replayed.
 */

export const TUNNEL_EXPORTER_LABEL = 'EXPORTER-vdc-tunnel-v1';
export const TUNNEL_EXPORTER_BYTES = 32;
const NAME_RIGHTS = ['name.register', 'name.update'] as const;

export interface TunnelHello {
  v: 1;
  ledger: string;
  gateway: number;
  name: string;
  /** hex Ed25519 key that signed */
  key: string;
  /** for a node's tunnel: its node id and the holder's grant (hex signature) */
  node?: number;
  grant?: string;
  /** hex SHA-256 of the leaf certificate sent in the next frame (http mode over TLS) */
  cert?: string;
  sig: string;
}

export interface TunnelGrantTerms {
  ledger: string;
  gateway: number;
  name: string;
  node: number;
}

function grantPayload(t: TunnelGrantTerms) {
  return { purpose: 'gateway-tunnel', ...t };
}

function helloPayload(h: Omit<TunnelHello, 'v' | 'sig' | 'grant'>, exporter: Buffer) {
  return {
    purpose: 'tunnel-hello',
    ledger: h.ledger,
    gateway: h.gateway,
    name: h.name,
    key: h.key,
    ...(h.node === undefined ? {} : { node: h.node }),
    ...(h.cert === undefined ? {} : { cert: h.cert }),
    exporter: toHex(exporter),
  };
}

/** The holder's grant letting node `terms.node` serve the name: hex, as a gateway workload carries it. */
export function signTunnelGrant(identity: Identity, terms: TunnelGrantTerms): string {
  return toHex(identity.sign(SIGNING_TAGS.grant, grantPayload(terms)));
}

/** The hello a backend sends on a TLS connection whose exporter is `exporter`. */
export function signTunnelHello(
  identity: Identity,
  terms: {
    ledger: string;
    gateway: number;
    name: string;
    node?: number;
    grant?: string;
    cert?: string;
  },
  exporter: Buffer,
): TunnelHello {
  const key = toHex(identity.signingPublicKey);
  const base = {
    ledger: terms.ledger,
    gateway: terms.gateway,
    name: terms.name,
    key,
    ...(terms.node === undefined ? {} : { node: terms.node }),
    ...(terms.cert === undefined ? {} : { cert: terms.cert }),
  };
  const sig = toHex(identity.sign(SIGNING_TAGS.tunnel, helloPayload(base, exporter)));
  return {
    v: 1,
    ...base,
    ...(terms.grant === undefined ? {} : { grant: terms.grant }),
    sig,
  };
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Shape check of a received hello. @throws VdcError TUNNEL_FRAME_MALFORMED */
export function parseTunnelHello(value: unknown): TunnelHello {
  const h = frameObject(value, 'hello');
  const C = 'TUNNEL_FRAME_MALFORMED';
  const allowed = new Set([
    'v',
    'ledger',
    'gateway',
    'name',
    'key',
    'node',
    'grant',
    'cert',
    'sig',
  ]);
  for (const k of Object.keys(h))
    if (!allowed.has(k)) fail(C, `the tunnel hello has an unknown field '${k}'`);
  if (h['v'] !== 1) fail(C, `the tunnel hello must have v 1, got ${JSON.stringify(h['v'])}`);
  if (typeof h['ledger'] !== 'string' || h['ledger'].length > 128)
    fail(C, "the tunnel hello's 'ledger' must be the ledger id");
  if (!Number.isSafeInteger(h['gateway']) || (h['gateway'] as number) < 1)
    fail(C, "the tunnel hello's 'gateway' must be a gateway id");
  if (typeof h['name'] !== 'string' || !LABEL.test(h['name']))
    fail(C, "the tunnel hello's 'name' must be one DNS label");
  fromHex(h['key'], 'hello.key', 32, C);
  fromHex(h['sig'], 'hello.sig', 64, C);
  if ((h['node'] === undefined) !== (h['grant'] === undefined))
    fail(C, "the tunnel hello carries 'node' and 'grant' together or neither");
  if (h['node'] !== undefined) {
    if (!Number.isSafeInteger(h['node']) || (h['node'] as number) < 1)
      fail(C, "the tunnel hello's 'node' must be a node id");
    fromHex(h['grant'], 'hello.grant', 64, C);
  }
  if (
    h['cert'] !== undefined &&
    (typeof h['cert'] !== 'string' || !/^[0-9a-f]{64}$/.test(h['cert']))
  )
    fail(C, "the tunnel hello's 'cert' must be the hex SHA-256 of the leaf certificate");
  return h as unknown as TunnelHello;
}

export interface TunnelAuthority {
  name: string;
  /** the name holder's twin */
  twin: number;
  /** set when a node serves the name */
  node?: number;
}

function holderKeys(view: Projection, record: NameRecord, now: number): string[] {
  const keys: string[] = [];
  const twin = view.twin(record.twin);
  if (twin) keys.push(twin.signingKey);
  for (const d of view.delegationsOf(record.twin))
    if (now < d.expiresAt && d.types.some((t) => (NAME_RIGHTS as readonly string[]).includes(t)))
      keys.push(d.key);
  return keys;
}

/**
 * Decides whether `hello`, received on a TLS session with `exporter`, may serve its name on
 * this gateway now. Also run again at every new ledger head for every open tunnel.
 * @throws VdcError TUNNEL_AUTH_FAILED, TUNNEL_NAME_UNKNOWN, TUNNEL_NOT_NAME_OWNER,
 *   TUNNEL_NODE_NOT_LISTED, TUNNEL_GRANT_INVALID
 */
export function authorizeTunnel(
  view: Projection,
  hello: TunnelHello,
  at: { ledger: string; gateway: number; exporter: Buffer; now: number },
): TunnelAuthority {
  if (hello.ledger !== at.ledger || hello.gateway !== at.gateway)
    fail(
      'TUNNEL_AUTH_FAILED',
      `this is gateway ${at.gateway} of ledger ${at.ledger}; the hello was made for gateway ${hello.gateway} of ledger ${hello.ledger}`,
    );
  const key = fromHex(hello.key, 'hello.key', 32, 'TUNNEL_FRAME_MALFORMED');
  if (
    !verify(
      SIGNING_TAGS.tunnel,
      helloPayload(hello, at.exporter),
      fromHex(hello.sig, 'hello.sig', 64),
      key,
    )
  )
    fail(
      'TUNNEL_AUTH_FAILED',
      'the tunnel hello signature does not verify for this TLS session: it was made for another connection (a replay) or by another key',
    );
  const record = view.nameOnGateway(at.gateway, hello.name);
  if (!record)
    fail(
      'TUNNEL_NAME_UNKNOWN',
      `name ${hello.name} has no name contract naming gateway ${at.gateway}: register the name on this gateway first`,
    );
  const holders = holderKeys(view, record, at.now);
  if (hello.node === undefined) {
    if (!holders.includes(hello.key))
      fail(
        'TUNNEL_NOT_NAME_OWNER',
        `key ${hello.key.slice(0, 16)}… neither holds name ${hello.name} (twin ${record.twin}) nor is a delegate with name rights: only the holder, or a node it lists with its grant, serves the name`,
      );
    return { name: record.name, twin: record.twin };
  }
  const node = view.node(hello.node);
  const nodeTwin = node ? view.twin(node.twin) : undefined;
  if (!node || !nodeTwin || nodeTwin.signingKey !== hello.key)
    fail(
      'TUNNEL_AUTH_FAILED',
      `key ${hello.key.slice(0, 16)}… is not the key of node ${hello.node}: a node signs its tunnel with its own key`,
    );
  if (!record.nodes.includes(hello.node))
    fail(
      'TUNNEL_NODE_NOT_LISTED',
      `node ${hello.node} is not listed in the name contract of ${hello.name} (nodes ${JSON.stringify(record.nodes)}): the holder adds it with a name update`,
    );
  const grant = fromHex(hello.grant, 'hello.grant', 64, 'TUNNEL_FRAME_MALFORMED');
  const terms = grantPayload({
    ledger: at.ledger,
    gateway: at.gateway,
    name: hello.name,
    node: hello.node,
  });
  if (!holders.some((h) => verify(SIGNING_TAGS.grant, terms, grant, fromHex(h, 'holder key', 32))))
    fail(
      'TUNNEL_GRANT_INVALID',
      `the grant for node ${hello.node} to serve ${hello.name} on gateway ${at.gateway} is not signed by the name's holder or its delegate`,
    );
  return { name: record.name, twin: record.twin, node: hello.node };
}
