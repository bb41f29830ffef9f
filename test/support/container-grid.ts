/*
 * Containers on the namespace grid, for tests: the busybox image served by busybox httpd
 * from a namespace of its own, crun's view of a node's container from the host, the owner's
 * node.diagnostics, and a deployment made straight through the owner's relay client.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonValue } from '../../src/core/canonical-json.ts';
import type { GridNode, GridTwin, NetnsGrid } from '../../src/grid/index.ts';
import {
  type Deployment,
  deploymentHash,
  newSalt,
  signDeployment,
  type Workload,
} from '../../src/node/index.ts';
import { buildBusyboxImage } from './busybox-image.ts';

export async function waitUntil<V>(
  what: string,
  probe: () => Promise<V | undefined | false> | V | undefined | false,
  ms = 60_000,
): Promise<V> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Builds the busybox image and serves it (busybox httpd) from a new namespace; its URL and digest. */
export async function serveBusyboxImage(grid: NetnsGrid): Promise<{ url: string; sha256: string }> {
  const www = join(grid.dir, 'www');
  mkdirSync(www, { recursive: true });
  const image = buildBusyboxImage(grid.dir);
  renameSync(image.path, join(www, 'busybox.tar.gz'));
  const web = grid.addNamespace('images');
  grid.spawn(web, 'httpd', 'busybox', ['httpd', '-f', '-p', `${web.address}:8080`, '-h', www]);
  const url = `http://${web.address}:8080/busybox.tar.gz`;
  await waitUntil('the image server', async () => (await fetch(url).catch(() => undefined))?.ok);
  return { url, sha256: image.sha256 };
}

/** crun's view of a container of `node`, from the host: its status and init pid, or absent. */
export function crunState(node: GridNode, id: string): { status: string; pid: number } | undefined {
  const r = spawnSync('crun', ['--root', join(node.dataDir, 'crun'), 'state', id], {
    encoding: 'utf8',
  });
  return r.status === 0 ? (JSON.parse(r.stdout) as { status: string; pid: number }) : undefined;
}

export type DeploymentDiagnostics = {
  state: string;
  workloads: { name: string; state: string; message: string; logs?: string }[];
};

/** The owner's node.diagnostics of one deployment, with up to 8 KiB of each workload's log. */
export async function diagnostics(
  node: GridNode,
  twin: GridTwin,
  contract: number,
): Promise<DeploymentDiagnostics> {
  const d = (await node.request(twin, 'node.diagnostics', { contract, tail: 8192 }, 20_000)) as {
    deployments: DeploymentDiagnostics[];
  };
  return d.deployments[0]!;
}

/** Creates the contract for `workloads` on `node` and signs the deployment for it. */
export async function contractFor(
  node: GridNode,
  twin: GridTwin,
  workloads: Workload[],
): Promise<{ contract: number; deployment: Deployment }> {
  const unsigned = { version: 1, twin: twin.id, salt: newSalt(), workloads };
  const receipt = await twin.client.submit(twin.identity, 'contract.create', {
    node: node.id,
    deploymentHash: deploymentHash(unsigned),
    deployment: Buffer.from('owner copy kept elsewhere in this test').toString('base64'),
    expiresAt: Date.now() + 3_600_000,
    networks: [],
  });
  const contract = receipt.created['contracts']!;
  const deployment = signDeployment(twin.identity, unsigned, {
    ledger: twin.client.follower.ledger,
    node: node.id,
    contract,
  });
  return { contract, deployment };
}

/** Sends deployment.deploy through the twin's relay client; the node's view of it. */
export async function sendDeployment(
  node: GridNode,
  twin: GridTwin,
  deployment: Deployment,
): Promise<DeploymentDiagnostics & { contract: number }> {
  return (await node.request(
    twin,
    'deployment.deploy',
    { deployment: deployment as unknown as JsonValue },
    120_000,
  )) as DeploymentDiagnostics & { contract: number };
}

/** Creates the contract, signs and sends deployment.deploy through the twin's relay client. */
export async function deployDirect(
  node: GridNode,
  twin: GridTwin,
  workloads: Workload[],
): Promise<number> {
  const { contract, deployment } = await contractFor(node, twin, workloads);
  await sendDeployment(node, twin, deployment);
  return contract;
}

/**
 * Kills and deletes every container under a crun root, whether or not an agent still runs.
 * Register it before anything that deletes the root's folder: after-hooks run in the
 * order they were registered.
 */
export function destroyContainers(crunRoot: string): void {
  const crun = (...args: string[]) =>
    spawnSync('crun', ['--root', crunRoot, ...args], { encoding: 'utf8' });
  for (const id of crun('list', '--quiet').stdout.split('\n').filter(Boolean)) {
    crun('kill', '--all', id, 'KILL');
    crun('delete', '--force', id);
  }
}
