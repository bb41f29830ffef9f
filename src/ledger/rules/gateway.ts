import type { Gateway } from '../projection-state.ts';
import { readDnsName, readHex, readHostPort, readUint } from '../tx-fields.ts';
import { MAX_ID } from '../tx-format.ts';
import { bodyObject, defineTx, effect, refuse } from './rule.ts';

/*
 * gateway.register is signed for the farm's owner (its key or a delegate granted the type):
 * the gateway serves `<name>.<domain>`, backends dial its tunnel address and pin the
 * SHA-256 of its tunnel key's SPKI (DESIGN §9). Domains are unique, so a name resolves to
 * one gateway.
 */

export interface GatewayRegisterBody {
  farm: number;
  domain: string;
  tunnelAddress: string;
  tunnelSpkiSha256: string;
}

export const gatewayRegister = defineTx<GatewayRegisterBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['farm', 'domain', 'tunnelAddress', 'tunnelSpkiSha256']);
    return {
      farm: readUint(b['farm'], 'body.farm', MAX_ID, 'TX_BODY_INVALID', 1),
      domain: readDnsName(b['domain'], 'body.domain', 'TX_BODY_INVALID'),
      tunnelAddress: readHostPort(b['tunnelAddress'], 'body.tunnelAddress', 'TX_BODY_INVALID'),
      tunnelSpkiSha256: readHex(
        b['tunnelSpkiSha256'],
        'body.tunnelSpkiSha256',
        32,
        'TX_BODY_INVALID',
      ),
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
