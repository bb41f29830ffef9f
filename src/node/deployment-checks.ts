import { X509Certificate } from 'node:crypto';
import { fail } from '../core/assert.ts';
import { fromHex } from '../core/hex.ts';
import { verify } from '../core/signing.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Projection } from '../ledger/index.ts';
import { type Deployment, deploymentHash, signedPayload } from './deployment-document.ts';
import { checkSealedFor, tlsKeyContext } from './secret-seal.ts';
import { checkWorkloadSpec, isWorkloadKind } from './workload-kinds.ts';

/*
 * P2, signed intent only: the checks a deployment passes before anything on the node
 * changes, in the order docs/node-api.md lists them, each with its own code. Every fact
 * about twins, keys, delegations and contracts comes from the node's OWN projection (its
 * verifying follower of the ledger), never from what a ledger server answers, so a lying
 * ledger server cannot make the node run something its log does not back.
 */

export interface CheckContext {
  /** the node's own verified projection */
  view: Projection;
  /** id of the ledger the node follows */
  ledger: string;
  /** this node's id */
  node: number;
  /** the twin the envelope came from, as the relay envelope's signature proved */
  sender: number;
  now: number;
  /** `deploy` needs no stored deployment for the contract; `update` needs one */
  mode: 'deploy' | 'update';
  /** version of the deployment stored for the contract, if any */
  storedVersion: number | undefined;
}

/** Types whose delegates may sign deployments: those that create or change contracts. */
const DEPLOYING_TYPES = ['contract.create', 'contract.update'];

/**
 * Runs every check; returns the deployment's hash when all pass.
 * @throws VdcError the first failing check's code (docs/node-api.md, "Checks")
 */
