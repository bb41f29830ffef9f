/*
 * The README's first command: `vdc up` brings the local grid up and says what to open;
 * `vdc down` stops and removes exactly what it made (docs/grid.md).
 *
 * As root: ledger, relay and image server in a core namespace, two nodes each in their
 * own namespace, the gateway on 127.0.0.1, and the demo VDC deployed through `vdc name
 * register` and `vdc deploy`; its page answers through the gateway as demo.vdc.localhost.
 * One up / up / down cycle, shared by the assertions. Without root (the library's
 * `root: false`, in-process, so it needs no other user and no readable checkout): the
 * ledger and the relay on loopback, the user's twin and farm.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { httpJson } from '../../src/core/http-client.ts';
import {
  GRID_DOMAIN,
  getThroughGateway,
  gridDown,
  gridUp,
  listLinks,
  listNamespaces,
} from '../../src/grid/index.ts';
import { Identity } from '../../src/identity/index.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';
import { runVdc } from '../support/run-vdc.ts';

/**
 * A fresh $VDC_HOME whose grid `down` removes after the test, before the folder goes: hooks
 * run in the order they were registered, and a grid whose folder is gone can no longer be
 * found by `vdc down`.
 */
function gridHome(
  t: { after: (fn: () => unknown) => void },
  prefix: string,
  down: (home: string) => Promise<unknown>,
): string {
  const home = mkdtempSync(join(tmpdir(), prefix));
  t.after(async () => {
    await down(home);
    rmSync(home, { recursive: true, force: true });
  });
  return home;
}

/** Pids of processes whose command line mentions `text`, other than `except`. */
function pidsMentioning(text: string, except: number[] = []): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || except.includes(Number(entry))) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found.filter(alive);
}

