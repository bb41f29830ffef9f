import { fail } from '../core/assert.ts';
import { signTunnelGrant } from '../gateway/index.ts';
import type { Identity } from '../identity/index.ts';
import type { Projection } from '../ledger/index.ts';
import type { Workload } from '../node/index.ts';
import type { DeployFile } from './deploy-file.ts';

/*
 * The owner's grant of each `gateway` workload (docs/node-gateway.md): a gateway lets a
 * node serve a name only with a `vdc/grant/v1` signature of the name's holder over
 * (ledger, gateway, name, node). `vdc deploy` knows both the holder's identity and the
 * node, so it signs the grant for a workload whose file leaves it out; nobody handles hex
 * by hand. Before that, it checks on the user's own view of the ledger what the gateway
 * would check, so a deployment the gateway would refuse is refused here, saying why.
 */

export interface GrantContext {
  identity: Identity;
  view: Projection;
  ledger: string;
  /** the deploying user's twin */
  twin: number;
  node: number;
}

interface GatewaySpec {
  name: string;
  gateway: number;
  grant?: string;
}

/**
 * Checks every gateway workload's name and signs the missing grants.
 * @throws VdcError DEPLOY_NAME_UNKNOWN, DEPLOY_NAME_OTHER_GATEWAY, DEPLOY_NAME_NOT_YOURS (no
 *   grant given, and the name is another twin's), DEPLOY_NAME_NODE_NOT_LISTED
 */
export function withTunnelGrants(
  file: DeployFile,
  ctx: GrantContext,
): { file: DeployFile; signed: string[] } {
  const signed: string[] = [];
  const workloads = file.workloads.map((w): Workload => {
    if (w.kind !== 'gateway') return w;
    const spec = w.spec as unknown as GatewaySpec;
    const name = ctx.view.name(spec.name);
    if (!name)
      fail(
        'DEPLOY_NAME_UNKNOWN',
        `gateway workload ${w.name}: name ${spec.name} is not registered: 'vdc name register ${spec.name} --gateway ${spec.gateway} --node ${ctx.node}' first`,
      );
    if (name.gateway !== spec.gateway)
      fail(
        'DEPLOY_NAME_OTHER_GATEWAY',
        `gateway workload ${w.name}: name ${spec.name} is on gateway ${name.gateway}, not on gateway ${spec.gateway}: set "gateway": ${name.gateway}`,
      );
    if (spec.grant === undefined && name.twin !== ctx.twin)
      fail(
        'DEPLOY_NAME_NOT_YOURS',
        `gateway workload ${w.name}: name ${spec.name} belongs to twin ${name.twin}, not to you (twin ${ctx.twin}): only its holder can grant node ${ctx.node} the right to serve it; put the grant they sign in the workload's "grant"`,
      );
    if (!name.nodes.includes(ctx.node))
      fail(
        'DEPLOY_NAME_NODE_NOT_LISTED',
        `gateway workload ${w.name}: name ${spec.name} does not list node ${ctx.node}, so the gateway would refuse its tunnel: 'vdc name update ${spec.name} --node ${ctx.node}' (repeat --node for every node that serves it${name.nodes.length ? `; listed now: ${name.nodes.join(', ')}` : ''})`,
      );
    if (spec.grant !== undefined) return w;
    signed.push(w.name);
    const grant = signTunnelGrant(ctx.identity, {
      ledger: ctx.ledger,
      gateway: spec.gateway,
      name: spec.name,
      node: ctx.node,
    });
    return { ...w, spec: { ...w.spec, grant } };
  });
  return { file: { ...file, workloads }, signed };
}