export function checkDeployment(doc: Deployment, ctx: CheckContext): string {
  const { view, signature: s } = { view: ctx.view, signature: doc.signature };
  // 1. The sender is the twin the deployment is for.
  if (ctx.sender !== doc.twin || !view.twin(doc.twin))
    fail(
      'DEPLOYMENT_SENDER_NOT_OWNER',
      `twin ${ctx.sender} sent a deployment of twin ${doc.twin}: only the deployment's own twin may send it`,
    );
  // 2. The signer is that twin's key or its delegate, the signature verifies, and it names
  //    this ledger and this node.
  const actor = view.actorOf(s.signer, ctx.now);
  const delegated = actor?.delegation;
  if (
    !actor ||
    actor.twin.id !== doc.twin ||
    (delegated && !delegated.types.some((t) => DEPLOYING_TYPES.includes(t)))
  )
    fail(
      'DEPLOYMENT_SIGNER_NOT_AUTHORISED',
      `key ${s.signer.slice(0, 16)}… is neither twin ${doc.twin}'s signing key nor a key it delegated contract changes to (on this node's view of the ledger)`,
    );
  const hash = deploymentHash(doc);
  let valid = false;
  try {
    valid = verify(
      SIGNING_TAGS.deployment,
      signedPayload(hash, s),
      fromHex(s.sig, 'signature.sig', 64),
      fromHex(s.signer, 'signature.signer', 32),
    );
  } catch {
    valid = false; // a malformed key or signature is just as invalid here
  }
  if (!valid)
    fail(
      'DEPLOYMENT_SIGNATURE_INVALID',
      `the deployment's signature does not verify under ${SIGNING_TAGS.deployment} by ${s.signer.slice(0, 16)}… over this document: sign the document you send`,
    );
  if (s.ledger !== ctx.ledger)
    fail(
      'DEPLOYMENT_WRONG_LEDGER',
      `the deployment is signed for ledger ${s.ledger}, but this node follows ledger ${ctx.ledger}`,
    );
  if (s.node !== ctx.node)
    fail(
      'DEPLOYMENT_WRONG_NODE',
      `the deployment is signed for node ${s.node}, but this is node ${ctx.node}`,
    );
  // 3. In the node's own projection: the contract exists, is active and unexpired, is for
  //    this node, belongs to that twin and carries this exact hash.
  const c = view.contract(s.contract);
  if (!c)
    fail(
      'DEPLOYMENT_CONTRACT_UNKNOWN',
      `contract ${s.contract} is not in this node's verified view of the ledger: create it first, or wait until the node has followed it`,
    );
  if (c.cancelledAt !== null)
    fail('DEPLOYMENT_CONTRACT_CANCELLED', `contract ${c.id} was cancelled (${c.cancelReason})`);
  if (ctx.now >= c.expiresAt)
    fail(
      'DEPLOYMENT_CONTRACT_EXPIRED',
      `contract ${c.id} expired at ${new Date(c.expiresAt).toISOString()}: create a new contract`,
    );
  if (c.node !== ctx.node)
    fail(
      'DEPLOYMENT_CONTRACT_OTHER_NODE',
      `contract ${c.id} is for node ${c.node}, not for this node ${ctx.node}`,
    );
  if (c.twin !== doc.twin)
    fail(
      'DEPLOYMENT_CONTRACT_OTHER_TWIN',
      `contract ${c.id} belongs to twin ${c.twin}, not to twin ${doc.twin}`,
    );
  if (c.deploymentHash !== hash)
    fail(
      'DEPLOYMENT_HASH_MISMATCH',
      `the deployment hashes to ${hash}, but contract ${c.id} holds ${c.deploymentHash}: update the contract or send the deployment it was made for`,
    );
  // The operation fits what the node holds.
  if (ctx.mode === 'deploy' && ctx.storedVersion !== undefined)
    fail(
      'DEPLOYMENT_EXISTS',
      `contract ${c.id} already has a deployment (version ${ctx.storedVersion}) on this node: use deployment.update`,
    );
  if (ctx.mode === 'update' && ctx.storedVersion === undefined)
    fail(
      'DEPLOYMENT_NOT_FOUND',
      `contract ${c.id} has no deployment on this node: use deployment.deploy`,
    );
  // 4. The version is newer than the stored one: an old document replayed is refused.
  if (ctx.storedVersion !== undefined && doc.version <= ctx.storedVersion)
    fail(
      'DEPLOYMENT_VERSION_NOT_NEWER',
      `deployment version ${doc.version} is not newer than version ${ctx.storedVersion} already on this node`,
    );
  // 5. Workload names are unique.
  const seen = new Set<string>();
  for (const w of doc.workloads) {
    if (seen.has(w.name))
      fail('DEPLOYMENT_WORKLOAD_NAME_TAKEN', `the deployment names workload ${w.name} twice`);
    seen.add(w.name);
  }
  // 6. Workload kinds are known, and each spec fits its kind.
  for (const w of doc.workloads)
    if (!isWorkloadKind(w.kind))
      fail(
        'DEPLOYMENT_WORKLOAD_KIND_UNKNOWN',
        `workload ${w.name} has kind ${JSON.stringify(w.kind)}; known kinds: container, zdb, network, gateway`,
      );
  for (const w of doc.workloads) checkWorkloadSpec(w as Parameters<typeof checkWorkloadSpec>[0]);
  // 6c. A gateway workload forwards to a container of this same deployment.
  const kinds = new Map(doc.workloads.map((w) => [w.name, w.kind]));
  for (const w of doc.workloads) {
    if (w.kind !== 'gateway') continue;
    const target = String(w.spec['workload']);
    const kind = kinds.get(target);
    if (kind !== 'container')
      fail(
        'DEPLOYMENT_GATEWAY_TARGET_INVALID',
        kind === undefined
          ? `gateway workload ${w.name} forwards to workload ${target}, which this deployment does not hold: name one of its containers`
          : `gateway workload ${w.name} forwards to workload ${target}, a ${kind}; a gateway forwards to a container's port`,
      );
  }
  // 6d. A gateway workload's certificate chain parses, and its key was sealed to this node
  //     for this workload, twin and name (read from the seal's header, with the node's
  //     public key from its own view). The key itself is opened only at apply.
  const nodeKey = view.twin(view.node(ctx.node)?.twin ?? 0)?.encryptionKey;
  for (const w of doc.workloads) {
    const tls = w.kind === 'gateway' ? (w.spec['tls'] as GatewayTls | undefined) : undefined;
    if (!tls) continue;
    checkChain(w.name, tls.cert);
    if (nodeKey)
      checkSealedFor(tls.key, nodeKey, tlsKeyContext(doc.twin, w.name, String(w.spec['name'])));
  }
  return hash;
}

interface GatewayTls {
  cert: string;
  key: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

function checkChain(workload: string, pem: string): void {
  for (const [i, block] of (pem.match(PEM_BLOCK) ?? []).entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      fail(
        'DEPLOYMENT_GATEWAY_TLS_INVALID',
        `gateway workload ${workload}: certificate ${i + 1} of its tls.cert chain does not parse (${(err as Error).message}): give the PEM chain of the certificate the name pins, leaf first`,
        err,
      );
    }
  }
}
