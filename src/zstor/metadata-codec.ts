import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { fail } from '../core/assert.ts';
import { canonicalBytes, type JsonValue } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { parseJson } from '../core/strict-json.ts';
import { MAX_METADATA_BYTES } from './metadata-limits.ts';
import { metadataBlobKey } from './zstor-keys.ts';

/*
 * A metadata blob (the root or one object version's manifest) as bytes:
 *
 *   0   4  magic "VZMD"
 *   4   1  format 1
 *   5   1  kind: 1 root, 2 manifest
 *   6  32  salt (random for every blob written)
 *  38      AES-256-GCM ciphertext of zstd(canonical JSON), then the 16-byte tag
 *
 * key = HKDF(meta root, salt, "vdc/zstor/meta/v1"), nonce = 12 zero bytes: every blob gets
 * a fresh key, so a nonce can never repeat under one key however often metadata is
 * rewritten, by however many writers. Bytes 0..37 are the associated data. The plaintext
 * is RFC 8785 canonical JSON, so equal metadata has equal bytes before encryption.
 */

export const METADATA_MAGIC = Buffer.from('VZMD', 'ascii');
const HEADER_BYTES = 38;
const TAG_BYTES = 16;
const NONCE = Buffer.alloc(12);
export const BLOB_KINDS = { root: 1, manifest: 2 } as const;
export type BlobKind = keyof typeof BLOB_KINDS;

/**
 * Serialises and encrypts one metadata value.
 * @throws VdcError ZSTOR_METADATA_TOO_LARGE when its JSON is more than readers accept
 */
export function sealMetadata(metaRoot: Buffer, kind: BlobKind, value: JsonValue): Buffer {
  const json = canonicalBytes(value);
  // Readers refuse more (openMetadata): what they could not read must not be written.
  if (json.length > MAX_METADATA_BYTES)
    fail(
      'ZSTOR_METADATA_TOO_LARGE',
      `${kind} metadata of ${json.length} bytes is over the ${MAX_METADATA_BYTES} a reader accepts: store fewer, larger chunks (chunkSize) or split the object`,
    );
  const header = Buffer.alloc(HEADER_BYTES);
  METADATA_MAGIC.copy(header, 0);
  header[4] = 1;
  header[5] = BLOB_KINDS[kind];
  randomBytes(32).copy(header, 6);
  const cipher = createCipheriv(
    'aes-256-gcm',
    metadataBlobKey(metaRoot, header.subarray(6)),
    NONCE,
  );
  cipher.setAAD(header);
  const body = zstdCompressSync(json);
  return Buffer.concat([header, cipher.update(body), cipher.final(), cipher.getAuthTag()]);
}

/**
 * Decrypts and parses one metadata blob of the expected kind.
 * @throws VdcError ZSTOR_METADATA_MALFORMED when it is not a metadata blob of that kind
 * @throws VdcError ZSTOR_METADATA_UNDECRYPTABLE when the meta key is wrong or it was altered
 */
export function openMetadata(metaRoot: Buffer, kind: BlobKind, blob: Uint8Array): JsonValue {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (b.length < HEADER_BYTES + TAG_BYTES || !b.subarray(0, 4).equals(METADATA_MAGIC) || b[4] !== 1)
    fail('ZSTOR_METADATA_MALFORMED', `a ${b.length}-byte blob is not zstor metadata of format 1`);
  if (b[5] !== BLOB_KINDS[kind])
    fail('ZSTOR_METADATA_MALFORMED', `expected ${kind} metadata, got kind ${b[5]}`);
  let body: Buffer;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      metadataBlobKey(metaRoot, b.subarray(6, HEADER_BYTES)),
      NONCE,
    );
    decipher.setAAD(b.subarray(0, HEADER_BYTES));
    decipher.setAuthTag(b.subarray(b.length - TAG_BYTES));
    body = Buffer.concat([
      decipher.update(b.subarray(HEADER_BYTES, b.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (cause) {
    fail(
      'ZSTOR_METADATA_UNDECRYPTABLE',
      `${kind} metadata does not authenticate: it was written under another seed's meta key, or altered`,
      cause,
    );
  }
  try {
    return parseJson(zstdDecompressSync(body, { maxOutputLength: MAX_METADATA_BYTES }));
  } catch (cause) {
    if (cause instanceof VdcError)
      fail(
        'ZSTOR_METADATA_MALFORMED',
        `${kind} metadata is not valid JSON: ${cause.message}`,
        cause,
      );
    fail('ZSTOR_METADATA_MALFORMED', `${kind} metadata does not decompress`, cause);
  }
}
