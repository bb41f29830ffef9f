import { join } from 'node:path';
import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { verify } from '../core/signing.ts';
import { assertTag, assertUserTag } from '../core/signing-tags.ts';
import { parseJson } from '../core/strict-json.ts';
import { vdcHome } from '../core/vdc-home.ts';
import {
  createKeystore,
  generateMnemonic,
  Identity,
  keystorePublicKeys,
  mnemonicToSeed,
  openKeystore,
  readPassphrase,
} from '../identity/index.ts';
import { type CliIo, readInput } from './cli-io.ts';
import { emit } from './output.ts';

const MNEMONIC_WARNING =
  'Write these 24 words down, on paper, and keep them safe. They are the only way to restore\n' +
  'your identity and your VDC; they are shown this once and never stored in readable form.';

function keystorePath(io: CliIo): string {
  return join(vdcHome(io.env), 'identity.json');
}

function publicView(
  identity: Identity,
  path: string,
): { signingKey: string; encryptionKey: string; keystore: string } {
  return {
    signingKey: toHex(identity.signingPublicKey),
    encryptionKey: toHex(identity.encryptionPublicKey),
    keystore: path,
  };
}

/** Opens the user's keystore, asking for the passphrase as needed. */
export async function unlockIdentity(io: CliIo): Promise<Identity> {
  const path = keystorePath(io);
  keystorePublicKeys(path); // fail fast on a missing or damaged keystore before prompting
  return openKeystore(path, await readPassphrase({ env: io.env }));
}

export function idCommand(io: CliIo): Command {
  const id = new Command('id').description('your identity: mnemonic, keys and signatures');

  id.command('new')
    .description('create a new identity and its keystore; prints the mnemonic once')
    .option(
      '--force',
      'replace an existing keystore (its keys are lost unless you kept its mnemonic)',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { force?: boolean; json?: boolean }) => {
      const path = keystorePath(io);
      if (!opts.force) keystoreMustNotExist(path);
      const passphrase = await readPassphrase({ env: io.env, confirm: true });
      const mnemonic = generateMnemonic();
      const identity = await createKeystore(path, mnemonicToSeed(mnemonic), passphrase, {
        force: Boolean(opts.force),
      });
      if (!opts.json) io.err(`${MNEMONIC_WARNING}\n\n`);
      emit(
        io,
        opts.json,
        { mnemonic, ...publicView(identity, path) },
        () => `${mnemonic}\n\nkeystore: ${path}\nsigning key: ${toHex(identity.signingPublicKey)}`,
      );
    });

  id.command('recover')
    .description('recreate the keystore from a mnemonic read on stdin')
    .option('--force', 'replace an existing keystore that holds other keys')
    .option('--json', 'print JSON')
    .action(async (opts: { force?: boolean; json?: boolean }) => {
      if (io.stdinIsTty) io.err('Type your 24 words, then press Enter and Ctrl-D:\n');
      const text = (await readInput(io, '-', 4096)).toString('utf8');
      const seed = mnemonicToSeed(text);
      const path = keystorePath(io);
      const passphrase = await readPassphrase({ env: io.env, confirm: true });
      const force = opts.force || sameKeysAlreadyStored(path, seed);
      const identity = await createKeystore(path, seed, passphrase, { force });
      emit(
        io,
        opts.json,
        publicView(identity, path),
        () => `recovered identity into ${path}\nsigning key: ${toHex(identity.signingPublicKey)}`,
      );
    });

  id.command('show')
    .description('print your public signing and encryption keys (hex)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const identity = await unlockIdentity(io);
      const view = publicView(identity, keystorePath(io));
      emit(
        io,
        opts.json,
        view,
        `signing key:    ${view.signingKey}\nencryption key: ${view.encryptionKey}\nkeystore:       ${view.keystore}`,
      );
    });

  id.command('sign')
    .description(
      "sign a JSON file's canonical form (RFC 8785) under a tag of your own; vdc/ tags are refused",
    )
    .requiredOption('--tag <tag>', 'purpose of the signature, e.g. myapp/release/v1')
    .option('--json', 'print JSON')
    .argument('<file>', 'JSON file to sign, or - for stdin')
    .action(async (file: string, opts: { tag: string; json?: boolean }) => {
      assertUserTag(opts.tag);
      const payload = parseJson(await readInput(io, file));
      const identity = await unlockIdentity(io);
      const signature = toHex(identity.signUserMessage(opts.tag, payload));
      emit(
        io,
        opts.json,
        { tag: opts.tag, key: toHex(identity.signingPublicKey), signature },
        signature,
      );
    });

  id.command('verify')
    .description("check a signature over a JSON file's canonical form; exits 0 only if it holds")
    .requiredOption('--tag <tag>', 'purpose the signature was made for (any tag)')
    .requiredOption('--key <hex>', "signer's public signing key")
    .requiredOption('--sig <hex>', 'the signature')
    .option('--json', 'print JSON')
    .argument('<file>', 'JSON file that was signed, or - for stdin')
    .action(
      async (file: string, opts: { tag: string; key: string; sig: string; json?: boolean }) => {
        assertTag(opts.tag);
        const key = fromHex(opts.key, '--key', 32, 'KEY_INVALID');
        const sig = fromHex(opts.sig, '--sig', undefined, 'SIGNATURE_MALFORMED');
        const payload = parseJson(await readInput(io, file));
        if (!verify(opts.tag, payload, sig, key)) {
          fail(
            'SIGNATURE_INVALID',
            `the signature does not verify under tag ${opts.tag} and key ${opts.key}: the file, the tag or the key differs from what was signed`,
          );
        }
        emit(io, opts.json, { valid: true, tag: opts.tag, key: opts.key }, 'signature valid');
      },
    );

  return id;
}

function keystoreMustNotExist(path: string): void {
  try {
    keystorePublicKeys(path);
  } catch (err) {
    if ((err as { code?: string }).code === 'KEYSTORE_NOT_FOUND') return;
  }
  fail(
    'KEYSTORE_EXISTS',
    `a keystore already exists at ${path}: keep it, or pass --force to replace it (its keys are lost unless you have its mnemonic)`,
  );
}

/** Recovering the same identity over its own keystore is harmless (e.g. a forgotten passphrase). */
function sameKeysAlreadyStored(path: string, seed: Buffer): boolean {
  try {
    return keystorePublicKeys(path).signingKey === toHex(Identity.fromSeed(seed).signingPublicKey);
  } catch {
    return false; // missing or damaged: createKeystore decides
  }
}
