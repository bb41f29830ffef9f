import assert from 'node:assert/strict';
import { type AddressInfo, createServer, Socket } from 'node:net';
import { test } from 'node:test';
import { parseEnvelope } from '../../src/relay/envelope.ts';
import { decryptEnvelope } from '../../src/relay/envelope-crypto.ts';
import {
  addTwin,
  connectTwin,
  newDirectory,
  startTestRelay,
} from '../../src/relay/relay-test-kit.ts';

/*
 * P3: relay messages are end-to-end encrypted. Every byte between the twins and the relay
 * passes through a TCP tap; the test unmasks the WebSocket frames (RFC 6455 §5.2) and looks
 * for the secret in every form it could take. It is found only at the recipient.
 */

/** Payloads of the WebSocket frames in one direction of a connection. */
function wsPayloads(stream: Buffer): Buffer[] {
  // Skip the HTTP upgrade exchange.
  let pos = stream.indexOf('\r\n\r\n') + 4;
  const out: Buffer[] = [];
  while (pos + 2 <= stream.length) {
    const b1 = stream[pos + 1]!;
    let len = b1 & 0x7f;
    let p = pos + 2;
    if (len === 126) {
      len = stream.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(stream.readBigUInt64BE(p));
      p += 8;
    }
    const mask = b1 & 0x80 ? stream.subarray(p, p + 4) : undefined;
    if (mask) p += 4;
    if (p + len > stream.length) break;
    const payload = Buffer.from(stream.subarray(p, p + len));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    out.push(payload);
    pos = p + len;
  }
  return out;
}

async function tap(t: { after: (fn: () => unknown) => void }) {
  const streams: { up: Buffer[]; down: Buffer[] }[] = [];
  let target = 0;
  const server = createServer((client: Socket) => {
    const s = { up: [] as Buffer[], down: [] as Buffer[] };
    streams.push(s);
    const upstream = new Socket();
    upstream.connect(target, '127.0.0.1');
    client.on('data', (d: Buffer) => {
      s.up.push(d);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      s.down.push(d);
      client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setTarget: (port: number) => {
      target = port;
    },
    frames: () =>
      streams.flatMap((s) => [
        ...wsPayloads(Buffer.concat(s.up)),
        ...wsPayloads(Buffer.concat(s.down)),
      ]),
  };
}

test('neither the relay nor an eavesdropper on its connections sees a payload', async (t) => {
  const secret = 'the-launch-code-is-4471-9920';
  const dir = newDirectory();
  const wire = await tap(t);
  const relay = await startTestRelay(t, dir, { publicUrl: wire.url });
  wire.setTarget(relay.port);
  const alice = addTwin(dir, 1);
  const bob = addTwin(dir, 2);
  const carol = addTwin(dir, 3);
  const ca = await connectTwin(t, wire.url, alice, dir);
  const cb = await connectTwin(t, wire.url, bob, dir);
  cb.handle((m) => ({ got: m.body }));
  const reply = await ca.request(2, { secret });
  assert.deepEqual(reply, { got: { secret } }, 'the recipient read the secret');

  const frames = wire.frames();
  const text = frames.map((f) => f.toString('utf8'));
  const envelopes = text.filter((f) => f.includes('"ciphertext"'));
  assert.ok(envelopes.length >= 4, 'the tap saw the request and the response, in and out');
  const forms = [
    secret,
    Buffer.from(secret).toString('base64').slice(0, 24),
    Buffer.from(secret).toString('hex'),
    Buffer.from(JSON.stringify({ secret })).toString('base64').slice(4, 28),
  ];
  for (const f of frames)
    for (const form of forms) assert.equal(f.includes(form), false, `found ${form} on the wire`);

  // A twin other than the recipient (such as the relay operator's own) cannot open it.
  const seen = JSON.parse(envelopes.find((e) => e.includes('"deliver"'))!) as { envelope: unknown };
  const envelope = parseEnvelope(seen.envelope);
  assert.throws(() => decryptEnvelope(envelope, carol.identity), {
    code: 'ENVELOPE_DECRYPT_FAILED',
  });
});
