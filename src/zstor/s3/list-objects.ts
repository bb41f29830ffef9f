import { fail } from '../../core/assert.ts';

/*
 * ListObjects (v1: marker) and ListObjectsV2 (continuation token, start-after) over the
 * sorted keys of one bucket: prefix filter, delimiter roll-up into CommonPrefixes (each
 * counts toward max-keys, as in S3), and a page of at most max-keys. The continuation
 * token is the last key or prefix returned, base64url-encoded: opaque to clients, stable
 * across restarts, and needing no server state.
 */

export interface ListEntry {
  readonly key: string;
  readonly size: number;
  readonly lastModified: number;
  readonly version: number;
}

export interface ListRequest {
  readonly prefix: string;
  readonly delimiter: string;
  readonly maxKeys: number;
  /** List keys strictly after this one (marker, start-after or decoded token). */
  readonly after: string;
}

export interface ListPage {
  readonly contents: ListEntry[];
  readonly commonPrefixes: string[];
  readonly truncated: boolean;
  /** The last key or common prefix returned, when truncated. */
  readonly next: string | undefined;
}

export const MAX_KEYS = 1000;

/** @throws VdcError S3_INVALID_ARGUMENT */
export function parseMaxKeys(value: string | undefined): number {
  if (value === undefined) return MAX_KEYS;
  if (!/^[0-9]{1,9}$/.test(value))
    fail(
      'S3_INVALID_ARGUMENT',
      `max-keys must be a non-negative integer, got ${JSON.stringify(value.slice(0, 20))}`,
    );
  return Math.min(Number(value), MAX_KEYS);
}

export function encodeToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** @throws VdcError S3_INVALID_ARGUMENT */
export function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(token))
    fail('S3_INVALID_ARGUMENT', 'the continuation token is not one this server gave out');
  return Buffer.from(token, 'base64url').toString('utf8');
}

/** One page of a listing; `sorted` holds every key of the bucket under `prefix`, in order. */
export function listPage(sorted: readonly ListEntry[], req: ListRequest): ListPage {
  const contents: ListEntry[] = [];
  const commonPrefixes: string[] = [];
  let last: string | undefined;
  let truncated = false;
  for (const entry of sorted) {
    if (!entry.key.startsWith(req.prefix) || entry.key <= req.after) continue;
    let prefix: string | undefined;
    if (req.delimiter !== '') {
      const at = entry.key.indexOf(req.delimiter, req.prefix.length);
      if (at >= 0) prefix = entry.key.slice(0, at + req.delimiter.length);
    }
    if (prefix !== undefined && prefix === commonPrefixes[commonPrefixes.length - 1]) continue;
    // a prefix already handed out on a previous page (the token is that prefix) is skipped whole
    if (prefix !== undefined && req.after.startsWith(prefix)) continue;
    if (contents.length + commonPrefixes.length >= req.maxKeys) {
      truncated = true;
      break;
    }
    if (prefix !== undefined) {
      commonPrefixes.push(prefix);
      last = prefix;
    } else {
      contents.push(entry);
      last = entry.key;
    }
  }
  return { contents, commonPrefixes, truncated, next: truncated ? last : undefined };
}
