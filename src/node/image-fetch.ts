import { createHash } from 'node:crypto';
import { type FileHandle, open, rm } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';

/*
 * Downloads an image tarball to a file while hashing it, within a size cap and one
 * deadline for the whole transfer (redirects included). The server is not trusted: the
 * caller compares the digest before anything is unpacked, so the transport needs no
 * authentication of its own (http is fine, as is a redirect from https to http).
 */

export const MAX_REDIRECTS = 3;

export interface FetchProgress {
  received: number;
  /** the Content-Length the server announced, if it did */
  total: number | undefined;
}

export interface FetchOptions {
  maxBytes: number;
  timeoutMs: number;
  onProgress?: (p: FetchProgress) => void;
}

export interface Fetched {
  sha256: string;
  bytes: number;
}

/**
 * The URL of an image, checked: http or https, no credentials.
 * @throws VdcError IMAGE_REFERENCE_INVALID
 */
export function imageUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    return fail('IMAGE_REFERENCE_INVALID', `image url ${JSON.stringify(raw)} is not a URL`, cause);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail('IMAGE_REFERENCE_INVALID', `image url ${raw} must be http:// or https://`);
  if (url.username !== '' || url.password !== '')
    fail('IMAGE_REFERENCE_INVALID', `image url ${url.host}: credentials in the URL are refused`);
  return url;
}

function request(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
  const get = url.protocol === 'https:' ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { signal, headers: { 'accept-encoding': 'identity' } }, resolve);
    req.on('error', reject);
  });
}

/** Follows at most MAX_REDIRECTS redirects to a 200 answer. */
async function respond(start: URL, signal: AbortSignal): Promise<IncomingMessage> {
  let url = start;
  for (let hop = 0; ; hop++) {
    const res = await request(url, signal);
    const status = res.statusCode ?? 0;
    if (status === 200) return res;
    res.resume();
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(status) || location === undefined)
      fail('IMAGE_FETCH_FAILED', `${url} answered HTTP ${status}: check the image URL`);
    if (hop >= MAX_REDIRECTS)
      fail('IMAGE_FETCH_FAILED', `${start} redirects more than ${MAX_REDIRECTS} times`);
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      fail('IMAGE_FETCH_FAILED', `${url} redirects to ${next.protocol}, not http(s)`);
    url = next;
  }
}

function tooLarge(url: URL, max: number): never {
  return fail(
    'IMAGE_TOO_LARGE',
    `the image at ${url} is larger than the node's limit of ${max} bytes: use a smaller image`,
  );
}

/**
 * Downloads `url` into the new file `file` (created 0600), hashing it with SHA-256. On any
 * failure the file is removed.
 * @throws VdcError IMAGE_REFERENCE_INVALID, IMAGE_FETCH_FAILED, IMAGE_FETCH_TIMEOUT, IMAGE_TOO_LARGE
 */
export async function fetchToFile(raw: string, file: string, opts: FetchOptions): Promise<Fetched> {
  const url = imageUrl(raw);
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let fh: FileHandle | undefined;
  try {
    const res = await respond(url, signal);
    const announced = res.headers['content-length'];
    const total = announced === undefined ? undefined : Number(announced);
    if (total !== undefined && total > opts.maxBytes) {
      res.destroy();
      tooLarge(url, opts.maxBytes);
    }
    fh = await open(file, 'wx', 0o600);
    const hash = createHash('sha256');
    let received = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > opts.maxBytes) {
        res.destroy();
        tooLarge(url, opts.maxBytes);
      }
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off)).bytesWritten;
      opts.onProgress?.({ received, total });
    }
    if (total !== undefined && received !== total)
      fail('IMAGE_FETCH_FAILED', `${url} sent ${received} of ${total} bytes: retry`);
    await fh.close();
    fh = undefined;
    return { sha256: hash.digest('hex'), bytes: received };
  } catch (cause) {
    await fh?.close();
    await rm(file, { force: true });
    if (cause instanceof VdcError) throw cause;
    if (signal.aborted)
      fail(
        'IMAGE_FETCH_TIMEOUT',
        `fetching ${url} took longer than ${opts.timeoutMs} ms: retry, or use a closer server`,
        cause,
      );
    return fail(
      'IMAGE_FETCH_FAILED',
      `cannot fetch ${url}: ${(cause as Error).message}; check the URL and that the server runs`,
      cause,
    );
  }
}
