import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../src/core/hex.ts';
import { jsonLogger } from '../../src/core/log.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerClient } from '../../src/ledger/ledger-client.ts';
import { type RunningLedger, startLedgerServer } from '../../src/ledger/ledger-server.ts';

type After = { after: (fn: () => unknown) => void };

/** A temporary folder removed after the test. */
export function tempDir(t: After, prefix = 'vdc-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const quiet = jsonLogger(() => {});

/** A real ledger server on loopback over a SQLite store in `dir`; stopped after the test. */
export async function startTestLedger(
  t: After,
  dir: string,
  opts: { store?: string; keyFile?: string } = {},
): Promise<RunningLedger> {
  const ledger = await startLedgerServer({
    store: opts.store ?? `sqlite:${join(dir, 'ledger.db')}`,
    listen: '127.0.0.1:0',
    keyFile: opts.keyFile ?? join(dir, 'ledger.key'),
    logger: quiet,
    heartbeatMs: 60_000,
  });
  let closed = false;
  t.after(async () => {
    if (!closed) await ledger.close();
  });
  const close = ledger.close.bind(ledger);
  ledger.close = async () => {
    closed = true;
    await close();
  };
  return ledger;
}

/** A user with a fresh identity, a $VDC_HOME and a client connected to `url`. */
export async function newUser(
  t: After,
  url: string,
): Promise<{ identity: Identity; home: string; client: LedgerClient }> {
  const identity = Identity.fromSeed(randomBytes(64));
  const home = tempDir(t, 'vdc-home-');
  const client = await LedgerClient.connect({ url, home });
  return { identity, home, client };
}

/** Registers the user's twin; returns its id. */
export async function registerTwin(client: LedgerClient, identity: Identity): Promise<number> {
  const receipt = await client.submit(identity, 'twin.create', {
    encryptionKey: toHex(identity.encryptionPublicKey),
    relays: [],
  });
  return receipt.created['twins'] ?? Number.NaN;
}
