/*
 * `vdc deploy` and `vdc deployment …` as a user runs them: bin/vdc processes against a real
 * ledger, a real relay and a real node agent (test/support/node-fixture.ts). The node's
 * `container` kind is served by a fake recording runtime, because the point here is the
 * CLI's side (contract, sealing, signing, relay, progress, refusals); the real crun runtime
 * has its own e2e test. Nothing in this file runs a container.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { VdcError } from '../../src/core/errors.ts';
import { toHex } from '../../src/core/hex.ts';
import { createKeystore } from '../../src/identity/index.ts';
import { LedgerClient } from '../../src/ledger/index.ts';
import {
  openForOwner,
  openSecret,
  type Workload,
  type WorkloadRuntime,
} from '../../src/node/index.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { nodeState, startNodeGrid, waitFor } from '../support/node-fixture.ts';
import { runVdc } from '../support/run-vdc.ts';

/** Records what the node asked it to run; fails workloads named `broken` as a runtime would. */
function fakeContainerRuntime() {
  const applied = new Map<string, Workload>();
  const removed: string[] = [];
  const runtime: WorkloadRuntime = {
    async apply(contract, w) {
      if (w.name === 'broken')
        throw new VdcError(
          'DEPLOYMENT_WORKLOAD_INVALID',
          'workload broken: the image digest does not match',
        );
      applied.set(`${contract}/${w.name}`, w);
    },
    async remove(contract, name) {
      removed.push(`${contract}/${name}`);
      applied.delete(`${contract}/${name}`);
    },
  };
  return { runtime, applied, removed };
}

function container(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    kind: 'container',
    spec: {
      image: { url: 'http://127.0.0.1:9/busybox.tar', sha256: 'ab'.repeat(32) },
      resources: { cpu: 250, memory: 64 * 2 ** 20 },
      env: { MODE: 'test' },
      ...extra,
    },
  };
}

