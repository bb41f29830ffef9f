import { join } from 'node:path';

/*
 * The services of the local grid, each a `vdc` subcommand run as its own process. The grid
 * grows here as programs land (relay, nodes in namespaces, gateway, agent).
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
  /** one line for people: what it is and how to use it */
  hint(address: string): string;
}

export const GRID_SERVICES: readonly GridService[] = [
  {
    name: 'ledger',
    preferredPort: 8330,
    args: (dir, port) => [
      'ledger',
      'serve',
      '--store',
      `sqlite:${join(dir, 'ledger', 'ledger.db')}`,
      '--listen',
      `127.0.0.1:${port}`,
      '--key',
      join(dir, 'ledger', 'ledger.key'),
    ],
    address: (port) => `http://127.0.0.1:${port}`,
    probe: 'http',
    hint: (address) => `open ${address} in a browser; export VDC_LEDGER=${address}`,
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
    hint: () => 'twins connect out here; envelopes are end-to-end encrypted',
  },
];
