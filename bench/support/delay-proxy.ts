import { connect, createServer, type Socket } from 'node:net';

/*
 * A delaying TCP proxy, run as its own process by a benchmark: forwards each loopback port
 * to a target port, holding every piece of data `delayMs` in each direction, so a round trip
 * of 2 × delayMs can be measured as to machines elsewhere (this VM has no netem). Data stays
 * in order: equal delays fire in the order set.
 *
 *   node bench/support/delay-proxy.ts DELAY_MS LISTEN:TARGET [LISTEN:TARGET …]
 */

function forward(from: Socket, to: Socket, delayMs: number): void {
  from.on('data', (piece) => setTimeout(() => to.write(piece), delayMs));
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  from.on('error', () => to.destroy());
}

const [delay, ...pairs] = process.argv.slice(2);
const delayMs = Number(delay);
for (const pair of pairs) {
  const [listen, target] = pair.split(':').map(Number) as [number, number];
  createServer((client) => {
    const server = connect(target, '127.0.0.1');
    forward(client, server, delayMs);
    forward(server, client, delayMs);
  }).listen(listen, '127.0.0.1');
}
