import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:net';

/**
 * A bare TCP relay: each connection piped to one of its own to `targetPort` on loopback,
 * nothing parsed. Two of them in their own processes are the floor for any proxy made of
 * two node processes (bench/gateway.ts), as the nginx chain is for two nginx ones.
 */
export async function startNodeRelay(targetPort: number): Promise<number> {
  const server = createServer((client) => {
    const target = connect(targetPort, '127.0.0.1');
    client.setNoDelay(true);
    target.setNoDelay(true);
    client.on('error', () => target.destroy());
    target.on('error', () => client.destroy());
    client.pipe(target);
    target.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}
