import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import { asVdcError } from '../core/errors.ts';
import type { Contract } from '../ledger/index.ts';
import {
  type DeploymentView,
  deploymentHash,
  sealForOwner,
  signDeployment,
} from '../node/index.ts';
import {
  buildDeployment,
  contractNetworks,
  type DeployFile,
  TLS_KEY_ENTRY,
} from './deploy-file.ts';
import { withTunnelGrants } from './deploy-grants.ts';
import { asView, type DeploySession } from './deploy-session.ts';
import { checkGatewayCertificates } from './deploy-tls.ts';

/*
 * One rollout to one node (docs/deploy.md): sign the tunnel grants gateway workloads leave
 * out (deploy-grants.ts), check their certificates against their names' pins
 * (deploy-tls.ts), seal the secrets and TLS keys to the node, create (or update)
 * the contract with the document's hash and the owner's encrypted copy, sign the document
 * for that contract, send it over the relay, and follow `deployment.get` until every
 * workload is ok. Either it ends with every workload ok, or the ledger is put back: a new
 * contract is cancelled (so nothing stays billed, and the node removes whatever it may have
 * applied within one report interval), an updated one gets its previous terms back.
 */

/** Workload states that end a rollout as failed; any other state than `ok` is waited on. */
const FAILED_STATES = new Set(['failed', 'oom-killed', 'exited', 'stopped']);
const POLL_MS = 500;

export interface RolloutOptions {
  file: DeployFile;
  /** the contract to update; a new contract when absent */
  contract?: Contract;
  expiresMs?: number;
  timeoutMs: number;
  /** progress for people (stderr) */
  say: (line: string) => void;
  /** what must be said even under --json (stderr) */
  warn: (line: string) => void;
}

export interface RolloutResult {
  contract: number;
  node: number;
  version: number;
  hash: string;
  expiresAt: number;
  networks: string[];
  workloads: DeploymentView['workloads'];
}

function describeWorkload(w: DeploymentView['workloads'][number]): string {
  return `  ${w.name} (${w.kind}): ${w.state}${w.message ? ` — ${w.message}` : ''}`;
}

/**
 * Follows the deployment until every workload is ok.
 * @throws VdcError DEPLOY_WORKLOAD_FAILED, DEPLOY_TIMEOUT, or the node's error
 */
export async function waitUntilOk(
  s: DeploySession,
  first: DeploymentView,
  deadline: number,
  say: (line: string) => void,
): Promise<DeploymentView> {
  const shown = new Map<string, string>();
  let view = first;
  for (;;) {
    for (const w of view.workloads) {
      const line = describeWorkload(w);
      if (shown.get(w.name) !== line) say(line);
      shown.set(w.name, line);
    }
    if (view.workloads.every((w) => w.state === 'ok')) return view;
    const failed = view.workloads.find((w) => FAILED_STATES.has(w.state));
    if (failed)
      fail(
        'DEPLOY_WORKLOAD_FAILED',
        `workload ${failed.name} of contract ${view.contract} is ${failed.state} on node ${s.node.node}: ${failed.message}`,
      );
    const left = deadline - Date.now();
    if (left <= 0) {
      const waiting = view.workloads.filter((w) => w.state !== 'ok').map((w) => w.name);
      fail(
        'DEPLOY_TIMEOUT',
        `workload(s) ${waiting.join(', ')} of contract ${view.contract} were not ok in time: raise --timeout, or look with 'vdc deployment get'`,
      );
    }
    await sleep(Math.min(POLL_MS, left));
    view = asView(
      await s.call('deployment.get', { contract: view.contract }, Math.max(1000, left)),
    );
  }
}

/**
 * Deploys (or updates) and waits for every workload to be ok; puts the ledger back on failure.
 * @throws VdcError the node's own error verbatim, DEPLOY_WORKLOAD_FAILED, DEPLOY_TIMEOUT,
 *   DEPLOY_FILE_INVALID, DEPLOY_NAME_*, DEPLOY_TLS_*, OWNER_COPY_TOO_LARGE, the ledger's refusal
 */