test('vdc deploy and vdc deployment through bin/vdc against a node', async (t) => {
  const fake = fakeContainerRuntime();
  const grid = await startNodeGrid(t, { runtimes: { container: fake.runtime } });
  const home = tempDir(t, 'vdc-deploy-home-');
  const env = { VDC_HOME: home, VDC_PASSPHRASE: 'deploy cli passphrase' };
  const identity = await createKeystore(
    join(home, 'identity.json'),
    randomBytes(64),
    env.VDC_PASSPHRASE,
  );
  const watcher = await LedgerClient.connect({ url: grid.ledger.url, home: tempDir(t) });
  const twin = (
    await watcher.submit(identity, 'twin.create', {
      encryptionKey: toHex(identity.encryptionPublicKey),
      relays: [new URL(grid.relay.url).href],
    })
  ).created['twins']!;
  const node = grid.agent.node;
  const userKey = toHex(identity.signingPublicKey);
  // The CLI finds the relay in the user's twin on the ledger: no --relay anywhere below.
  const vdc = (...args: string[]) => runVdc([...args, '--ledger', grid.ledger.url], { env });
  const file = (name: string, content: string | object) => {
    const path = join(home, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  const contract = async (id: number) => {
    await watcher.follower.sync();
    return watcher.follower.view.contract(id);
  };
  await waitFor('the node in the user view', async () => {
    await watcher.follower.sync();
    return watcher.follower.view.node(node);
  });

  let deployed = 0;

  await t.test('deploys, shows progress, and the secret reaches the node sealed', async () => {
    const path = file('web.json', {
      workloads: [container('web', { secrets: { DB_PASSWORD: 'hunter2-plaintext' } })],
    });
    const run = await vdc('deploy', '--node', String(node), path);
    assert.equal(run.code, 0, run.stderr);
    const m = /deployed contract (\d+) on node (\d+): version 1, 1 workload\(s\) ok/.exec(
      run.stdout,
    );
    assert.ok(m, run.stdout);
    deployed = Number(m[1]);
    assert.match(run.stderr, /pinned/i); // first contact with the ledger says so
    assert.match(run.stderr, /sealed 1 secret\(s\) to node/);
    assert.match(run.stderr, new RegExp(`contract ${deployed} created`));
    assert.match(run.stderr, /web \(container\): ok/);

    const applied = fake.applied.get(`${deployed}/web`);
    assert.ok(applied, 'the runtime was asked to run web');
    const sealed = (applied.spec['secrets'] as Record<string, string>)['DB_PASSWORD']!;
    assert.ok(!sealed.includes('hunter2'));
    const opened = openSecret(sealed, grid.nodeIdentity, {
      twin,
      workload: 'web',
      name: 'DB_PASSWORD',
    });
    assert.equal(opened.toString(), 'hunter2-plaintext');
    assert.ok(!nodeState(grid).includes('hunter2'), 'the node stores no plaintext secret');

    // The ledger holds the owner's copy, which opens with the user's identity only.
    const c = await contract(deployed);
    assert.ok(c && c.cancelledAt === null && c.node === node && c.twin === twin);
    assert.ok(!Buffer.from(c.deployment, 'base64').toString('latin1').includes('hunter2'));
    const copy = openForOwner(c.deployment, identity, c);
    assert.equal(copy.deployment.workloads[0]?.name, 'web');
    assert.equal(
      Buffer.from(copy.secrets['web']!['DB_PASSWORD']!, 'base64').toString(),
      'hunter2-plaintext',
    );
  });

  await t.test('--json prints the result on stdout and no progress', async () => {
    const path = file('api.json', { workloads: [container('api'), container('worker')] });
    const run = await vdc('deploy', '--node', String(node), '--expires', '2h', path, '--json');
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as {
      contract: number;
      node: number;
      version: number;
      expiresAt: number;
      workloads: { name: string; state: string }[];
    };
    assert.equal(out.node, node);
    assert.equal(out.version, 1);
    assert.deepEqual(
      out.workloads.map((w) => [w.name, w.state]),
      [
        ['api', 'ok'],
        ['worker', 'ok'],
      ],
    );
    assert.ok(out.expiresAt > Date.now() + 3_500_000 && out.expiresAt <= Date.now() + 7_200_000);
    assert.doesNotMatch(run.stderr, /created|ok —/);
    assert.ok(fake.applied.has(`${out.contract}/worker`));
  });

  await t.test('lists and gets the deployments', async () => {
    const list = await vdc('deployment', 'list', '--node', String(node), '--json');
    assert.equal(list.code, 0, list.stderr);
    const views = JSON.parse(list.stdout) as { contract: number; contractState: string }[];
    assert.equal(views.length, 2);
    assert.ok(views.some((v) => v.contract === deployed && v.contractState === 'active'));

    const get = await vdc('deployment', 'get', '--contract', String(deployed), '--json');
    assert.equal(get.code, 0, get.stderr);
    const view = JSON.parse(get.stdout) as {
      version: number;
      node: number;
      deployment: { signature: { contract: number } };
    };
    assert.equal(view.version, 1);
    assert.equal(view.node, node);
    assert.equal(view.deployment.signature.contract, deployed);

    const human = await vdc(
      'deployment',
      'get',
      '--contract',
      String(deployed),
      '--node',
      String(node),
    );
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      new RegExp(`contract ${deployed} \\(active\\) on node ${node}: version 1`),
    );

    const wrongNode = await vdc(
      'deployment',
      'get',
      '--contract',
      String(deployed),
      '--node',
      '99',
    );
    assert.equal(wrongNode.code, 6);
    assert.match(wrongNode.stderr, /DEPLOY_CONTRACT_NOT_YOURS/);
  });

  await t.test('updates a deployment to version 2 with a new secret', async () => {
    const path = file('web2.json', {
      workloads: [container('web', { secrets: { DB_PASSWORD: 'rotated' } })],
    });
    const run = await vdc('deployment', 'update', '--contract', String(deployed), path, '--json');
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { version: number }).version, 2);
    const sealed = (fake.applied.get(`${deployed}/web`)!.spec['secrets'] as Record<string, string>)[
      'DB_PASSWORD'
    ]!;
    assert.equal(
      openSecret(sealed, grid.nodeIdentity, {
        twin,
        workload: 'web',
        name: 'DB_PASSWORD',
      }).toString(),
      'rotated',
    );
    const c = await contract(deployed);
    assert.equal(c?.version, 1); // one contract.update
    assert.equal(openForOwner(c!.deployment, identity, c!).deployment.version, 2);
  });

  await t.test('a refused update gives the contract its previous terms back', async () => {
    const before = await contract(deployed);
    assert.ok(before);
    const path = file('bad-update.json', { workloads: [container('web'), container('broken')] });
    const run = await vdc('deployment', 'update', '--contract', String(deployed), path);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /^error DEPLOYMENT_WORKLOAD_INVALID: workload broken/m);
    assert.match(run.stderr, /has its previous terms back/);
    const after = await contract(deployed);
    assert.equal(after?.deploymentHash, before.deploymentHash);
    assert.equal(after?.deployment, before.deployment);
    assert.equal(after?.expiresAt, before.expiresAt);
    assert.equal(after?.version, before.version + 2); // the update and its undoing
    const get = await vdc('deployment', 'get', '--contract', String(deployed), '--json');
    const view = JSON.parse(get.stdout) as { version: number; hash: string };
    assert.equal(view.version, 2);
    assert.equal(view.hash, before.deploymentHash);
  });

  await t.test('a node refusal prints the node’s error and cancels the new contract', async () => {
    const before = watcher.follower.view.contractsOfTwin(twin).length;
    // This node has no zdb runtime: the node itself refuses.
    const zdb = {
      name: 'store',
      kind: 'zdb',
      spec: { size: 2 ** 20, mode: 'user', network: 'backend' },
    };
    const run = await vdc('deploy', '--node', String(node), file('zdb.json', { workloads: [zdb] }));
    assert.equal(run.code, 9, run.stderr); // WORKLOAD_KIND_UNAVAILABLE is "unavailable"
    assert.match(run.stderr, /error WORKLOAD_KIND_UNAVAILABLE: workload store is a zdb/);
    const m = /contract (\d+) cancelled/.exec(run.stderr);
    assert.ok(m, run.stderr);
    const c = await contract(Number(m[1]));
    assert.equal(c?.cancelReason, 'user');
    assert.equal(watcher.follower.view.contractsOfTwin(twin).length, before + 1);

    // A runtime's own failure reaches the user verbatim, with its code's exit code.
    const broken = await vdc(
      'deploy',
      '--node',
      String(node),
      file('b.json', { workloads: [container('broken')] }),
      '--json',
    );
    assert.equal(broken.code, 3, broken.stderr);
    assert.deepEqual(JSON.parse(broken.stdout), {
      error: {
        code: 'DEPLOYMENT_WORKLOAD_INVALID',
        message: 'workload broken: the image digest does not match',
      },
    });
    const n = /contract (\d+) cancelled/.exec(broken.stderr);
    assert.ok(n, broken.stderr);
    assert.notEqual((await contract(Number(n[1])))?.cancelledAt, null);
    assert.ok(!fake.applied.has(`${n[1]}/broken`));
  });

  await t.test('bad files exit 3 and submit nothing', async () => {
    await watcher.follower.sync();
    const nonce = watcher.follower.view.nextNonce(userKey);
    const contracts = watcher.follower.view.contractsOfTwin(twin).length;
    const cases: [string, string, RegExp][] = [
      ['not-json.json', '{"workloads": [', /not|malformed/i],
      [
        'unknown.json',
        JSON.stringify({ workloads: [container('a')], replicas: 3 }),
        /unknown field 'replicas'/,
      ],
      [
        'dup.json',
        `{"workloads": [], "workloads": [${JSON.stringify(container('a'))}]}`,
        /appears twice/,
      ],
      [
        'spec.json',
        JSON.stringify({ workloads: [container('a', { resources: { cpu: 0, memory: 1 } })] }),
        /workload a \(container\)\.spec\.resources\.cpu/,
      ],
      [
        'twice.json',
        JSON.stringify({ workloads: [container('a'), container('a')] }),
        /named twice/,
      ],
      [
        'kind.json',
        JSON.stringify({ workloads: [{ name: 'a', kind: 'vm', spec: {} }] }),
        /kinds are container/,
      ],
      [
        'secret.json',
        JSON.stringify({ workloads: [container('a', { secrets: { 'bad-name': 'x' } })] }),
        /secrets/,
      ],
    ];
    for (const [name, content, message] of cases) {
      const run = await vdc('deploy', '--node', String(node), file(name, content));
      assert.equal(run.code, 3, `${name}: ${run.stderr}`);
      assert.match(run.stderr, /error DEPLOY_FILE_INVALID: /, name);
      assert.match(run.stderr, message, name);
      assert.ok(run.stderr.includes(name), `${name}: the message names the file`);
    }
    const missing = await vdc('deploy', '--node', String(node), join(home, 'nope.json'));
    assert.equal(missing.code, 6);
    await watcher.follower.sync();
    assert.equal(
      watcher.follower.view.nextNonce(userKey),
      nonce,
      'nothing was signed for the ledger',
    );
    assert.equal(watcher.follower.view.contractsOfTwin(twin).length, contracts);
  });

  await t.test(
    'deletes: the node removes the workloads, then the contract is cancelled',
    async () => {
      const run = await vdc('deployment', 'delete', '--contract', String(deployed), '--json');
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), {
        contract: deployed,
        node,
        removed: true,
        cancelled: true,
      });
      assert.ok(fake.removed.includes(`${deployed}/web`));
      assert.ok(!fake.applied.has(`${deployed}/web`));
      assert.notEqual((await contract(deployed))?.cancelledAt, null);
      const again = await vdc('deployment', 'delete', '--contract', String(deployed), '--json');
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout), {
        contract: deployed,
        node,
        removed: false,
        cancelled: false,
      });
      const list = await vdc('deployment', 'list', '--node', String(node), '--json');
      assert.ok(
        !(JSON.parse(list.stdout) as { contract: number }[]).some((v) => v.contract === deployed),
      );
    },
  );

  await t.test('an unknown node is named before anything is submitted', async () => {
    const nonce = watcher.follower.view.nextNonce(userKey);
    const run = await vdc(
      'deploy',
      '--node',
      '424242',
      file('ok.json', { workloads: [container('a')] }),
    );
    assert.equal(run.code, 6, run.stderr);
    assert.match(run.stderr, /error DEPLOY_NODE_UNKNOWN: node 424242/);
    await watcher.follower.sync();
    assert.equal(watcher.follower.view.nextNonce(userKey), nonce);
  });
});

test('vdc deploy and vdc deployment have --help and refuse bad flags with exit 2', async () => {
  for (const args of [
    ['deploy'],
    ['deployment'],
    ['deployment', 'get'],
    ['deployment', 'list'],
    ['deployment', 'update'],
    ['deployment', 'delete'],
  ]) {
    const run = await runVdc([...args, '--help']);
    assert.equal(run.code, 0, args.join(' '));
    assert.match(run.stdout, new RegExp(`^Usage: vdc ${args.join(' ')}`, 'm'));
  }
  assert.equal((await runVdc(['deploy', 'f.json'])).code, 2); // no --node
  for (const flags of [
    ['--node', 'x'],
    ['--node', '1', '--expires', '3y'],
    ['--node', '1', '--timeout', '0'],
  ]) {
    const run = await runVdc(['deploy', ...flags, 'f.json']);
    assert.equal(run.code, 2, flags.join(' '));
    assert.match(run.stderr, /^error USAGE: /m);
  }
});
