import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { canonicalize } from '../core/canonical-json.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { SEED_BYTES } from '../core/key-derivation.ts';
import { parseJson } from '../core/strict-json.ts';
import { Identity } from './identity.ts';

/*
 * The keystore holds the 64-byte seed encrypted under a key stretched from the passphrase
 * with scrypt (parameters kept in the file, so they can be raised later) and sealed with
 * AES-256-GCM. The header is the AEAD's associated data, so changing a parameter or a public
 * key breaks decryption; a SHA-256 checksum over the whole file tells an accidental edit or
 * truncation apart from a wrong passphrase.
 */

const scryptAsync = promisify(scrypt) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>;

export const KEYSTORE_FORMAT = 'vdc-keystore';
export const KEYSTORE_VERSION = 1;
export const SCRYPT_DEFAULTS = { N: 2 ** 17, r: 8, p: 1 } as const;
export const MIN_PASSPHRASE_LENGTH = 8;
const MAX_KEYSTORE_BYTES = 64 * 1024;
// Bounds on parameters read from a file: below them a keystore is too weak to open; above them a crafted file could exhaust memory.
const SCRYPT_LIMITS = { N: [2 ** 17, 2 ** 20], r: [8, 16], p: [1, 4] } as const;

interface KeystoreHeader {
  format: typeof KEYSTORE_FORMAT;
  version: typeof KEYSTORE_VERSION;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { name: 'aes-256-gcm'; nonce: string };
  signingKey: string;
  encryptionKey: string;
  created: string;
}

interface KeystoreFile extends KeystoreHeader {
  seed: string;
  tag: string;
  checksum: string;
}

function scryptMaxmem(N: number, r: number): number {
  return 2 * 128 * N * r + 1024 * 1024;
}

async function stretch(passphrase: string, kdf: KeystoreHeader['kdf']): Promise<Buffer> {
  return scryptAsync(passphrase.normalize('NFKC'), fromHex(kdf.salt, 'kdf.salt'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: scryptMaxmem(kdf.N, kdf.r),
  });
}

function checksumOf(fields: Omit<KeystoreFile, 'checksum'>): string {
  return createHash('sha256').update(canonicalize(fields)).digest('hex');
}

function headerOf(file: KeystoreFile): KeystoreHeader {
  const { format, version, kdf, cipher, signingKey, encryptionKey, created } = file;
  return { format, version, kdf, cipher, signingKey, encryptionKey, created };
}

function corrupt(path: string, what: string, cause?: unknown): never {
  throw new VdcError(
    'KEYSTORE_CORRUPT',
    `keystore ${path} is damaged (${what}): restore it from a backup or run 'vdc id recover' with your mnemonic`,
    cause === undefined ? undefined : { cause },
  );
}

/** Reads and checks the keystore's structure and checksum without decrypting it. */
export function readKeystoreFile(path: string): KeystoreFile {
  if (!existsSync(path))
    fail(
      'KEYSTORE_NOT_FOUND',
      `no keystore at ${path}: create one with 'vdc id new' or 'vdc id recover'`,
    );
  const bytes = readFileSync(path);
  if (bytes.length > MAX_KEYSTORE_BYTES)
    corrupt(path, `${bytes.length} bytes, more than a keystore holds`);
  let doc: unknown;
  try {
    doc = parseJson(bytes);
  } catch (cause) {
    corrupt(path, 'not valid JSON, perhaps truncated', cause);
  }
  try {
    assertObject(doc, 'keystore');
    assertExactKeys(doc, 'keystore', [
      'format',
      'version',
      'kdf',
      'cipher',
      'seed',
      'tag',
      'signingKey',
      'encryptionKey',
      'created',
      'checksum',
    ]);
    if (doc['format'] !== KEYSTORE_FORMAT)
      corrupt(path, `format is ${JSON.stringify(doc['format'])}, not ${KEYSTORE_FORMAT}`);
    if (doc['version'] !== KEYSTORE_VERSION)
      fail(
        'KEYSTORE_UNSUPPORTED',
        `keystore ${path} has version ${JSON.stringify(doc['version'])}; this vdc reads version ${KEYSTORE_VERSION}: upgrade vdc`,
      );
    const kdf = doc['kdf'];
    assertObject(kdf, 'kdf');
    assertExactKeys(kdf, 'kdf', ['name', 'N', 'r', 'p', 'salt']);
    if (kdf['name'] !== 'scrypt')
      fail(
        'KEYSTORE_UNSUPPORTED',
        `keystore ${path} uses kdf ${JSON.stringify(kdf['name'])}; only scrypt is supported`,
      );
    for (const param of ['N', 'r', 'p'] as const)
      assertInteger(kdf[param], `kdf.${param}`, SCRYPT_LIMITS[param][0], SCRYPT_LIMITS[param][1]);
    if (((kdf['N'] as number) & ((kdf['N'] as number) - 1)) !== 0)
      corrupt(path, 'kdf.N is not a power of two');
    fromHex(kdf['salt'], 'kdf.salt', 32);
    const cipher = doc['cipher'];
    assertObject(cipher, 'cipher');
    assertExactKeys(cipher, 'cipher', ['name', 'nonce']);
    if (cipher['name'] !== 'aes-256-gcm')
      fail(
        'KEYSTORE_UNSUPPORTED',
        `keystore ${path} uses cipher ${JSON.stringify(cipher['name'])}; only aes-256-gcm is supported`,
      );
    fromHex(cipher['nonce'], 'cipher.nonce', 12);
    fromHex(doc['seed'], 'seed', SEED_BYTES);
    fromHex(doc['tag'], 'tag', 16);
    fromHex(doc['signingKey'], 'signingKey', 32);
    fromHex(doc['encryptionKey'], 'encryptionKey', 32);
    assertString(doc['created'], 'created', { max: 40 });
    fromHex(doc['checksum'], 'checksum', 32);
  } catch (cause) {
    if (
      cause instanceof VdcError &&
      (cause.code === 'KEYSTORE_UNSUPPORTED' || cause.code === 'KEYSTORE_CORRUPT')
    )
      throw cause;
    corrupt(path, (cause as Error).message, cause);
  }
  const file = doc as unknown as KeystoreFile;
  const { checksum, ...rest } = file;
  if (checksumOf(rest) !== checksum)
    corrupt(path, 'its checksum does not match: it was edited or partly overwritten');
  return file;
}

