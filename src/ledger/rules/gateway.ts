import type { Gateway } from '../projection-state.ts';
import { readDnsName, readHex, readHostPort, readUint } from '../tx-fields.ts';
import { MAX_ID } from '../tx-format.ts';
import { bodyObject, defineTx, effect, refuse } from './rule.ts';

/*
 * gateway.register is signed for the farm's owner (its key or a delegate granted the type):
 * the gateway serves `<name>.<domain>`, backends dial its tunnel address and pin the
 * SHA-256 of its tunnel key's SPKI (DESIGN §9). Domains are unique, so a name resolves to
 * one gateway. gateway.update re-points the two things backends use to reach it — a new
 * tunnel key (rotation, a lost or leaked key) or a new address — and nothing else: the id,
 * farm and domain stay, so the names on the gateway and their grants stay valid.
 */

export interface GatewayRegisterBody {
  farm: number;
  domain: string;
  tunnelAddress: string;
  tunnelSpkiSha256: string;
}

export interface GatewayUpdateBody {
  gateway: number;
  tunnelAddress: string;
  tunnelSpkiSha256: string;
}

function readTunnel(b: Record<string, unknown>) {
  return {
    tunnelAddress: readHostPort(b['tunnelAddress'], 'body.tunnelAddress', 'TX_BODY_INVALID'),
    tunnelSpkiSha256: readHex(
      b['tunnelSpkiSha256'],
      'body.tunnelSpkiSha256',
      32,
      'TX_BODY_INVALID',
    ),
  };
}

export const gatewayRegister = defineTx<GatewayRegisterBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['farm', 'domain', 'tunnelAddress', 'tunnelSpkiSha256']);
    return {
      farm: readUint(b['farm'], 'body.farm', MAX_ID, 'TX_BODY_INVALID', 1),
      domain: readDnsName(b['domain'], 'body.domain', 'TX_BODY_INVALID'),
      ...readTunnel(b),
    };
  },
  rule(state, { tx, acceptedAt }) {
    const { farm: farmId, domain } = tx.body;
    const farm = state.farm(farmId);
    if (!farm)
      refuse(
        'FARM_UNKNOWN',
        `farm ${farmId} does not exist: register the gateway in a farm of yours`,
      );
    if (farm.owner !== tx.twin)
      refuse(
        'GATEWAY_NOT_FARM_OWNER',
        `only a farm's owner registers its gateways: farm ${farmId} belongs to twin ${farm.owner}, not twin ${tx.twin}`,
      );
    const taken = state.gatewayByDomain(domain);
    if (taken)
      refuse(
        'GATEWAY_DOMAIN_TAKEN',
        `domain ${domain} is already served by gateway ${taken.id}: a domain names one gateway`,
      );
    const id = state.nextId('gateways');
    const gateway: Gateway = {
      id,
      farm: farmId,
      domain,
      tunnelAddress: tx.body.tunnelAddress,
      tunnelSpkiSha256: tx.body.tunnelSpkiSha256,
      registeredAt: acceptedAt,
    };
    return effect([{ table: 'gateways', key: id, value: gateway }], { gateways: id });
  },
});

export const gatewayUpdate = defineTx<GatewayUpdateBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['gateway', 'tunnelAddress', 'tunnelSpkiSha256']);
    return {
      gateway: readUint(b['gateway'], 'body.gateway', MAX_ID, 'TX_BODY_INVALID', 1),
      ...readTunnel(b),
    };
  },
  rule(state, { tx }) {
    const gateway = state.gateway(tx.body.gateway);
    if (!gateway)
      refuse('GATEWAY_UNKNOWN', `gateway ${tx.body.gateway} does not exist: nothing to update`);
    const owner = state.farm(gateway.farm)?.owner;
    if (owner !== tx.twin)
      refuse(
        'GATEWAY_NOT_FARM_OWNER',
        `only the owner of farm ${gateway.farm} updates gateway ${gateway.id}: that is twin ${owner}, not twin ${tx.twin}`,
      );
    const { tunnelAddress, tunnelSpkiSha256 } = tx.body;
    return effect([
      {
        table: 'gateways',
        key: gateway.id,
        value: { ...gateway, tunnelAddress, tunnelSpkiSha256 },
      },
    ]);
  },
});
