import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { TUNNEL_ALPN } from '../../src/gateway/tunnel-server.ts';

/**
 * A listener that looks like a gateway's tunnel port — TLS 1.3 with `key`/`cert` and the
 * tunnel ALPN — and keeps every byte a backend sends it, answering nothing: to prove what a
 * backend did or did not send to a key (an impostor's, a moved gateway's). Closed after the test.
 */
export async function startTunnelSink(
  t: { after: (fn: () => unknown) => void },
  tls: { key: Buffer; cert: Buffer },
): Promise<{ at: { host: string; port: number }; received: () => Buffer }> {
  let received = Buffer.alloc(0);
  const server = createServer({ ...tls, ALPNProtocols: [TUNNEL_ALPN] }, (s) => {
    s.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return {
    at: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
    received: () => received,
  };
}
