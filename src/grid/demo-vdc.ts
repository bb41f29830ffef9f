import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import type { Identity } from '../identity/index.ts';
import type { Contract, LedgerClient } from '../ledger/index.ts';
import { openForOwner } from '../node/index.ts';
import type { GatewayUp } from './grid-gateway.ts';
import { VDC_BIN } from './grid-node.ts';
import type { DemoRecord } from './grid-state.ts';
import type { GridContext, GridNodeUp } from './local-netns-grid.ts';

/*
 * The demo VDC `vdc up` applies as the user, through the same commands a user types —
 * `vdc name register` and `vdc deploy`, run as the user (their $VDC_HOME and passphrase) —
 * so it is signed, put on the ledger and sent over the relay like any other deployment:
 * a busybox httpd container serving a page that names its node, and a `gateway` workload
 * exposing it as demo.vdc.localhost on the grid's gateway. Applied once: the record in
 * grid.json and the contract's state on the ledger tell a second `up` to leave it be.
 */

export const DEMO_NAME = 'demo';
const COMMAND_MS = 240_000;
const PAGE_MS = 60_000;

/** The page the demo container serves; it names the node, so a person sees where it runs. */
export function demoPage(node: GridNodeUp): string {
  return [
    '<!doctype html>',
    '<meta charset="utf-8"><title>VDC demo</title>',
    '<h1>VDC demo</h1>',
    `<p>This page is served by node ${node.id} (${node.label} of the local grid, ${node.address}),`,
    'from a container only its owner could deploy, reached through the web gateway by a',
    'tunnel the node dialed out.</p>',
    '',
  ].join('\n');
}

/** The deploy file of the demo: the container and its gateway workload. */
export function demoDeployFile(o: {
  image: { url: string; sha256: string };
  gateway: number;
  node: GridNodeUp;
}): object {
  // No single quote in the page: the shell line quotes it with single quotes.
  const page = demoPage(o.node);
  return {
    workloads: [
      {
        name: 'web',
        kind: 'container',
        spec: {
          image: o.image,
          resources: { cpu: 250, memory: 64 * 2 ** 20 },
          entrypoint: [
            '/bin/sh',
            '-c',
            `mkdir -p /srv && printf '%s' '${page}' > /srv/index.html && exec httpd -f -p 127.0.0.1:8080 -h /srv`,
          ],
        },
      },
      {
        name: 'web-gw',
        kind: 'gateway',
        spec: { name: DEMO_NAME, gateway: o.gateway, workload: 'web', port: 8080 },
      },
    ],
  };
}

