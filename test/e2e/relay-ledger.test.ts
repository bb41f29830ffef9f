/*
 * The relay over the real ledger: twins registered on a ledger log in to `vdc relay serve`,
 * whose keys come from its own verifying follower, and exchange end-to-end encrypted
 * requests; a key the ledger does not know gets nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { CliIo } from '../../src/cli/cli-io.ts';
import { relayCommand } from '../../src/cli/relay-command.ts';
import { toHex } from '../../src/core/hex.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerClient } from '../../src/ledger/index.ts';
import { openTwinDirectory, type RelayServer } from '../../src/relay/index.ts';
import { connectTwin } from '../../src/relay/relay-test-kit.ts';
import { startTestLedger, tempDir } from '../support/ledger-fixture.ts';

const io: CliIo = {
  out: () => {},
  err: () => {},
  readStdin: async () => Buffer.alloc(0),
  stdinIsTty: false,
  env: {},
};

describe('relay over the verified ledger', () => {
  test('twins on the ledger talk through the relay; unknown keys are refused', async (t) => {
    const ledger = await startTestLedger(t, tempDir(t));
    const stop = new AbortController();
    t.after(() => stop.abort());
    const relay = await new Promise<RelayServer>((resolve, reject) => {
      const cmd = relayCommand(io, { signal: stop.signal, onListening: resolve });
      cmd.exitOverride();
      cmd
        .parseAsync(
          ['serve', '--listen', '127.0.0.1:0', '--ledger', ledger.url, '--data', tempDir(t)],
          { from: 'user' },
        )
        .catch(reject);
    });

    const register = async () => {
      const identity = Identity.fromSeed(randomBytes(64));
      const client = await LedgerClient.connect({ url: ledger.url, home: tempDir(t) });
      const receipt = await client.submit(identity, 'twin.create', {
        encryptionKey: toHex(identity.encryptionPublicKey),
        relays: [new URL(relay.url).href],
      });
      return { id: receipt.created['twins']!, identity };
    };
    const alice = await register();
    const bob = await register();
    // Each twin resolves the other's keys through its own verified follower too.
    const directoryOf = async () => {
      const d = await openTwinDirectory(ledger.url, { home: tempDir(t) });
      t.after(() => d.close());
      return d;
    };
    const aliceDir = await directoryOf();
    const bobDir = await directoryOf();

    // The relay learns new twins from the ledger's event stream.
    const deadline = Date.now() + 10_000;
    let a: Awaited<ReturnType<typeof connectTwin>> | undefined;
    while (!a) {
      try {
        a = await connectTwin(t, relay.url, alice, aliceDir as never, {
          reconnect: { minDelayMs: 50, maxDelayMs: 200 },
        });
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const b = await connectTwin(t, relay.url, bob, bobDir as never);
    b.handle((m) => ({ echoed: m.body }));
    assert.deepEqual(await a.request(bob.id, 'hello over the ledger'), {
      echoed: 'hello over the ledger',
    });

    const stranger = { id: 99, identity: Identity.fromSeed(randomBytes(64)) };
    await assert.rejects(
      connectTwin(t, relay.url, stranger, aliceDir as never, {
        reconnect: { minDelayMs: 50, maxDelayMs: 100 },
      }),
    );
  });
});
