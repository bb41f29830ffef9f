import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../core/hex.ts';
import {
  createKeystore,
  generateMnemonic,
  type Identity,
  mnemonicToSeed,
  openKeystore,
} from '../identity/index.ts';
import { LedgerClient } from '../ledger/index.ts';

/*
 * The farmer of root's grid: a twin of its own that owns the `demo` farm, enrols the nodes
 * in it and runs the gateway. Not the user: a farmer may read its nodes' stats and nothing
 * else (P1, NODE_API_FARMER_REFUSED), so the user could not deploy to nodes of their own
 * farm — and a grid where farmer and user are different people is the one worth showing.
 * Its keystore is in the grid folder under a random passphrase kept beside it (0600), so
 * the gateway process can unlock it and the user's passphrase never sits in a
 * long-running process's environment.
 */

export const DEMO_FARM = 'demo';

export interface GridOperator {
  /** its $VDC_HOME: identity.json and the ledger pin */
  home: string;
  passphrase: string;
  identity: Identity;
  client: LedgerClient;
  twin: number;
  farm: number;
}

async function keys(
  dir: string,
): Promise<{ home: string; passphrase: string; identity: Identity }> {
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const keystore = join(home, 'identity.json');
  const secret = join(dir, 'passphrase');
  if (existsSync(keystore) && existsSync(secret)) {
    const passphrase = readFileSync(secret, 'utf8').trim();
    return { home, passphrase, identity: await openKeystore(keystore, passphrase) };
  }
  const passphrase = randomBytes(16).toString('hex');
  writeFileSync(secret, `${passphrase}\n`, { mode: 0o600 });
  const seed = mnemonicToSeed(generateMnemonic());
  return { home, passphrase, identity: await createKeystore(keystore, seed, passphrase) };
}

/**
 * The grid's farmer, its twin and its `demo` farm, registered unless they exist.
 * @throws VdcError from the keystore or the ledger
 */
export async function upOperator(
  gridDir: string,
  o: { ledgerUrl: string; ledgerKey: string },
): Promise<GridOperator> {
  const dir = join(gridDir, 'farmer');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { home, passphrase, identity } = await keys(dir);
  const client = await LedgerClient.connect({ url: o.ledgerUrl, home, ledgerKey: o.ledgerKey });
  let twin = client.twinOf(identity);
  if (twin === undefined)
    twin = (
      await client.submit(identity, 'twin.create', {
        encryptionKey: toHex(identity.encryptionPublicKey),
        relays: [],
      })
    ).created['twins']!;
  let farm = client.follower.view.farmsOf(twin)[0]?.id;
  if (farm === undefined)
    farm = (await client.submit(identity, 'farm.create', { name: DEMO_FARM })).created['farms']!;
  return { home, passphrase, identity, client, twin, farm };
}
