import type { JsonValue } from '../core/canonical-json.ts';
import { asVdcError, VdcError } from '../core/errors.ts';
import { remoteError } from './relay-link.ts';

/*
 * Requests waiting for their response (docs/relay.md, client library): a response settles
 * a request only when its `replyTo` is the request's id AND it comes from the twin the
 * request went to. The response body is `{ok:true,result}` or `{ok:false,error:{code,message}}`.
 */

/** The body of a `response` envelope. */
export type ResponseBody =
  | { ok: true; result: JsonValue }
  | { ok: false; error: { code: string; message: string } };

/** The response body for a handler's result, or for the error it threw. */
export function responseBody(outcome: { result: JsonValue } | { error: unknown }): JsonValue {
  if ('result' in outcome) return { ok: true, result: outcome.result };
  const e = asVdcError(outcome.error);
  return { ok: false, error: { code: e.code, message: e.message } };
}

interface Pending {
  to: number;
  resolve: (body: JsonValue) => void;
  reject: (err: VdcError) => void;
  timer: NodeJS.Timeout;
}

export type MatchResult = 'settled' | 'wrong-sender' | 'none';

export class PendingRequests {
  readonly #pending = new Map<string, Pending>();

  /** Waits for the response to request `id` sent to twin `to`. */
  expect(id: string, to: number, timeoutMs: number): Promise<JsonValue> {
    return new Promise<JsonValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new VdcError(
            'RELAY_REQUEST_TIMEOUT',
            `twin ${to} did not answer request ${id} within ${timeoutMs} ms: it may be offline or busy; retry later`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(id, { to, resolve, reject, timer });
    });
  }

  /** Stops waiting for `id` without settling it (its send failed, which says more). */
  cancel(id: string): void {
    const p = this.#pending.get(id);
    if (!p) return;
    clearTimeout(p.timer);
    this.#pending.delete(id);
  }

  /** Settles the request a response answers, if it is one and comes from the right twin. */
  match(replyTo: string | null, from: number, body: JsonValue): MatchResult {
    const p = replyTo === null ? undefined : this.#pending.get(replyTo);
    if (!p) return 'none';
    if (p.to !== from) return 'wrong-sender';
    this.cancel(replyTo as string);
    settle(body, p);
    return 'settled';
  }

  failAll(err: VdcError): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }
}

function settle(body: JsonValue, p: Pending): void {
  const b = typeof body === 'object' && body !== null && !Array.isArray(body) ? body : undefined;
  if (b?.['ok'] === true && Object.hasOwn(b, 'result')) {
    p.resolve(b['result'] as JsonValue);
    return;
  }
  const e = b?.['error'];
  if (b?.['ok'] === false && typeof e === 'object' && e !== null && !Array.isArray(e)) {
    const { code, message } = e;
    if (typeof code === 'string' && typeof message === 'string') {
      p.reject(remoteError({ code, message }));
      return;
    }
  }
  p.reject(
    new VdcError(
      'ENVELOPE_MALFORMED',
      `the response from twin ${p.to} is neither {ok:true,result} nor {ok:false,error}`,
    ),
  );
}
