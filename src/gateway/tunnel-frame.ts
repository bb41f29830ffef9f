import type { Duplex } from 'node:stream';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import { parseJson } from '../core/strict-json.ts';

/*
 * The tunnel handshake's two messages (hello, answer) travel as one frame each: a 4-byte
 * big-endian length, then that many bytes of JSON (strict: no duplicate keys). Bytes that
 * arrive after the frame belong to HTTP/2 and are given back to the socket.
 */

export const MAX_FRAME_BYTES = 8192;
/** The frame carrying an http-mode name's certificate chain and key may be larger. */
export const MAX_CERT_FRAME_BYTES = 65_536;

/**
 * Writes one frame; resolves once it is handed to the kernel. HTTP/2 must not take the
 * socket over while a write of ours is still queued on it (node asserts on that).
 */
export function writeFrame(socket: Duplex, value: unknown): Promise<void> {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return new Promise((resolve) => {
    socket.write(Buffer.concat([head, body]), () => resolve());
  });
}

/**
 * Reads one frame. @throws VdcError TUNNEL_FRAME_MALFORMED (too large, not JSON, the peer
 * closed), TUNNEL_HANDSHAKE_TIMEOUT
 */
export function readFrame(
  socket: Duplex,
  timeoutMs: number,
  maxBytes: number = MAX_FRAME_BYTES,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err: VdcError | undefined, value?: unknown, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.pause();
      if (rest && rest.length > 0) socket.unshift(rest);
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const len = buf.readUInt32BE(0);
      if (len > maxBytes)
        return done(
          new VdcError(
            'TUNNEL_FRAME_MALFORMED',
            `a tunnel handshake frame is at most ${maxBytes} bytes, got a length of ${len}`,
          ),
        );
      if (buf.length < 4 + len) return;
      try {
        const value = parseJson(buf.subarray(4, 4 + len).toString('utf8'));
        done(undefined, value, buf.subarray(4 + len));
      } catch (cause) {
        done(
          new VdcError('TUNNEL_FRAME_MALFORMED', 'a tunnel handshake frame is not valid JSON', {
            cause,
          }),
        );
      }
    };
    const onClose = () =>
      done(
        new VdcError(
          'TUNNEL_FRAME_MALFORMED',
          'the peer closed the tunnel connection during the handshake',
        ),
      );
    const timer = setTimeout(
      () =>
        done(
          new VdcError(
            'TUNNEL_HANDSHAKE_TIMEOUT',
            `no tunnel handshake frame within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    socket.resume();
  });
}

/** Checks a frame is a plain object. @throws VdcError TUNNEL_FRAME_MALFORMED */
export function frameObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('TUNNEL_FRAME_MALFORMED', `the tunnel ${what} must be a JSON object`);
  return value as Record<string, unknown>;
}
