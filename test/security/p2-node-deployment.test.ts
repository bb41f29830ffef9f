/*
 * P2, signed intent only: a node changes nothing unless the deployment comes from its
 * twin, is signed for this ledger and this node by that twin (or its delegate), and matches
 * an active contract of that twin for this node, in the node's own verified view of the
 * ledger; replays and malformed workloads are refused too. Each refusal has its own code,
 * and each test checks that nothing on the node changed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { toHex } from '../../src/core/hex.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerClient, signEnrolGrant } from '../../src/ledger/index.ts';
import {
  type Deployment,
  deploymentHash,
  signDeployment,
  type UnsignedDeployment,
  type Workload,
} from '../../src/node/index.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import {
  call,
  contractAndDeployment,
  createContract,
  type GridTwin,
  hasCode,
  type NodeGrid,
  nodeState,
  startNodeGrid,
  unsignedDeployment,
} from '../support/node-fixture.ts';

async function refused(
  grid: NodeGrid,
  sender: GridTwin,
  deployment: unknown,
  code: ErrorCode,
  method: 'deployment.deploy' | 'deployment.update' = 'deployment.deploy',
): Promise<void> {
  const before = nodeState(grid);
  await assert.rejects(
    call(sender, grid.agent, method, { deployment: deployment as never }),
    hasCode(code),
  );
  assert.equal(nodeState(grid), before, 'the node changed after a refused deployment');
}

function sign(
  grid: NodeGrid,
  who: Identity,
  doc: UnsignedDeployment,
  contract: number,
  over: Partial<{ ledger: string; node: number }> = {},
): Deployment {
  return signDeployment(who, doc, {
    ledger: over.ledger ?? grid.ledgerId,
    node: over.node ?? grid.agent.node,
    contract,
  });
}

const container = (name: string): Workload => ({
  name,
  kind: 'container',
  spec: {
    image: { url: 'http://127.0.0.1:1/image.tar', sha256: 'cd'.repeat(32) },
    resources: { cpu: 100, memory: 16 * 2 ** 20 },
  },
});

describe('P2: the node obeys only signed intent backed by its own view of the ledger', () => {
  test('refuses a deployment sent by another twin', async (t) => {
    const grid = await startNodeGrid(t);
    const mallory = await grid.newTwin();
    const { deployment } = await contractAndDeployment(grid);
    await refused(grid, mallory, deployment, 'DEPLOYMENT_SENDER_NOT_OWNER');
  });

  test("refuses a deployment signed by a key that is neither the twin's nor its delegate's", async (t) => {
    const grid = await startNodeGrid(t);
    const unsigned = unsignedDeployment(grid.user.id);
    const contract = await createContract(grid.user, grid.agent.node, unsigned);
    const stranger = Identity.fromSeed(randomBytes(64));
    await refused(
      grid,
      grid.user,
      sign(grid, stranger, unsigned, contract),
      'DEPLOYMENT_SIGNER_NOT_AUTHORISED',
    );
  });

  test('refuses a delegate not granted contract changes, and accepts one that is', async (t) => {
    const grid = await startNodeGrid(t);
    const unsigned = unsignedDeployment(grid.user.id);
    const contract = await createContract(grid.user, grid.agent.node, unsigned);
    const agentKey = Identity.fromSeed(randomBytes(64));
    const grant = (types: string[]) =>
      grid.user.client.submit(grid.user.identity, 'delegate.grant', {
        key: toHex(agentKey.signingPublicKey),
        types,
        expiresAt: Date.now() + 3_600_000,
      });
    await grant(['name.register']);
    await refused(
      grid,
      grid.user,
      sign(grid, agentKey, unsigned, contract),
      'DEPLOYMENT_SIGNER_NOT_AUTHORISED',
    );
    await grant(['contract.create', 'contract.update']);
    const ok = (await call(grid.user, grid.agent, 'deployment.deploy', {
      deployment: sign(grid, agentKey, unsigned, contract) as never,
    })) as { contract: number };
    assert.equal(ok.contract, contract);
  });

  test('refuses a signature over other bytes', async (t) => {
    const grid = await startNodeGrid(t);
    const { deployment } = await contractAndDeployment(grid);
    const other = sign(
      grid,
      grid.user.identity,
      unsignedDeployment(grid.user.id),
      deployment.signature.contract,
    );
    await refused(
      grid,
      grid.user,
      { ...deployment, signature: other.signature },
      'DEPLOYMENT_SIGNATURE_INVALID',
    );
  });

  test('refuses a deployment signed for another ledger', async (t) => {
    const grid = await startNodeGrid(t);
    const unsigned = unsignedDeployment(grid.user.id);
    const contract = await createContract(grid.user, grid.agent.node, unsigned);
    const doc = sign(grid, grid.user.identity, unsigned, contract, { ledger: 'ab'.repeat(32) });
    await refused(grid, grid.user, doc, 'DEPLOYMENT_WRONG_LEDGER');
  });

  test('refuses a deployment signed for another node', async (t) => {
    const grid = await startNodeGrid(t);
    const unsigned = unsignedDeployment(grid.user.id);
    const contract = await createContract(grid.user, grid.agent.node, unsigned);
    const doc = sign(grid, grid.user.identity, unsigned, contract, { node: grid.agent.node + 1 });
    await refused(grid, grid.user, doc, 'DEPLOYMENT_WRONG_NODE');
  });

  test('refuses a contract the ledger does not hold', async (t) => {
    const grid = await startNodeGrid(t);
    const doc = sign(grid, grid.user.identity, unsignedDeployment(grid.user.id), 999);
    await refused(grid, grid.user, doc, 'DEPLOYMENT_CONTRACT_UNKNOWN');
  });

  test('refuses a cancelled contract', async (t) => {
    const grid = await startNodeGrid(t);
    const { contract, deployment } = await contractAndDeployment(grid);
    await grid.user.client.submit(grid.user.identity, 'contract.cancel', {
      contract,
      reason: 'user',
    });
    await refused(grid, grid.user, deployment, 'DEPLOYMENT_CONTRACT_CANCELLED');
  });

  test('refuses an expired contract', async (t) => {
    const grid = await startNodeGrid(t);
    const unsigned = unsignedDeployment(grid.user.id);
    const contract = await createContract(grid.user, grid.agent.node, unsigned, 1500);
    const expiresAt = grid.user.client.follower.view.contract(contract)!.expiresAt;
    while (Date.now() <= expiresAt) await new Promise((r) => setTimeout(r, 100));
    await refused(
      grid,
      grid.user,
      sign(grid, grid.user.identity, unsigned, contract),
      'DEPLOYMENT_CONTRACT_EXPIRED',
    );
  });

  test('refuses a contract made for another node', async (t) => {
    const grid = await startNodeGrid(t);
    // A second node in the same farm, registered on the ledger.
    const other = Identity.fromSeed(randomBytes(64));
    const client = await LedgerClient.connect({ url: grid.ledger.url, home: tempDir(t) });
    const signed = signEnrolGrant(grid.farmer.identity, {
      ledger: grid.ledgerId,
      farm: grid.farm,
      nodeKey: toHex(other.signingPublicKey),
      expires: Date.now() + 3_600_000,
    });
    const otherNode = (
      await client.submit(other, 'node.register', {
        farm: grid.farm,
        encryptionKey: toHex(other.encryptionPublicKey),
        relays: [],
        ...signed,
      })
    ).created['nodes']!;
    const unsigned = unsignedDeployment(grid.user.id);
    const contract = await createContract(grid.user, otherNode, unsigned);
    await refused(
      grid,
      grid.user,
      sign(grid, grid.user.identity, unsigned, contract),
      'DEPLOYMENT_CONTRACT_OTHER_NODE',
    );
  });

  test("refuses another twin's contract", async (t) => {
    const grid = await startNodeGrid(t);
    const bob = await grid.newTwin();
    const unsigned = unsignedDeployment(grid.user.id);
    // Bob's contract carries the hash of the user's deployment; the user points at it.
    const contract = await createContract(bob, grid.agent.node, unsigned);
    await refused(
      grid,
      grid.user,
      sign(grid, grid.user.identity, unsigned, contract),
      'DEPLOYMENT_CONTRACT_OTHER_TWIN',
    );
  });

  test('refuses a deployment whose hash differs from the contract', async (t) => {
    const grid = await startNodeGrid(t);
    const { contract } = await contractAndDeployment(grid);
    const other = unsignedDeployment(grid.user.id);
    await refused(
      grid,
      grid.user,
      sign(grid, grid.user.identity, other, contract),
      'DEPLOYMENT_HASH_MISMATCH',
    );
  });

  test('refuses a replayed version, also after the contract is pointed back at it', async (t) => {
    const grid = await startNodeGrid(t);
    const { contract, unsigned, deployment: v1 } = await contractAndDeployment(grid);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: v1 as never });
    // The same version again.
    await refused(grid, grid.user, v1, 'DEPLOYMENT_VERSION_NOT_NEWER', 'deployment.update');
    // Version 2 goes in; then the contract is pointed back at version 1's hash and v1 replayed.
    const point = (doc: UnsignedDeployment) =>
      grid.user.client.submit(grid.user.identity, 'contract.update', {
        contract,
        deploymentHash: deploymentHash(doc),
        deployment: Buffer.alloc(8).toString('base64'),
        expiresAt: Date.now() + 86_400_000,
        networks: [],
      });
    const v2 = { ...unsigned, version: 2 };
    await point(v2);
    await call(grid.user, grid.agent, 'deployment.update', {
      deployment: sign(grid, grid.user.identity, v2, contract) as never,
    });
    await point(unsigned);
    await refused(grid, grid.user, v1, 'DEPLOYMENT_VERSION_NOT_NEWER', 'deployment.update');
  });

  test('refuses a workload name used twice', async (t) => {
    const grid = await startNodeGrid(t);
    const { deployment } = await contractAndDeployment(grid, grid.user, [
      container('web'),
      container('web'),
    ]);
    await refused(grid, grid.user, deployment, 'DEPLOYMENT_WORKLOAD_NAME_TAKEN');
  });

  test('refuses an unknown workload kind', async (t) => {
    const grid = await startNodeGrid(t);
    const { deployment } = await contractAndDeployment(grid, grid.user, [
      { name: 'vm', kind: 'vm', spec: {} },
    ]);
    await refused(grid, grid.user, deployment, 'DEPLOYMENT_WORKLOAD_KIND_UNKNOWN');
  });

  test('refuses a workload whose spec does not fit its kind', async (t) => {
    const grid = await startNodeGrid(t);
    const { deployment } = await contractAndDeployment(grid, grid.user, [
      { name: 'db', kind: 'zdb', spec: { size: 1024, mode: 'user', network: 'net', extra: true } },
    ]);
    await refused(grid, grid.user, deployment, 'DEPLOYMENT_WORKLOAD_INVALID');
  });

  test('refuses a malformed document', async (t) => {
    const grid = await startNodeGrid(t);
    const { deployment } = await contractAndDeployment(grid);
    await refused(grid, grid.user, { ...deployment, run: 'sh -c id' }, 'DEPLOYMENT_MALFORMED');
    await refused(grid, grid.user, { ...deployment, version: 0 }, 'DEPLOYMENT_MALFORMED');
  });
});
