/*
 * P4, the node half: a workload is not reachable from outside, even when it listens. On the
 * namespace grid a container runs a web server on 0.0.0.0:8080 inside its own network
 * namespace. The kernel shows the listener there, none in the node's namespace, and a
 * connection to the node's address on that port fails from the host, from another host's
 * namespace and from the node's own loopback. (The public reaches workloads only through
 * gateway tunnels the inside dials out: issue 6.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { listeningTcp, startNetnsGrid } from '../../src/grid/index.ts';
import {
  crunState,
  deployDirect,
  serveBusyboxImage,
  waitUntil,
} from '../support/container-grid.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';

const PORT = 8080;

/** Whether the network namespace of `pid` has a TCP listener on `port` (any address). */
function listensIn(pid: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['tcp', 'tcp6'].some((p) =>
    readFileSync(`/proc/${pid}/net/${p}`, 'utf8')
      .split('\n')
      .slice(1)
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return f[3] === '0A' && f[1]?.endsWith(`:${hex}`);
      }),
  );
}

/** Tries a TCP connection from the test (host namespace); 'connected' or the error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 3000 });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** Tries a connection from inside `namespace` with busybox nc; true when it connected. */
function connectsFrom(namespace: string, host: string, port: number): boolean {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', namespace, 'busybox', 'nc', '-w', '3', host, String(port)],
    { input: '', timeout: 10_000 },
  );
  return r.status === 0;
}

describe('P4: workloads are not reachable from outside the node', () => {
  test('a container listening on 0.0.0.0 is reachable from nowhere but its own namespace', async (t) => {
    if (!requireRoot(t) || !requireCommand(t, 'crun') || !requireCommand(t, 'busybox')) return;
    const grid = await startNetnsGrid({ nodes: 1, test: t });
    const node = grid.nodes[0]!;
    const { url, sha256 } = await serveBusyboxImage(grid);
    const contract = await deployDirect(node, grid.user, [
      {
        name: 'web',
        kind: 'container',
        spec: {
          image: { url, sha256 },
          resources: { cpu: 100, memory: 16 * 2 ** 20 },
          entrypoint: ['/bin/httpd', '-f', '-p', `0.0.0.0:${PORT}`, '-h', '/'],
        },
      },
    ]);
    const pid = await waitUntil('the container running', () => {
      const s = crunState(node, `c${contract}-web`);
      return s?.status === 'running' ? s.pid : undefined;
    });
    await waitUntil('the web server listening in its namespace', () => listensIn(pid, PORT));

    // the probes do connect where something listens: the image server in its namespace
    const images = new URL(url).hostname;
    assert.equal(await tryConnect(images, PORT), 'connected');
    const other = grid.addNamespace('outsider');
    assert.equal(connectsFrom(other.namespace, images, PORT), true);

    assert.deepEqual(listeningTcp(node.namespace), [], 'the node namespace listens on nothing');
    assert.notEqual(await tryConnect(node.address, PORT), 'connected', 'from the host');
    assert.equal(connectsFrom(other.namespace, node.address, PORT), false, 'from another host');
    assert.equal(
      connectsFrom(node.namespace, '127.0.0.1', PORT),
      false,
      "from the node's loopback",
    );
  });
});
