import { createHash, randomBytes } from 'node:crypto';
import { fail } from '../../core/assert.ts';
import { VdcError } from '../../core/errors.ts';
import { checkKey, partPrefix, RESERVED, uploadName } from './s3-names.ts';
import type { ObjectAttributes, ObjectHead, S3Objects } from './s3-objects.ts';
import { localName, parseXml } from './s3-xml.ts';

/*
 * Multipart uploads: each part is stored as its own zstor object, `.s3/part/ID/NNNNN`,
 * with its MD5 carried by the name of an empty marker `.s3/partmd5/ID/NNNNN.MD5HEX` (so
 * listing parts reads only the root). Completing copies nothing: the object is spliced
 * from the listed parts' chunks (ZstorStore.splice, a format-2 manifest), and in the same
 * root save the parts leave the root (their chunks now belong to the object), the upload
 * record, every MD5 marker and the parts not listed are removed, and the attributes are
 * stored. A crash leaves the upload open and whole, or completed; never half of each
 * (docs/zstor.md, "Multipart completion").
 */

export const MAX_PARTS = 10_000;
export const DEFAULT_MIN_PART_SIZE = 5 * 1024 * 1024;

export interface UploadRecord {
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  readonly userMeta: Record<string, string>;
  readonly initiated: number;
}

export interface PartInfo {
  readonly part: number;
  readonly etag: string;
  readonly size: number;
  readonly lastModified: number;
}

const partBody = (id: string, n: number) => `${partPrefix(id)}${String(n).padStart(5, '0')}`;
const md5Prefix = (id: string) => `${RESERVED}partmd5/${id}/`;
const md5Marker = (id: string, n: number, md5: string) =>
  `${md5Prefix(id)}${String(n).padStart(5, '0')}.${md5}`;

function checkUploadId(id: string): string {
  if (!/^[0-9a-f]{32}$/.test(id))
    fail('S3_NO_SUCH_UPLOAD', `there is no upload ${JSON.stringify(id.slice(0, 64))}`);
  return id;
}

/** @throws VdcError S3_INVALID_ARGUMENT */
export function parsePartNumber(value: string | undefined): number {
  if (value === undefined || !/^[0-9]{1,5}$/.test(value) || +value < 1 || +value > MAX_PARTS)
    fail(
      'S3_INVALID_ARGUMENT',
      `partNumber must be an integer in 1..${MAX_PARTS}, got ${JSON.stringify(value?.slice(0, 20))}`,
    );
  return Number(value);
}

/** The parts a CompleteMultipartUpload body lists. @throws VdcError S3_MALFORMED_XML */
export function parseCompleteBody(xml: string): { part: number; etag: string }[] {
  const doc = parseXml(xml);
  if (localName(doc) !== 'CompleteMultipartUpload')
    fail('S3_MALFORMED_XML', `expected <CompleteMultipartUpload>, got <${doc.name}>`);
  const parts = doc.children.map((el) => {
    if (localName(el) !== 'Part')
      fail('S3_MALFORMED_XML', `unexpected <${el.name}> in <CompleteMultipartUpload>`);
    const field = (name: string) => el.children.find((c) => localName(c) === name)?.text.trim();
    const n = field('PartNumber');
    const etag = field('ETag');
    if (n === undefined || etag === undefined || !/^[0-9]{1,5}$/.test(n))
      fail('S3_MALFORMED_XML', 'every <Part> needs a <PartNumber> (1..10000) and an <ETag>');
    return { part: Number(n), etag: etag.replace(/^"|"$/g, '').toLowerCase() };
  });
  if (parts.length === 0) fail('S3_MALFORMED_XML', '<CompleteMultipartUpload> lists no part');
  return parts;
}

export class Multipart {
  readonly #o: S3Objects;
  readonly #minPartSize: number;

  constructor(objects: S3Objects, minPartSize = DEFAULT_MIN_PART_SIZE) {
    this.#o = objects;
    this.#minPartSize = minPartSize;
  }

