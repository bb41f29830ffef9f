import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/*
 * The public listener's refusals: a clean status, a one-line reason, `Connection: close`.
 * Once an answer has begun, nothing clean is left to say: the connection is closed.
 */

/** Refuses with `status` and `why`, or closes the connection when an answer has begun. */
export function refuse(
  res: ServerResponse,
  status: number,
  why: string,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.destroy();
  const body = `${status} ${STATUS_CODES[status]}: ${why}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
    ...extra,
  });
  res.end(body);
}

/** The same before node made a response: an upgrade request, a client error. */
export function rawSocketRefuse(
  socket: Duplex,
  status: number,
  extra: Record<string, string> = {},
): void {
  let more = '';
  for (const [k, v] of Object.entries(extra)) more += `${k}: ${v}\r\n`;
  if (socket.writable)
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n${more}\r\n`,
    );
  socket.destroy();
}
