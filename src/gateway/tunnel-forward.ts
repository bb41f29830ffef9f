import { Agent, type AgentOptions, request as httpRequest } from 'node:http';
import { constants, type ServerHttp2Stream } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { headerObject, responseHeaders } from './forward-headers.ts';

/*
 * The backend's half of each tunnel stream: an HTTP request (http mode) goes to the local
 * target over a kept-alive connection; a CONNECT stream (tls-passthrough) becomes one
 * connection to it. The target is a TCP address or a unix socket — the node agent reaches a
 * container's port through a socket its forwarder holds inside the container's network.
 */

export interface HostPort {
  host: string;
  port: number;
}

export type TunnelTarget = HostPort | { path: string };

export interface StreamForwarder {
  serve(stream: ServerHttp2Stream, headers: Record<string, unknown>, raw: string[]): void;
  close(): void;
}

function forwardRequest(
  stream: ServerHttp2Stream,
  raw: string[],
  to: TunnelTarget,
  agent: Agent,
): void {
  const headers: string[] = [];
  let method = 'GET';
  let path = '/';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name === ':method') method = value;
    else if (name === ':path') path = value;
    else if (name === ':authority') headers.push('host', value);
    else if (!name.startsWith(':')) headers.push(name, value);
  }
  const req = httpRequest({
    ...('path' in to ? { socketPath: to.path } : { host: to.host, port: to.port }),
    method,
    path,
    headers: headers as unknown as Record<string, string>,
    agent,
  });
  req.on('error', () => {
    if (!stream.headersSent && !stream.destroyed)
      stream.respond({ [constants.HTTP2_HEADER_STATUS]: 502 }, { endStream: true });
    else stream.destroy();
  });
  let complete = false;
  req.on('response', (res) => {
    res.once('end', () => {
      complete = true;
    });
    if (stream.destroyed) return void res.destroy();
    stream.respond({
      [constants.HTTP2_HEADER_STATUS]: res.statusCode ?? 502,
      ...headerObject(responseHeaders(res.rawHeaders)),
    });
    res.pipe(stream);
    res.on('error', () => stream.destroy());
  });
  stream.pipe(req);
  stream.on('close', () => {
    // A stream reset by the gateway (client gone) frees the backend connection too.
    if (!complete) req.destroy();
  });
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

/** One per tunnel connection: its kept-alive connections to the target go when it does. */
export function streamForwarder(to: TunnelTarget): StreamForwarder {
  const agent = new Agent({ keepAlive: true, maxSockets: 256, noDelay: true } as AgentOptions);
  return {
    serve(stream, headers, raw) {
      stream.on('error', () => {});
      if (headers[constants.HTTP2_HEADER_METHOD] === 'CONNECT') connectStream(stream, to);
      else forwardRequest(stream, raw, to, agent);
    },
    close: () => agent.destroy(),
  };
}
