import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { toHex } from '../core/hex.ts';
import { SEED_BYTES } from '../core/key-derivation.ts';
import { jsonLogger } from '../core/log.ts';
import { createKeystore, generateMnemonic, Identity, mnemonicToSeed } from '../identity/index.ts';
import { LedgerClient } from '../ledger/index.ts';
import { openTwinDirectory, RelayClient } from '../relay/index.ts';

type LedgerDirectory = Awaited<ReturnType<typeof openTwinDirectory>>;

/*
 * A person of the grid (the farmer, the user, any twin a test adds): a mnemonic, a
 * `$VDC_HOME` with its keystore and the ledger's key pinned — so the `vdc` CLI works as
 * that person with `env` — a twin on the ledger reachable at the grid's relay, and an
 * in-process ledger client and relay client for tests that talk to nodes directly.
 *
 * The relay client connects on first use only: a relay keeps one login per twin, and a
 * new login replaces the old one (RELAY_SESSION_REPLACED), so an idle in-process client
 * would keep knocking a `vdc` command run as the same twin off the relay. closeRelay()
 * hands the login back before running such a command.
 */

export interface TwinContext {
  ledgerUrl: string;
  ledgerKey: string;
  relayUrl: string;
  /** folder under which `<label>/home` and the relay client's state go */
  dir: string;
}

export class GridTwin {
  readonly label: string;
  readonly id: number;
  readonly identity: Identity;
  /** its 24 words; empty for a twin made without a home */
  readonly mnemonic: string;
  /** its `$VDC_HOME`: identity.json (under `passphrase`) and the pinned ledger key */
  readonly home: string;
  readonly passphrase: string;
  /** environment for `vdc` commands run as this twin: VDC_HOME, VDC_PASSPHRASE, VDC_LEDGER, VDC_RELAY */
  readonly env: Record<string, string>;
  readonly client: LedgerClient;
  readonly #ctx: TwinContext;
  readonly #directory: LedgerDirectory;
  readonly #base: string;
  #relay: RelayClient | undefined;
  #closed = false;

  constructor(fields: {
    ctx: TwinContext;
    label: string;
    id: number;
    identity: Identity;
    mnemonic: string;
    home: string;
    passphrase: string;
    client: LedgerClient;
    directory: LedgerDirectory;
    base: string;
  }) {
    this.#ctx = fields.ctx;
    this.label = fields.label;
    this.id = fields.id;
    this.identity = fields.identity;
    this.mnemonic = fields.mnemonic;
    this.home = fields.home;
    this.passphrase = fields.passphrase;
    this.client = fields.client;
    this.#directory = fields.directory;
    this.#base = fields.base;
    this.env = {
      VDC_HOME: fields.home,
      VDC_PASSPHRASE: fields.passphrase,
      VDC_LEDGER: fields.ctx.ledgerUrl,
      VDC_RELAY: fields.ctx.relayUrl,
    };
  }

  /** Its relay client, logged in (or logging in) at the grid's relay; made on first use. */
  get relay(): RelayClient {
    if (this.#closed) fail('GRID_TORN_DOWN', `twin ${this.label} belongs to a grid torn down`);
    if (!this.#relay) {
      const log = join(this.#base, 'relay-client.log');
      this.#relay = new RelayClient({
        url: this.#ctx.relayUrl,
        identity: this.identity,
        twin: this.id,
        directory: this.#directory,
        dataDir: join(this.#base, 'relay-client'),
        reconnect: { minDelayMs: 50, maxDelayMs: 1000 },
        requestTimeoutMs: 10_000,
        logger: jsonLogger((line) => appendFileSync(log, line), { twin: this.id }),
      });
    }
    return this.#relay;
  }

  /** Closes its relay client, so another (e.g. `vdc` run with `env`) can log in as this twin. */
  async closeRelay(): Promise<void> {
    const relay = this.#relay;
    this.#relay = undefined;
    await relay?.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.closeRelay();
    this.#directory.close();
  }
}

export interface TwinKeys {
  identity: Identity;
  mnemonic: string;
  passphrase: string;
}

/**
 * A twin's keys, and with `home` its keystore in `<dir>/<label>/home` (scrypt: the slow
 * part, so the grid starts it while its services boot). Without `home`: a bare identity,
 * for a twin only the harness uses.
 * @throws VdcError FILE_WRITE_FAILED
 */
export async function makeTwinKeys(dir: string, label: string, home: boolean): Promise<TwinKeys> {
  const folder = join(dir, label, 'home');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (!home)
    return { identity: Identity.fromSeed(randomBytes(SEED_BYTES)), mnemonic: '', passphrase: '' };
  const mnemonic = generateMnemonic();
  const passphrase = randomBytes(12).toString('hex');
  const seed = mnemonicToSeed(mnemonic);
  const identity = await createKeystore(join(folder, 'identity.json'), seed, passphrase);
  return { identity, mnemonic, passphrase };
}

/**
 * Registers a twin with `keys` (made by makeTwinKeys for the same `ctx.dir` and `label`):
 * ledger pin in its home, `twin.create` naming the grid's relay, a directory for its relay
 * client.
 * @throws VdcError from the ledger (its refusal)
 */
export async function createGridTwin(
  ctx: TwinContext,
  label: string,
  keys: TwinKeys,
): Promise<GridTwin> {
  const base = join(ctx.dir, label);
  const home = join(base, 'home');
  const { identity } = keys;
  const client = await LedgerClient.connect({ url: ctx.ledgerUrl, home, ledgerKey: ctx.ledgerKey });
  const receipt = await client.submit(identity, 'twin.create', {
    encryptionKey: toHex(identity.encryptionPublicKey),
    relays: [new URL(ctx.relayUrl).href],
  });
  const directory = await openTwinDirectory(ctx.ledgerUrl, {
    home: join(base, 'directory'),
    ledgerKey: ctx.ledgerKey,
  });
  return new GridTwin({
    ctx,
    label,
    id: receipt.created['twins']!,
    identity,
    mnemonic: keys.mnemonic,
    home,
    passphrase: keys.passphrase,
    client,
    directory,
    base,
  });
}
