import { createHmac, hkdfSync } from 'node:crypto';
import { deriveKey, KEY_LABELS } from '../core/key-derivation.ts';

/*
 * Every zstor key comes from the user's two roots, both derived from the seed
 * (docs/identity.md): `vdc/zstor-data/0` for chunk contents, `vdc/zstor-meta/0` for
 * metadata and for naming shards. Repair needs to name, move and check shards but never
 * to read them, so it gets the meta root only. The derivations are documented in
 * docs/zstor.md; changing one makes stored objects unreadable.
 */

export interface ZstorKeys {
  /** 32 bytes from `vdc/zstor-data/0`: roots the per-object chunk keys. */
  readonly data: Buffer;
  /** 32 bytes from `vdc/zstor-meta/0`: roots metadata encryption and shard names. */
  readonly meta: Buffer;
}

/** The two roots of a user's storage, from the 64-byte seed. @throws VdcError KEY_INVALID */
export function zstorKeysFromSeed(seed: Uint8Array): ZstorKeys {
  return {
    data: deriveKey(seed, KEY_LABELS.zstorData),
    meta: deriveKey(seed, KEY_LABELS.zstorMeta),
  };
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string): Buffer {
  const infoBytes = typeof info === 'string' ? Buffer.from(info, 'utf8') : info;
  return Buffer.from(hkdfSync('sha256', ikm, salt, infoBytes, 32));
}

function u64(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(value));
  return b;
}

/** The object's key: HKDF(data root, salt = object id, "vdc/zstor/object/v1"). */
export function objectKey(dataRoot: Uint8Array, objectId: Uint8Array): Buffer {
  return hkdf(dataRoot, objectId, 'vdc/zstor/object/v1');
}

/**
 * The key that encrypts every chunk of one version of one object:
 * HKDF(object key, salt = version salt, "vdc/zstor/version/v1" || u64(version)). The random
 * 16-byte version salt makes two writers who both pick version v get different keys, so a
 * (key, nonce) pair is never used twice even then.
 */
export function versionKey(objKey: Uint8Array, version: number, versionSalt: Uint8Array): Buffer {
  return hkdf(
    objKey,
    versionSalt,
    Buffer.concat([Buffer.from('vdc/zstor/version/v1'), u64(version)]),
  );
}

/** The GCM nonce of chunk `chunk`: 4 zero bytes then u64(chunk), unique under one version key. */
export function chunkNonce(chunk: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(chunk), 4);
  return nonce;
}

/** The key that names shards in the backends (HMAC key), from the meta root. */
export function shardNameKey(metaRoot: Uint8Array): Buffer {
  return hkdf(metaRoot, Buffer.alloc(0), 'vdc/zstor/shard-name/v1');
}

/**
 * The backend key of one shard: HMAC-SHA256(name key, object id || u64 version || u64 chunk
 * || u8 index). Looks random to anyone without the meta root: no name, size or order.
 */
export function shardKey(
  nameKey: Uint8Array,
  objectId: Uint8Array,
  version: number,
  chunk: number,
  index: number,
): Buffer {
  return createHmac('sha256', nameKey)
    .update(objectId)
    .update(u64(version))
    .update(u64(chunk))
    .update(Uint8Array.of(index))
    .digest();
}

/** The backend key of the metadata root in slot 0 or 1 (the same key on every backend). */
export function rootKey(nameKey: Uint8Array, slot: 0 | 1): Buffer {
  return createHmac('sha256', nameKey).update(`vdc/zstor/root/v1/${slot}`).digest();
}

/** A fresh key for one metadata blob: HKDF(meta root, salt = 32 random bytes, "vdc/zstor/meta/v1"). */
export function metadataBlobKey(metaRoot: Uint8Array, salt: Uint8Array): Buffer {
  return hkdf(metaRoot, salt, 'vdc/zstor/meta/v1');
}
