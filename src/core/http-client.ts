import { fail } from './assert.ts';
import type { JsonValue } from './canonical-json.ts';
import { ERROR_CODES, type ErrorCode } from './error-codes.ts';
import { VdcError } from './errors.ts';
import { parseJson } from './strict-json.ts';

/*
 * The client half of http-json.ts: JSON requests with a timeout and a size bound, and the
 * server's `{error: {code, message}}` turned back into the VdcError it was. The answer is
 * still only the server's word: callers that make security decisions verify it.
 */

export interface HttpJsonOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  timeoutMs?: number;
  maxBytes?: number;
}

/**
 * @throws VdcError PEER_UNREACHABLE, PEER_TIMEOUT, PEER_PROTOCOL, or the server's own code
 */
export async function httpJson(url: string, opts: HttpJsonOptions = {}): Promise<JsonValue> {
  const {
    method = opts.body === undefined ? 'GET' : 'POST',
    timeoutMs = 10_000,
    maxBytes = 64 * 1024 * 1024,
  } = opts;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      signal: AbortSignal.timeout(timeoutMs),
      ...(opts.body === undefined
        ? {}
        : { body: JSON.stringify(opts.body), headers: { 'content-type': 'application/json' } }),
    });
  } catch (cause) {
    if ((cause as Error).name === 'TimeoutError')
      fail(
        'PEER_TIMEOUT',
        `${url} did not answer within ${timeoutMs} ms: check the server, then retry`,
        cause,
      );
    fail(
      'PEER_UNREACHABLE',
      `cannot reach ${url}: ${(cause as Error).message}; check the address and that the server runs`,
      cause,
    );
  }
  const bytes = Buffer.from(await readBounded(res, maxBytes, url));
  let value: JsonValue;
  try {
    value = parseJson(bytes);
  } catch (cause) {
    fail('PEER_PROTOCOL', `${url} answered ${res.status} with a body that is not JSON`, cause);
  }
  if (!res.ok) throw remoteError(url, res.status, value);
  return value;
}

async function readBounded(res: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes)
    fail(
      'PEER_PROTOCOL',
      `${url} answered with ${declared} bytes, more than the ${maxBytes} expected`,
    );
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > maxBytes)
        fail('PEER_PROTOCOL', `${url} answered with more than ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

function remoteError(url: string, status: number, value: JsonValue): VdcError {
  const err =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? value['error']
      : undefined;
  if (typeof err === 'object' && err !== null && !Array.isArray(err)) {
    const code = err['code'];
    const message = err['message'];
    if (
      typeof code === 'string' &&
      Object.hasOwn(ERROR_CODES, code) &&
      typeof message === 'string'
    ) {
      // The server's text reaches a terminal: no control characters (escape sequences).
      return new VdcError(
        code as ErrorCode,
        message.slice(0, 2000).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' '),
      );
    }
  }
  return new VdcError('PEER_PROTOCOL', `${url} answered ${status} without a VDC error body`);
}
