import type { NameRecord } from '../ledger/index.ts';

/*
 * Whether a gateway's refusal of a node's tunnel is the gateway being behind the ledger,
 * not a real refusal: the node's own view says the name is on that gateway, lists this node
 * and (for an owner's certificate) pins the leaf this node presents. A name registered or
 * updated a moment ago, or a certificate rotation (a new pin, then a deployment update
 * with the new certificate) meets this until the gateway has followed. Any other refusal,
 * or a view that does not back the tunnel up, is believed.
 */

export interface LagQuestion {
  /** the name as the node's view has it now; undefined when unknown there */
  record: NameRecord | undefined;
  gateway: number;
  node: number;
  /** the SHA-256 of the leaf this node presents, when it serves the name over TLS */
  certSha256: string | undefined;
  /** the code the gateway refused with */
  code: string;
}

export function gatewaySeemsBehind(q: LagQuestion): boolean {
  const name = q.record;
  if (!name || name.gateway !== q.gateway || !name.nodes.includes(q.node)) return false;
  const pin = name.rules.tlsCertSha256;
  switch (q.code) {
    case 'TUNNEL_NAME_UNKNOWN':
    case 'TUNNEL_NODE_NOT_LISTED':
      return true;
    case 'TUNNEL_CERT_NOT_PINNED':
    case 'TUNNEL_CERT_NOT_HTTP':
      return q.certSha256 !== undefined && name.mode === 'http' && pin === q.certSha256;
    case 'TUNNEL_CERT_REQUIRED':
      return q.certSha256 === undefined && pin === undefined;
    default:
      return false;
  }
}
