import { constants, type ServerHttp2Stream } from 'node:http2';
import { connect as netConnect } from 'node:net';

/*
 * The backend's half of each tunnel stream: every stream is a CONNECT stream (RFC 9113
 * §8.5) that becomes one connection to the local target, and bytes are relayed both ways —
 * TLS for tls-passthrough, HTTP/1.1 that the gateway writes and reads for http mode (the
 * gateway keeps those streams alive across requests), WebSocket after an upgrade. The
 * tunnel client does no HTTP work. The target is a TCP address or a unix socket — the node
 * agent reaches a container's port through a socket its forwarder holds inside the
 * container's network.
 */

export interface HostPort {
  host: string;
  port: number;
}

export type TunnelTarget = HostPort | { path: string };

export interface StreamForwarder {
  serve(stream: ServerHttp2Stream, headers: Record<string, unknown>): void;
  close(): void;
}

function connectStream(stream: ServerHttp2Stream, to: TunnelTarget): void {
  const sock = netConnect(to);
  if (!('path' in to)) sock.setNoDelay(true);
  sock.once('connect', () => {
    if (stream.destroyed) return void sock.destroy();
    stream.respond({ [constants.HTTP2_HEADER_STATUS]: 200 });
    stream.pipe(sock);
    sock.pipe(stream);
  });
  sock.on('error', () => {
    if (!stream.headersSent)
      stream.respond({ [constants.HTTP2_HEADER_STATUS]: 502 }, { endStream: true });
    else stream.close(constants.NGHTTP2_CONNECT_ERROR);
  });
  sock.on('close', () => {
    if (!stream.destroyed) stream.end();
  });
  stream.on('close', () => sock.destroy());
}

/** One per tunnel connection: its target connections go when it does. */
export function streamForwarder(to: TunnelTarget): StreamForwarder {
  const open = new Set<ServerHttp2Stream>();
  return {
    serve(stream, headers) {
      stream.on('error', () => {});
      if (headers[constants.HTTP2_HEADER_METHOD] !== 'CONNECT')
        return void stream.respond({ [constants.HTTP2_HEADER_STATUS]: 405 }, { endStream: true });
      open.add(stream);
      stream.once('close', () => open.delete(stream));
      connectStream(stream, to);
    },
    close() {
      for (const stream of open) stream.destroy();
    },
  };
}
