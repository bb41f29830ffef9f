/*
 * The node's `gateway` workload end to end on the namespace grid (docs/node-gateway.md):
 * a gateway on the host's bridge address; a name in http mode registered with `--node`
 * listing the node; `vdc deploy` of a busybox httpd container (listening on 127.0.0.1 in its
 * own network) and a gateway workload whose grant the CLI signs. curl through the gateway
 * gets the container's page; a killed forwarder comes back; cancelling the contract closes
 * the tunnel, stops the forwarder and removes its socket.
 */
import assert from 'node:assert/strict';
import { existsSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { listeningTcp, startNetnsGrid } from '../../src/grid/index.ts';
import { crunState, diagnostics, serveBusyboxImage, waitUntil } from '../support/container-grid.ts';
import { curlName, pidsWith, startGridGateway, uidOf } from '../support/node-gateway-grid.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';
import { runVdc } from '../support/run-vdc.ts';

const PAGE = 'hello through the gateway';

describe('gateway workloads on the namespace grid', () => {
  test('a container port served under the owner’s name; the forwarder heals; cancel closes it', async (t) => {
    if (
      !requireRoot(t) ||
      !requireCommand(t, 'crun') ||
      !requireCommand(t, 'busybox') ||
      !requireCommand(t, 'curl') ||
      !requireCommand(t, 'nsenter')
    )
      return;
    const grid = await startNetnsGrid({
      nodes: 1,
      test: t,
      ledgerHeartbeatMs: 1000,
      nodeArgs: ['--report-interval', '1'],
    });
    const node = grid.nodes[0]!;
    const { url, sha256 } = await serveBusyboxImage(grid);
    const gw = await startGridGateway(grid, t);

    // The name, in http mode, listing the node that may serve it.
    // A short request deadline: the gateway's timer for a request it answers 502 (no
    // backend) is not cleared and would hold this process for the default 300 s.
    const rules = join(grid.dir, 'rules.json');
    writeFileSync(rules, JSON.stringify({ timeouts: { requestMs: 10_000 } }));
    const named = await runVdc(
      [
        'name',
        'register',
        'web',
        '--gateway',
        String(gw.id),
        '--mode',
        'http',
        '--node',
        String(node.id),
        '--rules',
        rules,
      ],
      { env: grid.user.env },
    );
    assert.equal(named.code, 0, named.stderr);
    // The gateway follows the ledger: once it has the name (404 before), no backend yet.
    const first = await waitUntil(
      'the gateway to follow the new name',
      async () => {
        const r = await curlName(gw, 'web');
        return r.status !== 404 ? r : undefined;
      },
      10_000,
    );
    assert.equal(first.status, 502, 'no backend yet');

    // The deployment: a container and a gateway workload without a grant (the CLI signs it).
    const file = join(grid.dir, 'web.json');
    const writeFile = (page: string) =>
      writeFileSync(
        file,
        JSON.stringify({
          workloads: [
            {
              name: 'web',
              kind: 'container',
              spec: {
                image: { url, sha256 },
                resources: { cpu: 250, memory: 64 * 2 ** 20 },
                entrypoint: [
                  '/bin/sh',
                  '-c',
                  `echo '${page}' > /etc/index.html; exec httpd -f -p 127.0.0.1:8080 -h /etc`,
                ],
              },
            },
            {
              name: 'web-gw',
              kind: 'gateway',
              spec: { name: 'web', gateway: gw.id, workload: 'web', port: 8080 },
            },
          ],
        }),
      );
    writeFile(PAGE);
    const deployed = await runVdc(['deploy', '--node', String(node.id), '--json', file], {
      env: grid.user.env,
    });
    assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
    const result = JSON.parse(deployed.stdout) as {
      contract: number;
      workloads: { name: string; state: string; message: string }[];
    };
    const contract = result.contract;
    const gwState = result.workloads.find((w) => w.name === 'web-gw')!;
    assert.equal(gwState.state, 'ok', gwState.message);
    assert.match(gwState.message, /serving web through gateway/);

    // curl through the gateway's public port reaches the page inside the container.
    const page = await waitUntil('the page through the gateway', async () => {
      const r = await curlName(gw, 'web', '/index.html');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(page.body.trim(), PAGE);

    // The forwarder: inside the container's network, as an unprivileged uid, its socket
    // in a folder only that uid may enter.
    const dir = join(node.dataDir, 'gateways', `g${contract}-web-gw`);
    const socket = join(dir, 'socket');
    const [forwarder] = pidsWith(socket);
    assert.ok(forwarder, 'a forwarder process holds the socket');
    const uid = uidOf(forwarder);
    assert.notEqual(uid, 0, 'the forwarder does not run as root');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(dir).uid, uid);
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    const init = crunState(node, `c${contract}-web`)!.pid;
    assert.equal(
      readlinkSync(`/proc/${forwarder}/ns/net`),
      readlinkSync(`/proc/${init}/ns/net`),
      'the forwarder lives in the container’s network namespace',
    );
    // The node's own namespace still listens on no TCP port.
    assert.deepEqual(listeningTcp(node.namespace), []);

    // Kill the forwarder: the node starts another, and the page answers again.
    process.kill(forwarder, 'SIGKILL');
    const next = await waitUntil('a new forwarder', () => {
      const p = pidsWith(socket).filter((pid) => pid !== forwarder);
      return p.length ? p[0] : undefined;
    });
    assert.notEqual(next, forwarder);
    const again = await waitUntil('the page again', async () => {
      const r = await curlName(gw, 'web', '/index.html');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(again.body.trim(), PAGE);
    const view = await diagnostics(node, grid.user, contract);
    assert.equal(view.workloads.find((w) => w.name === 'web-gw')?.state, 'ok');
    assert.match(
      view.workloads.find((w) => w.name === 'web-gw')?.logs ?? '',
      /forwarder \d+ started/,
    );

    // kill -9 of the agent: its forwarder exits with it (its stdin closes); the restarted
    // agent adopts the running container and opens the tunnel again through a new forwarder.
    node.kill();
    await waitUntil('the agent gone', () => !node.running);
    await waitUntil('the forwarder gone with the agent', () => pidsWith(socket).length === 0);
    await node.start();
    const page2 = await waitUntil('the page after the agent restart', async () => {
      const r = await curlName(gw, 'web', '/index.html');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(page2.body.trim(), PAGE);
    assert.equal(crunState(node, `c${contract}-web`)?.pid, init, 'the same container');

    // An update that changes the container starts a new one (a new init, a new network):
    // the forwarder follows it into the new network.
    writeFile(`${PAGE}, version 2`);
    await grid.user.closeRelay();
    const updated = await runVdc(
      ['deployment', 'update', '--contract', String(contract), '--json', file],
      { env: grid.user.env },
    );
    assert.equal(updated.code, 0, updated.stderr + updated.stdout);
    const init2 = crunState(node, `c${contract}-web`)!.pid;
    assert.notEqual(init2, init);
    const v2 = await waitUntil('the new version’s page', async () => {
      const r = await curlName(gw, 'web', '/index.html');
      return r.status === 200 && r.body.includes('version 2') ? r : undefined;
    });
    assert.equal(v2.body.trim(), `${PAGE}, version 2`);
    const [forwarder2] = pidsWith(socket);
    assert.ok(forwarder2);
    assert.equal(readlinkSync(`/proc/${forwarder2}/ns/net`), readlinkSync(`/proc/${init2}/ns/net`));

    // Cancel the contract: the node removes the deployment, the tunnel closes, the
    // forwarder stops and its socket goes; the gateway has no backend for the name.
    await grid.user.client.submit(grid.user.identity, 'contract.cancel', {
      contract,
      reason: 'user',
    });
    await waitUntil('the socket removed', () => !existsSync(dir));
    await waitUntil('the forwarder gone', () => pidsWith(socket).length === 0);
    const after = await waitUntil('the name without a backend', async () => {
      const r = await curlName(gw, 'web', '/index.html');
      return r.status !== 200 ? r : undefined;
    });
    assert.equal(after.status, 502);
    assert.doesNotMatch(after.body, new RegExp(PAGE));
  });
});
