/*
 * P2 (signed intent only) at the ledger, live over HTTP: a node acts on a contract's
 * deployment hash only as its owner signed it. Nobody but the owner (or a delegate granted
 * that type) changes or cancels a contract on a real server; and a server that lies about a
 * contract, in its state answer or in the log it serves, cannot make a node's follower
 * believe another deployment hash.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { toHex } from '../../src/core/hex.ts';
import { httpJson } from '../../src/core/http-client.ts';
import type { Identity } from '../../src/identity/index.ts';
import { LedgerFollower } from '../../src/ledger/ledger-follower.ts';
import type { RunningLedger } from '../../src/ledger/ledger-server.ts';
import { signEnrolGrant, signTransaction } from '../../src/ledger/tx-sign.ts';
import { DAY, newIdentity } from '../../src/ledger/tx-test-kit.ts';
import {
  assertUnmoved,
  followerState,
  hasCode,
  newUser,
  registerTwin,
  startLyingProxy,
  startTestLedger,
  tempDir,
} from '../support/ledger-fixture.ts';

type T = { after: (fn: () => unknown) => void };

/** A farmer with a node, an owner with one contract on it, and a second twin, Mallory. */
async function setup(t: T) {
  const ledger = await startTestLedger(t, tempDir(t));
  const farmer = await newUser(t, ledger.url);
  await registerTwin(farmer.client, farmer.identity);
  const farm = (await farmer.client.submit(farmer.identity, 'farm.create', { name: 'f' })).created[
    'farms'
  ]!;
  const node = newIdentity();
  const grant = signEnrolGrant(farmer.identity, {
    ledger: ledger.service.ledger,
    farm,
    nodeKey: toHex(node.signingPublicKey),
    expires: Date.now() + DAY,
  });
  const nodeId = (
    await farmer.client.submit(node, 'node.register', {
      farm,
      encryptionKey: toHex(node.encryptionPublicKey),
      relays: [],
      ...grant,
    })
  ).created['nodes']!;
  const owner = newIdentity();
  const ownerTwin = await registerTwin(farmer.client, owner);
  const deploymentHash = toHex(randomBytes(32));
  const contract = (
    await farmer.client.submit(owner, 'contract.create', contractBody(nodeId, deploymentHash))
  ).created['contracts']!;
  const mallory = newIdentity();
  const malloryTwin = await registerTwin(farmer.client, mallory);
  return {
    ledger,
    client: farmer.client,
    nodeId,
    owner,
    ownerTwin,
    contract,
    deploymentHash,
    mallory,
    malloryTwin,
  };
}

function contractBody(node: number, deploymentHash: string) {
  return {
    node,
    deploymentHash,
    deployment: randomBytes(64).toString('base64'),
    expiresAt: Date.now() + 30 * DAY,
    networks: [],
  };
}

/** Submits over raw HTTP; expects `code` and an unchanged log and projection. */
async function refused(ledger: RunningLedger, submission: object, code: ErrorCode) {
  const head = ledger.service.head;
  const digest = ledger.service.projection.digest();
  await assert.rejects(httpJson(`${ledger.url}/v1/submit`, { body: submission }), hasCode(code));
  assert.deepEqual(ledger.service.head, head);
  assert.equal(ledger.service.projection.digest(), digest);
}

function signed(
  ledger: RunningLedger,
  who: Identity,
  type: 'contract.update' | 'contract.cancel',
  twin: number,
  body: object,
) {
  return signTransaction(who, {
    type,
    twin,
    nonce: ledger.service.projection.nextNonce(toHex(who.signingPublicKey)),
    ledger: ledger.service.ledger,
    body,
  });
}

describe('P2 contracts on a live ledger', () => {
  test("another twin cannot update or cancel the owner's contract → CONTRACT_NOT_OWNER", async (t) => {
    const s = await setup(t);
    const evil = { contract: s.contract, ...contractBody(s.nodeId, toHex(randomBytes(32))) };
    delete (evil as { node?: number }).node;
    await refused(
      s.ledger,
      signed(s.ledger, s.mallory, 'contract.update', s.malloryTwin, evil),
      'CONTRACT_NOT_OWNER',
    );
    await refused(
      s.ledger,
      signed(s.ledger, s.mallory, 'contract.cancel', s.malloryTwin, {
        contract: s.contract,
        reason: 'heal',
      }),
      'CONTRACT_NOT_OWNER',
    );
    // Claiming to be the owner's twin with Mallory's key.
    await refused(
      s.ledger,
      signed(s.ledger, s.mallory, 'contract.cancel', s.ownerTwin, {
        contract: s.contract,
        reason: 'user',
      }),
      'TX_SIGNER_NOT_AUTHORISED',
    );
    assert.equal(
      s.ledger.service.projection.contract(s.contract)?.deploymentHash,
      s.deploymentHash,
    );
    assert.equal(s.ledger.service.projection.contract(s.contract)?.cancelledAt, null);
  });

  test('a delegate granted only contract.create cannot cancel → DELEGATION_TYPE_NOT_GRANTED', async (t) => {
    const s = await setup(t);
    const agent = newIdentity();
    await s.client.submit(s.owner, 'delegate.grant', {
      key: toHex(agent.signingPublicKey),
      types: ['contract.create'],
      expiresAt: Date.now() + DAY,
    });
    await refused(
      s.ledger,
      signed(s.ledger, agent, 'contract.cancel', s.ownerTwin, {
        contract: s.contract,
        reason: 'heal',
      }),
      'DELEGATION_TYPE_NOT_GRANTED',
    );
  });

  test("a lying state answer about the contract's deployment hash → the node's follower refuses it", async (t) => {
    const s = await setup(t);
    const proxy = await startLyingProxy(t, s.ledger.url);
    const forged = toHex(randomBytes(32));
    proxy.rewrite = (path, body) =>
      path === `/v1/state/contracts/${s.contract}`
        ? { ...(body as object), deploymentHash: forged }
        : undefined;
    const nodeView = new LedgerFollower({ url: proxy.url, ledgerKey: s.ledger.service.publicKey });
    await nodeView.sync();
    const digest = nodeView.view.digest();
    const answer = await httpJson(`${proxy.url}/v1/state/contracts/${s.contract}`);
    assert.throws(
      () =>
        nodeView.crossCheck(`contract ${s.contract}`, answer, nodeView.view.contract(s.contract)),
      hasCode('LEDGER_STATE_MISMATCH'),
    );
    assert.equal(nodeView.view.contract(s.contract)?.deploymentHash, s.deploymentHash);
    assert.equal(nodeView.view.digest(), digest);
  });

  test('a contract leaf served with another deployment hash → LEDGER_REWRITTEN, the node believes nothing', async (t) => {
    const s = await setup(t);
    const forged = toHex(randomBytes(32));
    const proxy = await startLyingProxy(t, s.ledger.url, (path, body) => {
      if (path !== '/v1/entries') return undefined;
      for (const e of (
        body as { entries: { tx: { type: string; body: { deploymentHash: string } } }[] }
      ).entries)
        if (e.tx.type === 'contract.create') e.tx.body.deploymentHash = forged;
      return body;
    });
    const nodeView = new LedgerFollower({ url: proxy.url, ledgerKey: s.ledger.service.publicKey });
    await assert.rejects(nodeView.sync(), hasCode('LEDGER_REWRITTEN'));
    await assertUnmoved(nodeView, 'LEDGER_REWRITTEN', followerState(nodeView));
    assert.equal(nodeView.head, undefined);
  });
});
