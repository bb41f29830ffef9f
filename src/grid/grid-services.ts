import { join } from 'node:path';
import { GRID_DOMAIN } from './grid-gateway.ts';
import { ledgerServeArgs } from './netns-services.ts';

/*
 * The services of the loopback grid (`vdc up` without root): the ledger and the relay, each
 * a `vdc` subcommand run as its own process on 127.0.0.1. Root's grid runs these in its
 * core namespace instead, with nodes and a gateway (local-netns-grid.ts).
 */

export interface GridService {
  name: string;
  /** the port it prefers; another free one is taken when it is busy */
  preferredPort: number;
  /** `vdc` arguments to run it, given the grid folder, its port and the addresses of the services before it */
  args(gridDir: string, port: number, addresses: Readonly<Record<string, string>>): string[];
  /** the address to show and to probe */
  address(port: number): string;
  /** how readiness is checked */
  probe: 'http' | 'tcp';
}

export const GRID_SERVICES: readonly GridService[] = [
  {
    name: 'ledger',
    preferredPort: 8330,
    args: (dir, port) =>
      ledgerServeArgs({
        listen: `127.0.0.1:${port}`,
        db: join(dir, 'ledger', 'ledger.db'),
        keyFile: join(dir, 'ledger', 'ledger.key'),
      }),
    address: (port) => `http://127.0.0.1:${port}`,
    probe: 'http',
  },
  {
    name: 'relay',
    preferredPort: 8331,
    args: (dir, port, addresses) => [
      'relay',
      'serve',
      '--listen',
      `127.0.0.1:${port}`,
      '--ledger',
      addresses['ledger']!,
      '--data',
      join(dir, 'relay'),
    ],
    address: (port) => `ws://127.0.0.1:${port}`,
    probe: 'tcp',
  },
];

/** One line for people per service: what it is and how to use it. */
export function serviceHint(name: string, address: string): string {
  if (name === 'ledger') return `open ${address} in a browser; export VDC_LEDGER=${address}`;
  if (name === 'relay') return 'twins connect out here; envelopes are end-to-end encrypted';
  if (name === 'images') return 'the demo image, served to the nodes';
  if (name === 'gateway') return `web gateway: NAME.${GRID_DOMAIN} served through tunnels`;
  if (/^node[0-9]+$/.test(name)) return 'node agent; no listener, reached through the relay';
  return '';
}
