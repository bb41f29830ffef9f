import { createSecureServer, connect as h2connect } from 'node:http2';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as tlsServer } from 'node:tls';

/*
 * Bare relays for bench/gateway.ts: each connection piped to one of its own, nothing parsed.
 * Two of them in their own processes, a front one (plain TCP in) and an inner one (plain TCP
 * out to the backend), are the floor for any proxy made of two node processes, as the nginx
 * chain is for two nginx ones. The hop between them is plain TCP, TLS, or a CONNECT stream
 * of one HTTP/2 session over TLS (the tunnel's transport without the gateway around it), so
 * a run shows what each layer of the tunnel costs.
 */

export type RelayHop = 'tcp' | 'tls' | 'h2';
export type RelaySide = 'front' | 'inner';

type Duplex = NodeJS.ReadableStream & NodeJS.WritableStream & { destroy(): void };

function pipeBoth(a: Duplex, b: Duplex): void {
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}

function toLoopback(port: number): Socket {
  return connect(port, '127.0.0.1').setNoDelay(true);
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Starts one side of the chain, relaying to `target`; its port. */
export async function startNodeRelay(
  side: RelaySide,
  hop: RelayHop,
  target: number,
  tls: { key: Buffer; cert: Buffer },
): Promise<number> {
  if (side === 'front') {
    const session =
      hop === 'h2'
        ? h2connect(`https://127.0.0.1:${target}`, { rejectUnauthorized: false })
        : undefined;
    return listening(
      createServer((client) => {
        client.setNoDelay(true);
        const out: Duplex =
          hop === 'tcp'
            ? toLoopback(target)
            : hop === 'tls'
              ? tlsConnect({ port: target, host: '127.0.0.1', rejectUnauthorized: false })
              : session!.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${target}` });
        pipeBoth(client, out);
      }),
    );
  }
  if (hop === 'tcp')
    return listening(createServer((c) => pipeBoth(c.setNoDelay(true), toLoopback(target))));
  if (hop === 'tls')
    return listening(tlsServer(tls, (c) => pipeBoth(c.setNoDelay(true), toLoopback(target))));
  const server = createSecureServer(tls);
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    pipeBoth(stream, toLoopback(target));
  });
  return listening(server);
}
