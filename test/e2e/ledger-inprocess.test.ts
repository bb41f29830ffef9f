/*
 * The ledger embedded in a process (LedgerService.submit without HTTP), as a grid tool or a
 * benchmark uses it: a submitter that sends its next transaction as soon as the previous
 * one is acknowledged, alone and sixteen at a time. Regression: an append made after the
 * committer's drain had looked at its queue, but before the drain's `finally` cleared
 * `running`, stayed queued forever (the second sequential submit never resolved).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import { privateKeyFromSeed } from '../../src/core/keys.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerService } from '../../src/ledger/ledger-service.ts';
import { auditLog } from '../../src/ledger/log-audit.ts';
import { openStore } from '../../src/ledger/open-store.ts';
import { signTransaction } from '../../src/ledger/tx-sign.ts';
import { tempDir } from '../support/ledger-fixture.ts';

/** A lost append hangs its submitter: the test's timeout turns that into a failure. */
const HANG = { timeout: 30_000 };

async function openService(t: { after: (fn: () => unknown) => void }) {
  const key = privateKeyFromSeed('ed25519', randomBytes(32));
  const store = await openStore(`sqlite:${join(tempDir(t), 'ledger.db')}`);
  const service = await LedgerService.open({ store, ledgerKey: key });
  t.after(() => service.close());
  return { service };
}

function twinCreate(service: LedgerService, identity: Identity) {
  return signTransaction(identity, {
    type: 'twin.create',
    twin: 0,
    nonce: 1,
    ledger: service.ledger,
    body: { encryptionKey: toHex(identity.encryptionPublicKey), relays: [] },
  });
}

function farmCreate(service: LedgerService, identity: Identity, twin: number, nonce: number) {
  return signTransaction(identity, {
    type: 'farm.create',
    twin,
    nonce,
    ledger: service.ledger,
    body: { name: `f${nonce}` },
  });
}

describe('the ledger service in-process', () => {
  test('one submitter, each transaction sent once the previous is durable', HANG, async (t) => {
    const { service } = await openService(t);
    const me = Identity.fromSeed(randomBytes(64));
    const first = await service.submit(twinCreate(service, me));
    const twin = first.created.twins!;
    for (let nonce = 2; nonce <= 20; nonce++)
      await service.submit(farmCreate(service, me, twin, nonce));
    assert.equal(service.head.size, 20);
    assert.equal(service.projection.farmsOf(twin).length, 19);
    const audit = await auditLog(service.store, service.publicKey);
    assert.equal(audit.ok, true, JSON.stringify(audit));
  });

  test('sixteen submitters at once share commits and every answer arrives', HANG, async (t) => {
    const { service } = await openService(t);
    const people = Array.from({ length: 16 }, () => Identity.fromSeed(randomBytes(64)));
    const twins = await Promise.all(people.map((p) => service.submit(twinCreate(service, p))));
    await Promise.all(
      people.map(async (p, i) => {
        for (let nonce = 2; nonce <= 11; nonce++)
          await service.submit(farmCreate(service, p, twins[i]!.created.twins!, nonce));
      }),
    );
    assert.equal(service.head.size, 16 + 160);
    const heads = await service.store.readHeads(0, 10_000);
    assert.ok(heads.length < 176, `group commit: ${heads.length} heads for 176 leaves`);
  });
});