/** The TCP listeners of process `pid` (its sockets in its own network namespace's tables), as IPv4 `a.b.c.d` or raw IPv6 hex. */
function listenersOf(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[([0-9]+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const found: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue; // 0A: LISTEN
      const hex = f[1]!.split(':')[0]!;
      found.push(
        table === 'tcp'
          ? [...Buffer.from(hex, 'hex').reverse()].join('.')
          : `[${hex.toLowerCase()}]`,
      );
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

async function contractCreates(ledger: string): Promise<number> {
  const { entries } = (await httpJson(`${ledger}/v1/entries?from=0&limit=1000`)) as {
    entries: { tx: { type: string } }[];
  };
  return entries.filter((e) => e.tx.type === 'contract.create').length;
}

describe('vdc up / down', () => {
  test('without root: the ledger and the relay on loopback, a twin and a farm; down stops only that', async (t) => {
    // The path without root is the library's `root: false` (the command passes whether it
    // runs as root), so it runs the same as root or not, wherever the checkout lives; the
    // ledger and the relay are real `vdc` processes all the same.
    const home = gridHome(t, 'vdc-up-', (h) => gridDown(h, true));
    // A process that is not the grid's, with the grid folder in its command line, must survive `down`.
    const bystander = spawn('sh', ['-c', 'sleep 60', `${home}/grid`], { stdio: 'ignore' });
    t.after(() => bystander.kill());

    // A bad flag is refused by the command before anything is made: no identity, no grid.
    const bad = await runVdc(['up', '--nodes', '0'], { env: { VDC_HOME: home } });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /error USAGE: '--nodes' must be 1\.\.16/);
    assert.equal(existsSync(join(home, 'identity.json')), false);
    assert.equal(existsSync(join(home, 'grid')), false);

    const identity = Identity.fromSeed(randomBytes(64));
    const said: string[] = [];
    const opts = { identity, passphrase: 'unused', root: false, say: (l: string) => said.push(l) };
    const up = await gridUp(home, opts);
    assert.match(said.join('\n'), /nodes, the gateway and the demo VDC need root/);
    assert.equal(up.status.root, false);
    assert.equal(up.twin, 1);
    assert.equal(up.farm, 1);
    assert.equal(up.farmer, undefined);
    assert.deepEqual(Object.keys(up.status.services), ['ledger', 'relay']);
    const ledger = up.status.services['ledger']!.address;
    assert.match(ledger, /^http:\/\/127\.0\.0\.1:/);
    const head = (await httpJson(`${ledger}/v1/head`)) as { size: number };
    assert.equal(head.size, 2);
    const pids = Object.values(up.status.services).map((s) => s.pid);
    for (const pid of pids) assert.ok(alive(pid), `service process ${pid} runs`);

    // Idempotent: a second `up` keeps the running ledger and registers nothing twice.
    const again = await gridUp(home, opts);
    assert.deepEqual(again, up);
    assert.equal(((await httpJson(`${ledger}/v1/head`)) as { size: number }).size, 2);

    // What the command shows of it.
    const status = JSON.parse(
      (await runVdc(['status', '--json'], { env: { VDC_HOME: home } })).stdout,
    );
    assert.equal(status.services.ledger.running, true);
    assert.equal(status.root, false);
    assert.equal(status.demo, undefined);

    assert.deepEqual(await gridDown(home, false), ['ledger', 'relay']);
    await assert.rejects(httpJson(`${ledger}/v1/head`, { timeoutMs: 1000 }));
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} stopped`);
    assert.equal(bystander.exitCode, null, 'down left the unrelated process alone');
    assert.deepEqual(await gridDown(home, false), []);
  });

  test('as root: nodes in namespaces, a gateway and the demo VDC; a second up changes nothing; down removes it all', async (t) => {
    if (
      !requireRoot(t) ||
      !requireCommand(t, 'ip') ||
      !requireCommand(t, 'nsenter') ||
      !requireCommand(t, 'crun') ||
      !requireCommand(t, 'busybox') ||
      !requireCommand(t, 'openssl')
    )
      return;
    const home = gridHome(t, 'vdc-up-root-', (h) =>
      runVdc(['down', '--purge'], { env: { VDC_HOME: h } }),
    );
    const env = { VDC_HOME: home, VDC_PASSPHRASE: 'up test passphrase' };
    // Not the grid's, though its command line names the grid folder: `down` must leave it be.
    const bystander = spawn('sh', ['-c', 'sleep 300', `${home}/grid`], { stdio: 'ignore' });
    t.after(() => bystander.kill());
    const namespacesBefore = new Set(listNamespaces());
    const linksBefore = new Set(listLinks());

    const up = await runVdc(['up', '--json'], { env });
    assert.equal(up.code, 0, up.stderr + up.stdout);
    assert.match(up.stderr, /write these 24 words down/, 'an identity is made and its words shown');
    // Progress while it works: each service, then the demo through the real commands.
    for (const line of [
      /making the network namespaces/,
      /starting ledger in vdcg[0-9a-f]{6}-core/,
      /starting node1 in vdcg[0-9a-f]{6}-node1/,
      /starting node2 in vdcg[0-9a-f]{6}-node2/,
      /starting the gateway on 127\.0\.0\.1:/,
      /registering the name demo .*vdc name register/,
      /deploying the demo VDC to node [0-9]+ \(vdc deploy /,
    ])
      assert.match(up.stderr, line);
    const summary = JSON.parse(up.stdout);
    assert.equal(summary.root, true);
    assert.deepEqual(Object.keys(summary.services).sort(), [
      'gateway',
      'images',
      'ledger',
      'node1',
      'node2',
      'relay',
    ]);
    assert.notEqual(summary.farmer, summary.twin, 'the nodes’ farmer is not the user');
    const port = Number(new URL(summary.services.gateway).port);
    assert.equal(summary.demo.url, `http://demo.${GRID_DOMAIN}:${port}/`);

    // The demo page through the gateway's 127.0.0.1 port, by name; it names its node.
    const gateway = { httpPort: port, domain: GRID_DOMAIN };
    const page = await getThroughGateway(gateway, 'demo');
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /VDC demo/);
    assert.match(page.body, new RegExp(`served by node ${summary.demo.node} \\(node1 `));
    assert.equal((await getThroughGateway(gateway, 'nobody')).status, 404);

    // The grid runs on after `vdc up` returned: every service is a live process.
    const state = JSON.parse(readFileSync(join(home, 'grid', 'grid.json'), 'utf8'));
    const prefix = `vdcg${state.netns.run}`;
    const pids = Object.values(state.services).map((s) => (s as { pid: number }).pid);
    assert.equal(pids.length, 6);
    for (const pid of pids) assert.ok(alive(pid), `service process ${pid} runs`);
    assert.notEqual(
      readlinkSync(`/proc/${state.services.node1.pid}/ns/net`),
      readlinkSync('/proc/self/ns/net'),
      'the node runs in a network namespace of its own',
    );
    // Nothing of the grid listens where another machine could reach it: the gateway's
    // public side on loopback, everything else on the grid's own /24; the nodes on nothing.
    const inGrid = (a: string) => a.startsWith(state.netns.subnet.replace(/0\/24$/, ''));
    for (const [name, s] of Object.entries(state.services) as [string, { pid: number }][]) {
      const listening = listenersOf(s.pid);
      if (name.startsWith('node')) assert.deepEqual(listening, [], `${name} listens on nothing`);
      for (const a of listening)
        assert.ok(a === '127.0.0.1' || inGrid(a), `${name} listens on ${a} only inside the grid`);
    }
    assert.deepEqual(
      listenersOf(state.services.gateway.pid).sort(),
      ['127.0.0.1', '127.0.0.1', state.netns.subnet.replace(/0\/24$/, '1')].sort(),
      'the gateway: HTTP and TLS on loopback, tunnels on the bridge',
    );
    const crunRoot = join(state.nodesData, 'node1', 'data', 'crun');
    const container = JSON.parse(
      readFileSync(join(crunRoot, `c${summary.demo.contract}-web`, 'status'), 'utf8'),
    ) as { pid: number };
    assert.ok(alive(container.pid), 'the demo container runs');
    const ledger = summary.services.ledger as string;
    assert.equal(await contractCreates(ledger), 1);

    const status = JSON.parse((await runVdc(['status', '--json'], { env })).stdout);
    assert.equal(status.root, true);
    assert.deepEqual(status.demo, summary.demo);
    for (const name of Object.keys(summary.services))
      assert.equal(status.services[name].running, true, `${name} runs`);
    const human = await runVdc(['status'], { env });
    assert.match(human.stdout, new RegExp(`demo +http://demo\\.${GRID_DOMAIN}:${port}/`));

    // Idempotent: the second `up` keeps every process and deploys nothing.
    const again = await runVdc(['up', '--json'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), summary);
    assert.doesNotMatch(again.stderr, /starting|registering|deploying/);
    assert.equal(await contractCreates(ledger), 1, 'no second deployment on the ledger');
    const stateAgain = JSON.parse(readFileSync(join(home, 'grid', 'grid.json'), 'utf8'));
    assert.deepEqual(stateAgain.services, state.services);

    // A crash after `vdc deploy` succeeded but before grid.json recorded the demo: the next
    // `up` finds the contract in the user's view (their copy names the demo) and adopts it.
    const { demo: _lost, ...withoutDemo } = stateAgain;
    writeFileSync(join(home, 'grid', 'grid.json'), JSON.stringify(withoutDemo), { mode: 0o600 });
    const adopted = await runVdc(['up', '--json'], { env });
    assert.equal(adopted.code, 0, adopted.stderr);
    assert.match(
      adopted.stderr,
      new RegExp(`the demo is on the ledger already \\(contract ${summary.demo.contract},`),
    );
    assert.doesNotMatch(adopted.stderr, /deploying/);
    assert.deepEqual(JSON.parse(adopted.stdout), summary);
    assert.equal(await contractCreates(ledger), 1, 'still one deployment on the ledger');

    // A gateway whose tunnel key is lost comes back under the same id and serves the demo
    // again: `up` runs it with --update-registration (a moved tunnel address is the same case).
    process.kill(state.services.gateway.pid, 'SIGTERM');
    while (alive(state.services.gateway.pid)) await new Promise((r) => setTimeout(r, 50));
    const gatewayDir = join(home, 'grid', 'gateway');
    const keyFiles = readdirSync(gatewayDir).filter((f) => f.startsWith('tunnel.key'));
    assert.ok(keyFiles.length > 0, 'the gateway kept its tunnel key in its folder');
    for (const f of keyFiles) rmSync(join(gatewayDir, f));
    const rekeyed = await runVdc(['up', '--json'], { env });
    assert.equal(rekeyed.code, 0, rekeyed.stderr);
    assert.match(rekeyed.stderr, /starting the gateway/);
    const afterRekey = JSON.parse(rekeyed.stdout);
    assert.equal(afterRekey.demo.gateway, summary.demo.gateway, 'the same gateway id');
    assert.equal(afterRekey.demo.contract, summary.demo.contract);
    const newPort = Number(new URL(afterRekey.services.gateway).port);
    const rekeyedPage = await getThroughGateway({ httpPort: newPort, domain: GRID_DOMAIN }, 'demo');
    assert.equal(rekeyedPage.status, 200, rekeyedPage.body);

    // down: every process, container, namespace, link and the run record go; nothing else.
    const down = await runVdc(['down', '--json'], { env });
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(JSON.parse(down.stdout).stopped.sort(), Object.keys(summary.services).sort());
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} stopped`);
    // Nor any process the services started (the nodes' forwarders): none mentions the grid.
    for (const text of [home, state.nodesData as string]) {
      const deadline = Date.now() + 10_000;
      while (pidsMentioning(text, [bystander.pid!]).length > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(pidsMentioning(text, [bystander.pid!]), [], `no process mentions ${text}`);
    }
    assert.ok(alive(bystander.pid!), 'down left the unrelated process alone');
    assert.equal(alive(container.pid), false, 'the demo container is gone');
    assert.deepEqual(
      listNamespaces().filter((n) => n.startsWith(prefix)),
      [],
      'no namespace of the grid is left',
    );
    assert.deepEqual(
      listLinks().filter((l) => l.startsWith(prefix)),
      [],
      'no link of the grid is left',
    );
    // Other grids (concurrent test files) come and go; everything else must still be there.
    for (const n of namespacesBefore)
      if (!n.startsWith('vdcg'))
        assert.ok(listNamespaces().includes(n), `namespace ${n} left alone`);
    for (const l of linksBefore)
      if (!l.startsWith('vdcg')) assert.ok(listLinks().includes(l), `link ${l} left alone`);
    assert.equal(existsSync(`/run/vdc-netns-runs/${state.netns.run}.json`), false);
    assert.equal((await getThroughGateway(gateway, 'demo')).status, 0, 'nothing answers');
    assert.ok(existsSync(join(home, 'grid', 'ledger', 'ledger.log')), 'down keeps the data');

    const purge = await runVdc(['down', '--purge', '--json'], { env });
    assert.deepEqual(JSON.parse(purge.stdout), { stopped: [], purged: true });
    assert.equal(existsSync(join(home, 'grid')), false);
    assert.equal(existsSync(state.nodesData), false, 'the nodes’ data is deleted');
    // …and the host-wide uid ranges its containers held are free again.
    const slots = '/var/lib/vdc/uid-slots';
    const claims = existsSync(slots)
      ? readdirSync(slots)
          .filter((f) => /^[0-9]+$/.test(f))
          .map((f) => readFileSync(join(slots, f), 'utf8'))
      : [];
    assert.equal(
      claims.filter((c) => c.includes(state.nodesData as string)).length,
      0,
      'no uid claim names the purged grid',
    );
  });
});
