import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { parseJson } from '../core/strict-json.ts';
import type { Envelope } from './envelope.ts';

/*
 * The relay protocol's frames (docs/relay.md): one JSON object per WebSocket text message,
 * parsed strictly. Binary messages, unknown types and unknown fields are refused.
 */

/** Largest WebSocket message either side accepts; an envelope at its limit fits. */
export const MAX_FRAME_BYTES = 256 * 1024;

export type RelayRole = 'twin' | 'relay';
export type SendStatus = 'delivered' | 'queued' | 'forwarded';

export interface ChallengeFrame {
  type: 'challenge';
  /** The relay's public URL, which the login must name. */
  relay: string;
  /** The ledger the relay's twin directory follows. */
  ledger: string;
  /** 32 random bytes, hex, used once. */
  nonce: string;
}
export interface AuthFrame {
  type: 'auth';
  twin: number;
  role: RelayRole;
  /** For role `relay`: the connecting relay's own public URL. */
  url: string | null;
  signature: string;
}
export interface ReadyFrame {
  type: 'ready';
  twin: number;
}
export interface SendFrame {
  type: 'send';
  envelope: unknown;
}
export interface AcceptedFrame {
  type: 'accepted';
  id: string;
  status: SendStatus;
}
export interface DeliverFrame {
  type: 'deliver';
  envelope: unknown;
}
export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
  /** The envelope id the error answers, when it answers one. */
  id: string | null;
}

export type ClientFrame = AuthFrame | SendFrame;
export type ServerFrame = ChallengeFrame | ReadyFrame | AcceptedFrame | DeliverFrame | ErrorFrame;

const FIELDS: Record<string, readonly string[]> = {
  challenge: ['relay', 'ledger', 'nonce'],
  auth: ['twin', 'role', 'url', 'signature'],
  ready: ['twin'],
  send: ['envelope'],
  accepted: ['id', 'status'],
  deliver: ['envelope'],
  error: ['code', 'message', 'id'],
};

function malformed(what: string): never {
  fail('RELAY_FRAME_MALFORMED', `relay frame refused: ${what}`);
}

function str(v: unknown, field: string, max = 512): string {
  if (typeof v !== 'string' || v.length > max)
    malformed(`'${field}' must be a string of at most ${max} characters`);
  return v;
}

/** Parses one WebSocket message into a frame of one of the `allowed` types. */
export function parseFrame(
  data: Buffer | string,
  isBinary: boolean,
  allowed: readonly string[],
): JsonValue & { type: string } {
  if (isBinary) malformed('binary messages are not part of the protocol; send JSON text');
  let value: JsonValue;
  try {
    value = parseJson(data);
  } catch (cause) {
    throw new VdcError(
      'RELAY_FRAME_MALFORMED',
      `relay frame refused: not strict JSON (${(cause as Error).message})`,
      { cause },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    malformed('a frame is a JSON object');
  const type = value['type'];
  if (typeof type !== 'string' || !allowed.includes(type))
    malformed(`type ${JSON.stringify(type)} is not one of ${allowed.join(', ')}`);
  const fields = FIELDS[type] ?? [];
  for (const key of Object.keys(value))
    if (key !== 'type' && !fields.includes(key))
      malformed(`unknown field '${key}' in a ${type} frame`);
  for (const key of fields)
    if (!Object.hasOwn(value, key)) malformed(`a ${type} frame lacks '${key}'`);
  return value as JsonValue & { type: string };
}

/** A frame from a twin or relay connecting to this relay. */
export function parseClientFrame(data: Buffer | string, isBinary: boolean): ClientFrame {
  const f = parseFrame(data, isBinary, ['auth', 'send']) as Record<string, unknown>;
  if (f['type'] === 'send') return { type: 'send', envelope: f['envelope'] };
  const twin = f['twin'];
  if (typeof twin !== 'number' || !Number.isSafeInteger(twin) || twin < 0)
    malformed(`'twin' must be a twin id`);
  const role = f['role'];
  if (role !== 'twin' && role !== 'relay') malformed(`'role' must be 'twin' or 'relay'`);
  const url = f['url'] === null ? null : str(f['url'], 'url');
  const signature = str(f['signature'], 'signature', 128);
  if (!/^[0-9a-f]{128}$/.test(signature))
    malformed(`'signature' must be 64 bytes of lowercase hex`);
  return { type: 'auth', twin, role, url, signature };
}

/** A frame from the relay, as its client reads it. */
export function parseServerFrame(data: Buffer | string, isBinary: boolean): ServerFrame {
  const f = parseFrame(data, isBinary, [
    'challenge',
    'ready',
    'accepted',
    'deliver',
    'error',
  ]) as Record<string, unknown>;
  switch (f['type']) {
    case 'challenge':
      return {
        type: 'challenge',
        relay: str(f['relay'], 'relay'),
        ledger: str(f['ledger'], 'ledger'),
        nonce: str(f['nonce'], 'nonce', 64),
      };
    case 'ready': {
      const twin = f['twin'];
      if (typeof twin !== 'number' || !Number.isSafeInteger(twin))
        malformed(`'twin' must be a twin id`);
      return { type: 'ready', twin };
    }
    case 'accepted': {
      const status = f['status'];
      if (status !== 'delivered' && status !== 'queued' && status !== 'forwarded')
        malformed(`unknown status ${JSON.stringify(status)}`);
      return { type: 'accepted', id: str(f['id'], 'id', 64), status };
    }
    case 'deliver':
      return { type: 'deliver', envelope: f['envelope'] };
    default:
      return {
        type: 'error',
        code: str(f['code'], 'code', 64),
        message: str(f['message'], 'message', 4096),
        id: f['id'] === null ? null : str(f['id'], 'id', 64),
      };
  }
}

/** The frames this relay sends. */
export function encodeFrame(
  frame: ServerFrame | ClientFrame | { type: 'send'; envelope: Envelope },
): string {
  return JSON.stringify(frame);
}

export function errorFrame(err: VdcError, id: string | null = null): ErrorFrame {
  return { type: 'error', code: err.code, message: err.message, id };
}
