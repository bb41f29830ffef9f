import { fail } from '../../core/assert.ts';
import { VdcError } from '../../core/errors.ts';
import { parseJson } from '../../core/strict-json.ts';
import type { ByteRange } from '../object-reader.ts';
import type { ZstorStore } from '../zstor-store.ts';
import {
  attributesName,
  bucketName,
  checkBucketName,
  checkKey,
  objectName,
  RESERVED,
} from './s3-names.ts';

/*
 * S3's buckets and objects over one ZstorStore (names: s3-names.ts). Every change goes
 * through one queue: ZstorStore keeps one writer at a time (two root saves racing would
 * lose one), so uploads are stored one after the other; reads run freely beside them.
 */

export interface ObjectAttributes {
  readonly etag: string; // without quotes
  readonly contentType: string;
  readonly userMeta: Readonly<Record<string, string>>;
}

export interface ObjectHead extends ObjectAttributes {
  readonly size: number;
  readonly lastModified: number;
  readonly version: number;
}

export interface BucketInfo {
  readonly name: string;
  readonly createdAt: number;
}

const DEFAULT_TYPE = 'application/octet-stream';
const MAX_ATTRIBUTES_BYTES = 64 * 1024;

async function collect(stream: AsyncIterable<Uint8Array>, max: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const p of stream) {
    n += p.length;
    if (n > max) fail('ZSTOR_METADATA_MALFORMED', `an S3 record is over ${max} bytes`);
    parts.push(p);
  }
  return Buffer.concat(parts);
}

function isNotFound(err: unknown): boolean {
  return err instanceof VdcError && err.code === 'ZSTOR_OBJECT_NOT_FOUND';
}

/**
 * Versions of an S3 object (and of its attributes) kept when it is overwritten: the new
 * one and the one before, so a GET that started on the old body is not cut by one
 * overwrite; older ones are deleted with the write that makes them older.
 */
export const DEFAULT_KEEP_VERSIONS = 2;

/** The attributes record of one version of an object (s3-names.ts). */
function attributesBytes(version: number, a: ObjectAttributes): Buffer {
  const { etag, contentType, userMeta } = a;
  return Buffer.from(JSON.stringify({ format: 1, version, etag, contentType, userMeta }));
}

function headOf(
  m: { size: number; createdAt: number; version: number },
  a: ObjectAttributes,
): ObjectHead {
  const { etag, contentType, userMeta } = a;
  return {
    etag,
    contentType,
    userMeta,
    size: m.size,
    lastModified: m.createdAt,
    version: m.version,
  };
}