  async create(
    bucket: string,
    key: string,
    attrs: Omit<ObjectAttributes, 'etag'>,
  ): Promise<string> {
    checkKey(key);
    const id = randomBytes(16).toString('hex');
    const record = { format: 1, bucket, key, ...attrs, initiated: Date.now() };
    await this.#o.serial(async () => {
      await this.#o.requireBucket(bucket);
      await this.#o.store.put(uploadName(id), [Buffer.from(JSON.stringify(record))]);
    });
    return id;
  }

  /** @throws VdcError S3_NO_SUCH_UPLOAD (also when the upload is for another bucket or key) */
  async upload(bucket: string, key: string, id: string): Promise<UploadRecord> {
    const r = await this.#o.readJson(uploadName(checkUploadId(id)));
    if (r === undefined || r.bucket !== bucket || r.key !== key)
      fail(
        'S3_NO_SUCH_UPLOAD',
        `there is no upload ${id} for ${bucket}/${key}: it was completed, aborted or never made`,
      );
    return r as unknown as UploadRecord;
  }

  /** Every open upload of `bucket`, sorted by key then initiation. */
  async list(bucket: string): Promise<(UploadRecord & { id: string })[]> {
    await this.#o.requireBucket(bucket);
    const prefix = uploadName('');
    const out: (UploadRecord & { id: string })[] = [];
    for (const o of await this.#o.store.list(prefix)) {
      const r = await this.#o.readJson(o.name);
      if (r !== undefined && r.bucket === bucket)
        out.push({ ...(r as unknown as UploadRecord), id: o.name.slice(prefix.length) });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated));
  }

  async putPart(
    bucket: string,
    key: string,
    id: string,
    n: number,
    body: AsyncIterable<Uint8Array>,
    finish: () => { md5: string },
  ): Promise<string> {
    await this.upload(bucket, key, id);
    return this.#o.serial(async () => {
      // again in the queue: an upload completed or aborted meanwhile takes no more parts
      // (they would be named by nothing that could ever remove them)
      await this.upload(bucket, key, id);
      await this.#removePart(id, n);
      await this.#o.store.put(partBody(id, n), body);
      const { md5 } = finish();
      await this.#o.store.put(md5Marker(id, n, md5), []);
      return md5;
    });
  }

  async #removePart(id: string, n: number): Promise<void> {
    const p = String(n).padStart(5, '0');
    const names = [
      ...(await this.#o.store.list(`${md5Prefix(id)}${p}.`)).map((o) => o.name),
      ...(await this.#o.store.list(partBody(id, n)))
        .filter((o) => o.name === partBody(id, n))
        .map((o) => o.name),
    ];
    for (const name of names) await this.#o.store.remove(name);
  }

  async parts(id: string): Promise<PartInfo[]> {
    const sizes = new Map(
      (await this.#o.store.list(partPrefix(id))).map((o) => [
        o.name.slice(partPrefix(id).length),
        o,
      ]),
    );
    const out: PartInfo[] = [];
    for (const m of await this.#o.store.list(md5Prefix(id))) {
      const [num, md5] = m.name.slice(md5Prefix(id).length).split('.') as [string, string];
      const body = sizes.get(num);
      if (body !== undefined)
        out.push({ part: Number(num), etag: md5, size: body.size, lastModified: body.createdAt });
    }
    return out;
  }

  /**
   * Completes an upload by splicing its parts (no byte is read or written again).
   * @throws VdcError S3_NO_SUCH_UPLOAD, S3_INVALID_PART_ORDER, S3_INVALID_PART (also when a
   *   part changed while completing), S3_ENTITY_TOO_SMALL
   */
  complete(
    bucket: string,
    key: string,
    id: string,
    wanted: readonly { part: number; etag: string }[],
  ): Promise<ObjectHead> {
    checkKey(key);
    // In the queue: no part of this server changes between the checks and the splice (a
    // part changed by another server is caught by the splice: see below).
    return this.#o.serial(async () => {
      const record = await this.upload(bucket, key, id);
      const have = new Map((await this.parts(id)).map((p) => [p.part, p]));
      for (const [i, w] of wanted.entries()) {
        if (i > 0 && w.part <= wanted[i - 1]!.part)
          fail(
            'S3_INVALID_PART_ORDER',
            'the parts must be listed in ascending PartNumber order, each once',
          );
        const p = have.get(w.part);
        if (p === undefined || p.etag !== w.etag)
          fail(
            'S3_INVALID_PART',
            `part ${w.part} with ETag ${w.etag} was not uploaded: upload it, or list the ETag it got`,
          );
        if (i < wanted.length - 1 && p.size < this.#minPartSize)
          fail(
            'S3_ENTITY_TOO_SMALL',
            `part ${w.part} is ${p.size} bytes; every part but the last must be at least ${this.#minPartSize}`,
          );
      }
      const etag = `${createHash('md5')
        .update(Buffer.concat(wanted.map((w) => Buffer.from(w.etag, 'hex'))))
        .digest('hex')}-${wanted.length}`;
      const sources = wanted.map((w) => partBody(id, w.part));
      const listed = new Set(sources);
      // The markers carry the MD5s just checked: the splice removes them by exact name, so
      // if another server replaced a part meanwhile (its marker is renamed), it fails.
      const rest = [
        uploadName(id),
        ...(await this.#o.store.list(md5Prefix(id))).map((o) => o.name),
        ...(await this.#o.store.list(partPrefix(id)))
          .map((o) => o.name)
          .filter((n) => !listed.has(n)),
      ];
      try {
        return await this.#o.spliceObject(bucket, key, sources, rest, etag, {
          contentType: record.contentType,
          userMeta: record.userMeta,
        });
      } catch (err) {
        if (err instanceof VdcError && err.code === 'ZSTOR_OBJECT_NOT_FOUND')
          fail(
            'S3_INVALID_PART',
            `a part of upload ${id} changed, or the upload was completed or aborted, while it was being completed: list its parts and complete it again`,
            err,
          );
        throw err;
      }
    });
  }

  /** Removes the upload and all its parts. @throws VdcError S3_NO_SUCH_UPLOAD */
  async abort(bucket: string, key: string, id: string): Promise<void> {
    await this.upload(bucket, key, id);
    await this.#o.serial(async () => {
      await this.#o.store.remove(uploadName(id));
      const names = [
        ...(await this.#o.store.list(md5Prefix(id))),
        ...(await this.#o.store.list(partPrefix(id))),
      ];
      for (const o of names)
        await this.#o.store.remove(o.name).catch((err: unknown) => {
          // a part removed by a racing abort is already gone: that is the goal
          if (!(err instanceof VdcError && err.code === 'ZSTOR_OBJECT_NOT_FOUND')) throw err;
        });
    });
  }
}