/**
 * Encrypts `seed` under `passphrase` into a new keystore at `path` (mode 0600, atomic).
 * @throws VdcError KEYSTORE_EXISTS unless `force`; PASSPHRASE_WEAK; FILE_WRITE_FAILED
 */
export async function createKeystore(
  path: string,
  seed: Uint8Array,
  passphrase: string,
  opts: { force?: boolean; now?: Date } = {},
): Promise<Identity> {
  if (!opts.force && existsSync(path))
    fail(
      'KEYSTORE_EXISTS',
      `a keystore already exists at ${path}: keep it, or pass --force to replace it (its keys are lost unless you have its mnemonic)`,
    );
  if (passphrase.length < MIN_PASSPHRASE_LENGTH)
    fail('PASSPHRASE_WEAK', `the passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
  const identity = Identity.fromSeed(seed);
  const header: KeystoreHeader = {
    format: KEYSTORE_FORMAT,
    version: KEYSTORE_VERSION,
    kdf: { name: 'scrypt', ...SCRYPT_DEFAULTS, salt: toHex(randomBytes(32)) },
    cipher: { name: 'aes-256-gcm', nonce: toHex(randomBytes(12)) },
    signingKey: toHex(identity.signingPublicKey),
    encryptionKey: toHex(identity.encryptionPublicKey),
    created: (opts.now ?? new Date()).toISOString(),
  };
  const key = await stretch(passphrase, header.kdf);
  const cipher = createCipheriv('aes-256-gcm', key, fromHex(header.cipher.nonce, 'cipher.nonce'));
  cipher.setAAD(Buffer.from(canonicalize(header)));
  const sealed = Buffer.concat([cipher.update(seed), cipher.final()]);
  const rest = { ...header, seed: toHex(sealed), tag: toHex(cipher.getAuthTag()) };
  const file: KeystoreFile = { ...rest, checksum: checksumOf(rest) };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // Exclusive: another `vdc id create` may have written one during the key stretch above.
    writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, 0o600, { exclusive: !opts.force });
  } catch (err) {
    if (asVdcError(err).code === 'FILE_EXISTS')
      fail('KEYSTORE_EXISTS', `a keystore was created at ${path} meanwhile: it was kept`, err);
    throw err;
  }
  return identity;
}

/**
 * Decrypts the keystore at `path` and returns the identity it holds.
 * @throws VdcError KEYSTORE_NOT_FOUND, KEYSTORE_CORRUPT, KEYSTORE_UNSUPPORTED, PASSPHRASE_WRONG
 */
export async function openKeystore(path: string, passphrase: string): Promise<Identity> {
  const file = readKeystoreFile(path);
  const key = await stretch(passphrase, file.kdf);
  const decipher = createDecipheriv('aes-256-gcm', key, fromHex(file.cipher.nonce, 'cipher.nonce'));
  decipher.setAAD(Buffer.from(canonicalize(headerOf(file))));
  decipher.setAuthTag(fromHex(file.tag, 'tag'));
  let seed: Buffer;
  try {
    seed = Buffer.concat([decipher.update(fromHex(file.seed, 'seed')), decipher.final()]);
  } catch (cause) {
    fail(
      'PASSPHRASE_WRONG',
      `the passphrase does not open keystore ${path}: check VDC_PASSPHRASE or retype it`,
      cause,
    );
  }
  const identity = Identity.fromSeed(seed);
  if (
    toHex(identity.signingPublicKey) !== file.signingKey ||
    toHex(identity.encryptionPublicKey) !== file.encryptionKey
  ) {
    corrupt(path, 'its public keys do not match its seed');
  }
  return identity;
}

/** The public keys recorded in a keystore, checked by its checksum but not by decryption. */
export function keystorePublicKeys(path: string): { signingKey: string; encryptionKey: string } {
  const file = readKeystoreFile(path);
  return { signingKey: file.signingKey, encryptionKey: file.encryptionKey };
}
