import type { JsonValue } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { parseJson } from '../core/strict-json.ts';
import type { EnvelopeReceiver } from './envelope-receiver.ts';

/*
 * What a RelayClient hands its user for each envelope it accepted: the header fields that
 * matter and the payload parsed as strict JSON (docs/relay.md, client library).
 */

export interface ReceivedMessage {
  id: string;
  from: number;
  kind: string;
  replyTo: string | null;
  body: JsonValue;
}

export type RequestHandler = (msg: ReceivedMessage) => Promise<JsonValue> | JsonValue;

/**
 * Opens one envelope from the wire through `receiver` and parses its payload.
 * @throws VdcError the receiver's refusals (EnvelopeReceiver.open), ENVELOPE_MALFORMED when
 * the payload is not strict JSON
 */
export async function openMessage(
  receiver: EnvelopeReceiver,
  raw: unknown,
): Promise<{ msg: ReceivedMessage; expires: number }> {
  const { envelope, payload } = await receiver.open(raw);
  let body: JsonValue;
  try {
    body = parseJson(payload);
  } catch (cause) {
    throw new VdcError(
      'ENVELOPE_MALFORMED',
      `envelope ${envelope.id}: its payload is not strict JSON`,
      { cause },
    );
  }
  const { id, from, kind, replyTo, expires } = envelope;
  return { msg: { id, from, kind, replyTo, body }, expires };
}