export async function rollout(s: DeploySession, o: RolloutOptions): Promise<RolloutResult> {
  const previous = o.contract;
  const version = previous ? (await currentVersion(s, previous.id)) + 1 : 1;
  const granted = withTunnelGrants(o.file, {
    identity: s.identity,
    view: s.client.follower.view,
    ledger: s.client.follower.ledger,
    twin: s.twin,
    node: s.node.node,
  });
  if (granted.signed.length)
    o.say(`signed the tunnel grant of ${granted.signed.join(', ')} for node ${s.node.node}`);
  const certificates = checkGatewayCertificates(granted.file, {
    view: s.client.follower.view,
    now: Date.now(),
  });
  for (const c of certificates)
    o.say(
      `${c.workload}: the certificate is the one name ${c.name} pins (${c.sha256.slice(0, 16)}…)`,
    );
  const { unsigned, copy } = buildDeployment(granted.file, {
    twin: s.twin,
    node: s.node.node,
    nodeKey: s.node.encryptionKey,
    version,
  });
  const sealed = Object.values(copy.secrets).flatMap((m) => Object.keys(m));
  const keys = sealed.filter((k) => k === TLS_KEY_ENTRY).length;
  const secrets = sealed.length - keys;
  if (secrets > 0) o.say(`sealed ${secrets} secret(s) to node ${s.node.node}'s key`);
  if (keys > 0) o.say(`sealed ${keys} TLS key(s) to node ${s.node.node}'s key`);
  const networks = contractNetworks(o.file.workloads);
  const terms = {
    deploymentHash: deploymentHash(unsigned),
    deployment: sealForOwner(copy, s.identity),
    expiresAt:
      o.expiresMs === undefined && previous ? previous.expiresAt : Date.now() + (o.expiresMs ?? 0),
    networks,
  };
  const receipt = previous
    ? await s.client.submit(s.identity, 'contract.update', { contract: previous.id, ...terms })
    : await s.client.submit(s.identity, 'contract.create', { node: s.node.node, ...terms });
  const contract = previous?.id ?? (receipt.created['contracts'] as number);
  o.say(
    `contract ${contract} ${previous ? 'updated' : 'created'} (ledger entry ${receipt.leaf.seq}); sending version ${version} to node ${s.node.node} via ${s.relay.url}`,
  );
  const deadline = Date.now() + o.timeoutMs;
  try {
    const deployment = signDeployment(s.identity, unsigned, {
      ledger: s.client.follower.ledger,
      node: s.node.node,
      contract,
    });
    const first = asView(
      await s.call(
        previous ? 'deployment.update' : 'deployment.deploy',
        { deployment: deployment as never },
        o.timeoutMs,
      ),
    );
    const view = await waitUntilOk(s, first, deadline, o.say);
    return {
      contract,
      node: s.node.node,
      version: view.version,
      hash: view.hash,
      expiresAt: terms.expiresAt,
      networks,
      workloads: view.workloads,
    };
  } catch (err) {
    // The error itself is printed once, by the command's edge; here only what was undone.
    await putBack(s, contract, previous, o.warn);
    throw asVdcError(err);
  }
}

async function currentVersion(s: DeploySession, contract: number): Promise<number> {
  const view = asView(await s.call('deployment.get', { contract }));
  return view.version;
}

/** Cancels a contract this rollout created, or gives an updated one its previous terms back. */
async function putBack(
  s: DeploySession,
  contract: number,
  previous: Contract | undefined,
  warn: (line: string) => void,
): Promise<void> {
  try {
    if (previous) {
      await s.client.submit(s.identity, 'contract.update', {
        contract,
        deploymentHash: previous.deploymentHash,
        deployment: previous.deployment,
        expiresAt: previous.expiresAt,
        networks: previous.networks,
      });
      warn(`contract ${contract} has its previous terms back; the node keeps the previous version`);
    } else {
      await s.client.submit(s.identity, 'contract.cancel', { contract, reason: 'user' });
      warn(
        `contract ${contract} cancelled, so nothing stays billed; the node removes anything it applied`,
      );
    }
  } catch (err) {
    const e = asVdcError(err);
    warn(
      `putting contract ${contract} back failed too (${e.code}: ${e.message}): run 'vdc deployment delete --node ${s.node.node} --contract ${contract}'`,
    );
  }
}
