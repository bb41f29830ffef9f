import { createHmac, hkdfSync } from 'node:crypto';
import { fail } from '../../core/assert.ts';

/*
 * The S3 access key pair of a user, derived from the `vdc/s3/0` key (itself HKDF from the
 * seed), so every machine with the seed serves and uses the same pair and nothing is stored:
 *   access key id = "VDC" + first 17 base32 (RFC 4648, A-Z2-7) characters of
 *                   HMAC-SHA256(s3 key, "vdc/s3/access-key-id/v1")        (20 characters)
 *   secret        = base64url of HKDF-SHA256(ikm = s3 key, salt = empty,
 *                   info = "vdc/s3/secret/v1", 30 bytes)                   (40 characters)
 * The id is public (it is sent with every request); the secret never leaves the machine.
 */

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/**
 * The access key pair from the 32-byte `vdc/s3/0` key.
 * @throws VdcError KEY_INVALID when the key is not 32 bytes
 */
export function s3CredentialsFromKey(s3Key: Uint8Array): S3Credentials {
  if (s3Key.length !== 32) fail('KEY_INVALID', `the vdc/s3/0 key is 32 bytes, got ${s3Key.length}`);
  const id = createHmac('sha256', s3Key).update('vdc/s3/access-key-id/v1').digest();
  const secret = Buffer.from(hkdfSync('sha256', s3Key, Buffer.alloc(0), 'vdc/s3/secret/v1', 30));
  return {
    accessKeyId: `VDC${base32(id).slice(0, 17)}`,
    secretAccessKey: secret.toString('base64url'),
  };
}