export class S3Objects {
  readonly store: ZstorStore;
  readonly #keep: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(store: ZstorStore, options: { keepVersions?: number | undefined } = {}) {
    this.store = store;
    this.#keep = options.keepVersions ?? DEFAULT_KEEP_VERSIONS;
  }

  /** Runs `fn` after every change queued before it. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async readJson(name: string): Promise<Record<string, unknown> | undefined> {
    try {
      const bytes = await collect(this.store.get(name), MAX_ATTRIBUTES_BYTES);
      const value = parseJson(bytes.toString('utf8'));
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        fail('ZSTOR_METADATA_MALFORMED', `the S3 record ${name} is not a JSON object`);
      return value as Record<string, unknown>;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(name: string): Promise<boolean> {
    return (await this.store.list(name)).some((o) => o.name === name);
  }

  // buckets

  async listBuckets(): Promise<BucketInfo[]> {
    const prefix = `${RESERVED}bucket/`;
    return (await this.store.list(prefix)).map((o) => ({
      name: o.name.slice(prefix.length),
      createdAt: o.createdAt,
    }));
  }

  /** @throws VdcError S3_NO_SUCH_BUCKET */
  async requireBucket(bucket: string): Promise<BucketInfo> {
    const name = bucketName(checkBucketName(bucket));
    const found = (await this.store.list(name)).find((o) => o.name === name);
    if (found === undefined)
      fail('S3_NO_SUCH_BUCKET', `there is no bucket ${JSON.stringify(bucket)}: create it first`);
    return { name: bucket, createdAt: found.createdAt };
  }

  /** @throws VdcError S3_BUCKET_EXISTS, S3_INVALID_BUCKET_NAME */
  createBucket(bucket: string): Promise<void> {
    checkBucketName(bucket);
    return this.serial(async () => {
      if (await this.exists(bucketName(bucket)))
        fail(
          'S3_BUCKET_EXISTS',
          `the bucket ${JSON.stringify(bucket)} already exists and is yours`,
        );
      await this.store.put(bucketName(bucket), [Buffer.from('{"format":1}')]);
    });
  }

  /** @throws VdcError S3_NO_SUCH_BUCKET, S3_BUCKET_NOT_EMPTY */
  deleteBucket(bucket: string): Promise<void> {
    return this.serial(async () => {
      await this.requireBucket(bucket);
      if ((await this.store.list(`${bucket}/`)).length > 0)
        fail(
          'S3_BUCKET_NOT_EMPTY',
          `the bucket ${JSON.stringify(bucket)} is not empty: delete its objects first`,
        );
      await this.store.remove(bucketName(bucket));
    });
  }

  // objects

  /**
   * Stores `body` as BUCKET/KEY; `finish` runs after the body was consumed (it returns the
   * ETag, and throws to refuse), then the attributes are stored.
   */
  putObject(
    bucket: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
    finish: () => { etag: string },
    attrs: Omit<ObjectAttributes, 'etag'>,
  ): Promise<ObjectHead> {
    checkKey(key);
    return this.serial(async () => {
      await this.requireBucket(bucket);
      const keep = { keepVersions: this.#keep };
      const manifest = await this.store.put(objectName(bucket, key), body, keep);
      const { etag } = finish();
      await this.store.put(
        attributesName(bucket, key),
        [attributesBytes(manifest.version, { ...attrs, etag })],
        keep,
      );
      return headOf(manifest, { ...attrs, etag });
    });
  }

  /**
   * Makes BUCKET/KEY out of the zstor objects `sources` by reference (ZstorStore.splice:
   * no data read or written) and, in the same root save, stores its attributes and removes
   * `remove`. Run it inside serial().
   * @throws VdcError S3_NO_SUCH_BUCKET; ZSTOR_OBJECT_NOT_FOUND when a source or a name to remove is gone
   */
  async spliceObject(
    bucket: string,
    key: string,
    sources: readonly string[],
    remove: readonly string[],
    etag: string,
    attrs: Omit<ObjectAttributes, 'etag'>,
  ): Promise<ObjectHead> {
    checkKey(key);
    await this.requireBucket(bucket);
    const manifest = await this.store.splice(objectName(bucket, key), sources, {
      keepVersions: this.#keep,
      remove,
      put: (version) => [
        { name: attributesName(bucket, key), bytes: attributesBytes(version, { ...attrs, etag }) },
      ],
    });
    return headOf(manifest, { ...attrs, etag });
  }

  /** @throws VdcError S3_NO_SUCH_BUCKET, S3_NO_SUCH_KEY */
  async headObject(bucket: string, key: string): Promise<ObjectHead> {
    checkKey(key);
    await this.requireBucket(bucket);
    let manifest: Awaited<ReturnType<ZstorStore['manifest']>>;
    try {
      manifest = await this.store.manifest(objectName(bucket, key));
    } catch (err) {
      if (isNotFound(err))
        fail(
          'S3_NO_SUCH_KEY',
          `there is no object ${JSON.stringify(key)} in bucket ${JSON.stringify(bucket)}`,
        );
      throw err;
    }
    const a = await this.readJson(attributesName(bucket, key));
    // Attributes written for another version (a crash between the two puts, or an object
    // put with `vdc store`) are not this body's: fall back to what the manifest says.
    const fresh = a !== undefined && a.version === manifest.version;
    return {
      etag: fresh && typeof a.etag === 'string' ? a.etag : manifest.sha256.slice(0, 32),
      contentType: fresh && typeof a.contentType === 'string' ? a.contentType : DEFAULT_TYPE,
      userMeta:
        fresh && typeof a.userMeta === 'object' && a.userMeta !== null
          ? (a.userMeta as Record<string, string>)
          : {},
      size: manifest.size,
      lastModified: manifest.createdAt,
      version: manifest.version,
    };
  }

  /** The body of the version `head` describes, or `range` of it (only its chunks are read). */
  body(bucket: string, key: string, head: ObjectHead, range?: ByteRange): AsyncGenerator<Buffer> {
    return this.store.get(objectName(bucket, key), head.version, undefined, range);
  }

  /** Deletes BUCKET/KEY and its attributes; deleting what is not there succeeds, as in S3. */
  deleteObject(bucket: string, key: string): Promise<void> {
    checkKey(key);
    return this.serial(async () => {
      await this.requireBucket(bucket);
      for (const name of [objectName(bucket, key), attributesName(bucket, key)])
        try {
          await this.store.remove(name);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
    });
  }

  /** ETag of each listed object (from its attributes when they match its version). */
  async etags(
    bucket: string,
    entries: readonly { key: string; version: number }[],
  ): Promise<string[]> {
    const out: string[] = new Array(entries.length).fill('');
    let next = 0;
    const worker = async () => {
      while (next < entries.length) {
        const i = next++;
        const e = entries[i]!;
        const a = await this.readJson(attributesName(bucket, e.key));
        out[i] =
          a !== undefined && a.version === e.version && typeof a.etag === 'string'
            ? a.etag
            : (await this.store.manifest(objectName(bucket, e.key), e.version)).sha256.slice(0, 32);
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, entries.length) }, worker));
    return out;
  }
}
