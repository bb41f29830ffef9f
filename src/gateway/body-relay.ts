import type { Readable, Writable } from 'node:stream';

/*
 * Relays a response body with as little per-request machinery as possible (the hot path of
 * http mode, on both sides of a tunnel). Most answers are small and arrive in one read:
 * what arrives before the next turn of the event loop is collected and, when the body has
 * ended by then, sent with the head in one end() call (one DATA frame, one socket write,
 * no pipe). A body still flowing after that turn streams on with backpressure, so a slow
 * or endless answer (server-sent events, long polls) is never held back longer than one
 * loop turn.
 */

/**
 * `head(ended)` is called once, before the first byte is written; `ended` tells that the
 * whole body is already here and is passed to `dst.end()` right after (empty: nothing).
 */
export function relayBody(src: Readable, dst: Writable, head: (ended: boolean) => void): void {
  let held: Buffer[] | undefined = [];
  let ended = false;
  const write = (chunk: Buffer) => {
    if (!dst.write(chunk)) {
      src.pause();
      dst.once('drain', () => src.resume());
    }
  };
  const flush = () => {
    const chunks = held;
    if (!chunks || dst.destroyed) return;
    held = undefined;
    head(ended);
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (ended) dst.end(body.length > 0 ? body : undefined);
    else if (body.length > 0) write(body);
  };
  src.on('data', (chunk: Buffer) => {
    if (held) held.push(chunk);
    else write(chunk);
  });
  src.once('end', () => {
    ended = true;
    if (held) flush();
    else dst.end();
  });
  setImmediate(flush);
}
