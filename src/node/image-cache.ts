import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertInteger, assertObject, assertString, fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { VdcError } from '../core/errors.ts';
import { type FetchProgress, fetchToFile, imageUrl } from './image-fetch.ts';
import { readManifest, writeManifest } from './image-manifest.ts';
import { type IdBase, materializeRootfs } from './image-materialize.ts';
import type { TarLimits } from './image-tar.ts';
import { unpackImage } from './image-unpack.ts';

/*
 * The node's images, unpacked and kept by their sha256 digest:
 *
 *   DIR/<sha256>/rootfs/         the unpacked tree, owned by the node
 *   DIR/<sha256>/manifest.json   each entry's owner in the image
 *   DIR/<sha256>/complete        written last: without it the folder is a leftover
 *   DIR/.download-*, .staging-*  work in progress, removed when the cache opens
 *
 * An image is cached only after its bytes hashed to the digest the deployment named and
 * it unpacked without a refusal; anything else leaves DIR as it was.
 */

export interface ImageRef {
  url: string;
  /** lowercase hex SHA-256 of the tarball as served (compressed, if it is) */
  sha256: string;
}

export interface EnsureOptions {
  /** bytes the download may have */
  maxBytes: number;
  /** milliseconds the whole download may take */
  timeoutMs: number;
  onProgress?: (p: FetchProgress) => void;
  /** bounds on the tar stream (entries, path length, unpacked bytes, …) */
  limits?: Partial<TarLimits>;
}

export const DEFAULT_ENSURE_OPTIONS: EnsureOptions = {
  maxBytes: 1024 ** 3,
  timeoutMs: 10 * 60_000,
};

const DIGEST = /^[0-9a-f]{64}$/;

function checkDigest(digest: unknown): asserts digest is string {
  assertString(digest, 'image sha256', { pattern: DIGEST }, 'IMAGE_REFERENCE_INVALID');
}

export class ImageCache {
  readonly dir: string;
  readonly #defaults: EnsureOptions;
  readonly #inFlight = new Map<string, Promise<string>>();

  /**
   * Opens (creating, mode 0700) the cache in `dir` and removes what an interrupted run
   * left. One ImageCache per folder: a second one would remove the first one's work.
   * @throws Error from the file system when `dir` cannot be made
   */
  constructor(dir: string, defaults: Partial<EnsureOptions> = {}) {
    this.dir = dir;
    this.#defaults = { ...DEFAULT_ENSURE_OPTIONS, ...defaults };
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      const leftover = name.startsWith('.download-') || name.startsWith('.staging-');
      const incomplete = DIGEST.test(name) && !existsSync(join(dir, name, 'complete'));
      if (leftover || incomplete) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  /** The unpacked tree of a cached image (whether or not it is cached). */
  rootfsOf(digest: string): string {
    checkDigest(digest);
    return join(this.dir, digest, 'rootfs');
  }

  has(digest: string): boolean {
    checkDigest(digest);
    return existsSync(join(this.dir, digest, 'complete'));
  }

  /** Digests of the cached images, sorted. */
  list(): string[] {
    return readdirSync(this.dir)
      .filter((name) => DIGEST.test(name) && existsSync(join(this.dir, name, 'complete')))
      .sort();
  }

  /**
   * The rootfs of the image, fetched, verified and unpacked unless already cached. Calls
   * for one digest at the same time share one download (the first caller's options).
   * @throws VdcError IMAGE_REFERENCE_INVALID, IMAGE_FETCH_FAILED, IMAGE_FETCH_TIMEOUT,
   *   IMAGE_TOO_LARGE, IMAGE_DIGEST_MISMATCH, and every refusal of unpackImage
   */
  ensure(ref: ImageRef, opts: Partial<EnsureOptions> = {}): Promise<string> {
    try {
      assertObject(ref, 'image', 'IMAGE_REFERENCE_INVALID');
      checkDigest(ref.sha256);
      assertString(ref.url, 'image url', { max: 4096 }, 'IMAGE_REFERENCE_INVALID');
      imageUrl(ref.url);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.has(ref.sha256)) return Promise.resolve(this.rootfsOf(ref.sha256));
    let pending = this.#inFlight.get(ref.sha256);
    if (pending === undefined) {
      pending = this.#fetch(ref, { ...this.#defaults, ...opts }).finally(() =>
        this.#inFlight.delete(ref.sha256),
      );
      this.#inFlight.set(ref.sha256, pending);
    }
    return pending;
  }