interface VdcResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runAsUser(args: string[], env: Record<string, string>): Promise<VdcResult> {
  return new Promise((resolve) => {
    execFile(
      VDC_BIN,
      args,
      { env, timeout: COMMAND_MS, maxBuffer: 16 * 2 ** 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function lastError(r: VdcResult): string {
  const lines = r.stderr.trim().split('\n');
  return lines.filter((l) => l.startsWith('error ')).at(-1) ?? lines.at(-1) ?? `exit ${r.code}`;
}

/** One GET through the gateway with `Host: NAME.DOMAIN:PORT`: status and body (status 0 when it cannot connect). */
export function getThroughGateway(
  gateway: Pick<GatewayUp, 'httpPort' | 'domain'>,
  name: string,
  path = '/',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: gateway.httpPort,
        path,
        headers: { host: `${name}.${gateway.domain}:${gateway.httpPort}` },
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ status: 0, body }));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

function active(client: LedgerClient, contract: number): boolean {
  const c = client.follower.view.contract(contract);
  return c !== undefined && c.cancelledAt === null && c.expiresAt > Date.now();
}

/**
 * An active contract of the user on one of the grid's nodes holding the demo (its `gateway`
 * workload exposes DEMO_NAME on `gateway`), found in the user's verified view and read from
 * the owner's copy the contract carries: a deployment an earlier `up` made but did not get
 * to record (it crashed between `vdc deploy` and writing grid.json).
 */
export function findDemoContract(
  client: LedgerClient,
  o: { identity: Identity; twin: number; gateway: number; nodes: readonly number[] },
): Contract | undefined {
  const view = client.follower.view;
  for (const c of view.contractsOfTwin(o.twin)) {
    if (!o.nodes.includes(c.node) || !active(client, c.id)) continue;
    try {
      const copy = openForOwner(c.deployment, o.identity, c);
      const workloads = copy.deployment.workloads;
      const exposed = workloads.some(
        (w) =>
          w.kind === 'gateway' && w.spec['name'] === DEMO_NAME && w.spec['gateway'] === o.gateway,
      );
      if (exposed && workloads.some((w) => w.name === 'web' && w.kind === 'container')) return c;
    } catch {
      // Not a copy this identity opens: not the demo.
    }
  }
  return undefined;
}

/**
 * Registers the demo name and deploys the demo as the user, unless the grid's record (or,
 * lacking it, the ledger) says it is applied and its contract is still active; then waits
 * until the page answers through the gateway.
 * @throws VdcError GRID_DEMO_FAILED with the command's own error (its code and message)
 */
export async function applyDemo(
  ctx: GridContext,
  o: {
    client: LedgerClient;
    /** the user: their copy of each contract tells whether it is the demo */
    identity: Identity;
    twin: number;
    /** the user's `vdc` environment: VDC_HOME and VDC_PASSPHRASE */
    userEnv: Record<string, string>;
    ledgerUrl: string;
    ledgerKey: string;
    relayUrl: string;
    gateway: GatewayUp;
    nodes: GridNodeUp[];
    image: { url: string; sha256: string };
  },
): Promise<DemoRecord> {
  const url = `http://${DEMO_NAME}.${o.gateway.domain}:${o.gateway.httpPort}/`;
  await o.client.follower.sync();
  const known = ctx.state.demo;
  if (known && known.gateway === o.gateway.id && active(o.client, known.contract)) {
    const record = { ...known, url };
    ctx.state.demo = record;
    ctx.save();
    await waitForPage(o.gateway, record);
    return record;
  }
  const found = findDemoContract(o.client, {
    identity: o.identity,
    twin: o.twin,
    gateway: o.gateway.id,
    nodes: o.nodes.map((n) => n.id),
  });
  if (found) {
    ctx.say(
      `the demo is on the ledger already (contract ${found.id}, node ${found.node}): keeping it`,
    );
    const record: DemoRecord = {
      name: DEMO_NAME,
      gateway: o.gateway.id,
      node: found.node,
      contract: found.id,
      url,
    };
    ctx.state.demo = record;
    ctx.save();
    await waitForPage(o.gateway, record);
    return record;
  }
  const node = o.nodes[0]!;
  const ledgerFlags = ['--ledger', o.ledgerUrl, '--ledger-key', o.ledgerKey];
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...o.userEnv };
  const name = o.client.follower.view.name(DEMO_NAME);
  if (name && name.twin !== o.twin)
    fail(
      'GRID_DEMO_FAILED',
      `the name ${DEMO_NAME} belongs to twin ${name.twin} on this ledger, not to you (twin ${o.twin}): 'vdc down --purge' starts a fresh grid`,
    );
  if (!name) {
    ctx.say(`registering the name ${DEMO_NAME} on gateway ${o.gateway.id} (vdc name register)…`);
    const r = await runAsUser(
      [
        'name',
        'register',
        DEMO_NAME,
        '--gateway',
        String(o.gateway.id),
        '--mode',
        'http',
        ...o.nodes.flatMap((n) => ['--node', String(n.id)]),
        ...ledgerFlags,
      ],
      env,
    );
    if (r.code !== 0)
      fail('GRID_DEMO_FAILED', `'vdc name register ${DEMO_NAME}' failed: ${lastError(r)}`);
  }
  const folder = join(ctx.dir, 'demo');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const file = join(folder, 'demo.json');
  writeFileSync(
    file,
    `${JSON.stringify(demoDeployFile({ image: o.image, gateway: o.gateway.id, node }), null, 2)}\n`,
    { mode: 0o600 },
  );
  ctx.say(`deploying the demo VDC to node ${node.id} (vdc deploy ${file})…`);
  const r = await runAsUser(
    ['deploy', '--node', String(node.id), '--relay', o.relayUrl, '--json', ...ledgerFlags, file],
    env,
  );
  if (r.code !== 0) fail('GRID_DEMO_FAILED', `'vdc deploy ${file}' failed: ${lastError(r)}`);
  const result = JSON.parse(r.stdout) as { contract: number };
  const record: DemoRecord = {
    name: DEMO_NAME,
    gateway: o.gateway.id,
    node: node.id,
    contract: result.contract,
    url,
  };
  ctx.state.demo = record;
  ctx.save();
  ctx.say(`deployed: contract ${record.contract}; waiting for ${url} through the gateway…`);
  await waitForPage(o.gateway, record);
  return record;
}

async function waitForPage(gateway: GatewayUp, demo: DemoRecord): Promise<void> {
  const deadline = Date.now() + PAGE_MS;
  let last = { status: 0, body: '' };
  while (Date.now() < deadline) {
    last = await getThroughGateway(gateway, demo.name);
    if (last.status === 200) return;
    await sleep(250);
  }
  fail(
    'GRID_DEMO_FAILED',
    `${demo.url} does not answer through the gateway (last status ${last.status}${last.body ? `: ${last.body.trim().slice(0, 200)}` : ''}): 'vdc deployment get --contract ${demo.contract}' shows the node's view`,
  );
}
