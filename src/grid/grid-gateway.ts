import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import type { GridOperator } from './grid-operator.ts';
import { isGridProcess } from './grid-state.ts';
import { freePort, startHostService, stopRecorded } from './host-service.ts';
import type { GridContext } from './local-netns-grid.ts';
import { serviceEnv } from './netns-services.ts';

/*
 * The web gateway of root's grid: `vdc gateway serve` in the host's own namespace, so its
 * public HTTP listener can be on 127.0.0.1 (the browser's, reached as NAME.vdc.localhost)
 * while its tunnel listener is on the bridge address the nodes' namespaces reach. It runs
 * as the grid's farmer (grid-operator.ts), in the farmer's `demo` farm.
 */

/**
 * The gateway's domain. Chromium, Firefox and curl resolve every name under `localhost` to
 * loopback (RFC 6761 §6.3), so `demo.vdc.localhost` needs no DNS and no /etc/hosts entry.
 * Not bare `localhost`: `vdc gateway serve --domain` takes DNS names of two labels or more.
 */
export const GRID_DOMAIN = 'vdc.localhost';
export const HTTP_PORT = 8080;
const HTTPS_PORT = 8443;
export const TUNNEL_PORT = 7443;
const REGISTER_MS = 30_000;

export interface GatewayUp {
  /** its id on the ledger */
  id: number;
  domain: string;
  /** `http://127.0.0.1:PORT`: where NAME.vdc.localhost:PORT arrives */
  http: string;
  httpPort: number;
}

/**
 * Keeps the running gateway or starts it (`vdc gateway serve` as the farmer, which
 * registers the gateway on its first start); waits until the ledger has it.
 * @throws VdcError GRID_START_FAILED with the tail of its log
 */
export async function upGateway(
  ctx: GridContext,
  o: { ledgerUrl: string; ledgerKey: string; tunnelHost: string; operator: GridOperator },
): Promise<GatewayUp> {
  const dir = join(ctx.dir, 'gateway');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const op = o.operator;
  const view = op.client.follower;
  const known = ctx.state.services['gateway'];
  let record = known && isGridProcess(known) ? known : undefined;
  if (record && !record.address.startsWith('http://127.0.0.1:')) {
    await stopRecorded(record);
    record = undefined;
  }
  if (!record) {
    const httpPort = await freePort(HTTP_PORT);
    const httpsPort = await freePort(HTTPS_PORT === httpPort ? HTTPS_PORT + 1 : HTTPS_PORT);
    ctx.say(`starting the gateway on 127.0.0.1:${httpPort}…`);
    record = await startHostService({
      name: 'gateway',
      args: [
        'gateway',
        'serve',
        '--domain',
        GRID_DOMAIN,
        '--http',
        `127.0.0.1:${httpPort}`,
        '--https',
        `127.0.0.1:${httpsPort}`,
        '--tunnel',
        `${o.tunnelHost}:${TUNNEL_PORT}`,
        '--ledger',
        o.ledgerUrl,
        '--ledger-key',
        o.ledgerKey,
        '--key',
        join(dir, 'tunnel.key'),
        '--farm',
        String(op.farm),
        // Its tunnel address moves with the grid's /24 (or its key file may have been lost):
        // the registration follows (gateway.update), keeping the gateway's id and names.
        '--update-registration',
      ],
      env: serviceEnv(op.home, { VDC_PASSPHRASE: op.passphrase }),
      address: `http://127.0.0.1:${httpPort}`,
      probe: { tcp: { host: '127.0.0.1', port: httpPort } },
      log: join(dir, 'gateway.log'),
    });
    ctx.state.services['gateway'] = record;
    ctx.save();
  }
  const deadline = Date.now() + REGISTER_MS;
  let gateway = view.view.gatewayByDomain(GRID_DOMAIN);
  while (!gateway) {
    if (Date.now() > deadline || !isGridProcess(record))
      fail(
        'GRID_START_FAILED',
        `the gateway did not register ${GRID_DOMAIN} on the ledger: see ${record.log}`,
      );
    await sleep(200);
    await view.sync().catch(() => {}); // the ledger may be busy: the deadline decides
    gateway = view.view.gatewayByDomain(GRID_DOMAIN);
  }
  const httpPort = Number(new URL(record.address).port);
  return { id: gateway.id, domain: GRID_DOMAIN, http: record.address, httpPort };
}