  async #fetch(ref: ImageRef, opts: EnsureOptions): Promise<string> {
    assertInteger(opts.maxBytes, 'maxBytes', 1, Number.MAX_SAFE_INTEGER);
    assertInteger(opts.timeoutMs, 'timeoutMs', 1, 2 ** 31 - 1);
    const tag = randomBytes(6).toString('hex');
    const download = join(this.dir, `.download-${tag}`);
    const staging = join(this.dir, `.staging-${tag}`);
    const final = join(this.dir, ref.sha256);
    try {
      const got = await fetchToFile(ref.url, download, {
        maxBytes: opts.maxBytes,
        timeoutMs: opts.timeoutMs,
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      if (got.sha256 !== ref.sha256)
        fail(
          'IMAGE_DIGEST_MISMATCH',
          `the image at ${ref.url} hashes to sha256 ${got.sha256}, but the deployment names ` +
            `${ref.sha256}: publish the image the deployment names, or correct its digest`,
        );
      await mkdir(staging, { mode: 0o700 });
      const { manifest } = await unpackImage(
        createReadStream(download),
        join(staging, 'rootfs'),
        opts.limits,
      );
      writeManifest(join(staging, 'manifest.json'), manifest);
      // A folder without its marker is a leftover of a crash: replace it.
      await rm(final, { recursive: true, force: true });
      await rename(staging, final);
      try {
        writeFileAtomic(join(final, 'complete'), `${ref.sha256}\n`);
      } catch (err) {
        await rm(final, { recursive: true, force: true });
        throw err;
      }
      return join(final, 'rootfs');
    } catch (cause) {
      await rm(staging, { recursive: true, force: true });
      if (cause instanceof VdcError) throw cause;
      return fail(
        'FILE_WRITE_FAILED',
        `could not cache the image ${ref.sha256}: ${(cause as Error).message}`,
        cause,
      );
    } finally {
      await rm(download, { force: true });
    }
  }

  /**
   * Copies a cached image to the new folder `dest`, entries owned by the bases plus
   * their owner in the image. Needs root (or CAP_CHOWN) for bases other than the caller's.
   * @throws VdcError IMAGE_REFERENCE_INVALID, IMAGE_NOT_CACHED, IMAGE_DEST_EXISTS,
   *   IMAGE_CACHE_CORRUPT, INPUT_INVALID, FILE_WRITE_FAILED
   */
  async materialize(digest: string, dest: string, ids: IdBase): Promise<void> {
    if (!this.has(digest))
      fail('IMAGE_NOT_CACHED', `image ${digest} is not cached: ensure it first`);
    const manifest = readManifest(join(this.dir, digest, 'manifest.json'));
    await materializeRootfs(this.rootfsOf(digest), manifest, dest, ids);
  }

  /**
   * Removes a cached image; false if it was not cached. Copies made by materialize stay.
   * @throws VdcError IMAGE_REFERENCE_INVALID
   */
  async remove(digest: string): Promise<boolean> {
    checkDigest(digest);
    const folder = join(this.dir, digest);
    if (!existsSync(folder)) return false;
    // The marker goes first, so an interrupted removal reads as a leftover, not an image.
    await rm(join(folder, 'complete'), { force: true });
    await rm(folder, { recursive: true, force: true });
    return true;
  }
}
