import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { requireCommand, requireRoot } from '../../test/support/requirements.ts';
import { VdcError } from '../core/errors.ts';
import { listeningTcp, listLinks, listNamespaces, namespacePids } from './netns.ts';
import { NetnsRun } from './netns-run.ts';
import { isAlive, parseRecord, processIdentity, readRecord, recordPath } from './run-record.ts';
import { sweepStaleRuns, teardownRun } from './run-teardown.ts';

const NODE = process.execPath;

function ready(t: TestContext): boolean {
  return requireRoot(t) && requireCommand(t, 'ip');
}

/** Everything of the run `prefix` that the kernel still shows. */
function leftovers(prefix: string): string[] {
  return [
    ...listNamespaces().filter((n) => n.startsWith(prefix)),
    ...listLinks().filter((l) => l.startsWith(prefix)),
  ];
}

/** A TCP server on `address:port` inside the host, printing "listening" once it is. */
function serveIn(run: NetnsRun, host: NetnsRun['hosts'][number], port: number, log: string) {
  const script = `require('node:net').createServer((s) => s.end('hello from ${host.label}')).listen(${port}, '${host.address}', () => console.log('listening'))`;
  return run.spawn(host, `server-${host.label}`, NODE, ['-e', script], {
    log,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
  });
}

function read(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = createConnection({ host, port }, () => {});
    socket.on('data', (d) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

async function until<V>(what: string, probe: () => V | undefined | false): Promise<V> {
  for (let i = 0; i < 300; i++) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('network namespace runs', () => {
  test('hosts reach each other and the host namespace; teardown leaves nothing behind', async (t) => {
    if (!ready(t)) return;
    const run = NetnsRun.create();
    t.after(() => run.teardown(0));
    assert.match(run.prefix, /^vdcg[0-9a-f]{6}$/);
    assert.match(run.subnet, /^10\.(1[2-8][0-9]|19[01])\.[0-9]+\.0\/24$/);
    const a = run.addHost('alpha');
    const b = run.addHost('beta');
    assert.notEqual(a.address, b.address);
    assert.ok(listNamespaces().includes(a.namespace));
    assert.ok(a.link.length <= 15 && run.bridge.length <= 15);

    const logs = mkdtempSync(join(tmpdir(), 'vdc-netns-test-'));
    t.after(() => rmSync(logs, { recursive: true, force: true }));
    const log = join(logs, 'server.log');
    const server = serveIn(run, a, 7000, log);
    await until('the server to listen', () =>
      listeningTcp(a.namespace).some((s) => s.port === 7000),
    );
    assert.deepEqual(
      listeningTcp(a.namespace).find((s) => s.port === 7000),
      { protocol: 'tcp', address: a.address, port: 7000 },
    );
    assert.equal(await read(a.address, 7000), 'hello from alpha');
    // From inside beta, over the bridge.
    const fromBeta = await new Promise<string>((resolve) => {
      const client = spawn(
        'ip',
        [
          'netns',
          'exec',
          b.namespace,
          NODE,
          '-e',
          `require('node:net').createConnection({host:'${a.address}',port:7000}).on('data',(d)=>process.stdout.write(d))`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      client.stdout.on('data', (d) => (out += d));
      client.on('close', () => resolve(out));
    });
    assert.equal(fromBeta, 'hello from alpha');
    assert.deepEqual(namespacePids(a.namespace), [server.pid]);

    // Processes in a host see the machine's mounts, cgroups included (a node needs them).
    const cgroupLog = join(logs, 'cgroups.log');
    const ls = run.spawn(a, 'ls', 'ls', ['/sys/fs/cgroup'], {
      log: cgroupLog,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    });
    assert.equal(await ls.exited, 0);
    assert.deepEqual(
      readFileSync(cgroupLog, 'utf8').trim().split('\n').sort(),
      readdirSync('/sys/fs/cgroup').sort(),
    );

    await run.teardown(0);
    assert.equal(server.running, false);
    assert.deepEqual(leftovers(run.prefix), []);
    assert.equal(existsSync(recordPath(run.id)), false);
    await run.teardown(); // twice is harmless
  });

  test('the record lists each object before it exists, and two runs at once never share a subnet', async (t) => {
    if (!ready(t)) return;
    const one = NetnsRun.create();
    t.after(() => one.teardown(0));
    const two = NetnsRun.create();
    t.after(() => two.teardown(0));
    assert.notEqual(one.subnet, two.subnet);
    assert.notEqual(one.prefix, two.prefix);
    const host = one.addHost('solo');
    const record = readRecord(one.id)!;
    assert.deepEqual(record.namespaces, [host.namespace]);
    assert.deepEqual(record.links, [one.bridge, host.link]);
    assert.equal(record.owner?.pid, process.pid);
    assert.equal(record.subnet, one.subnet);
  });

  test('refuses a bad host label and a second host of the same name, making nothing', async (t) => {
    if (!ready(t)) return;
    const run = NetnsRun.create();
    t.after(() => run.teardown(0));
    const before = leftovers(run.prefix);
    for (const label of ['Bad', '../x', 'a'.repeat(21), ''])
      assert.throws(
        () => run.addHost(label),
        (err) => err instanceof VdcError && err.code === 'GRID_NAME_INVALID',
      );
    run.addHost('twice');
    assert.throws(
      () => run.addHost('twice'),
      (err) => err instanceof VdcError && err.code === 'GRID_NAME_INVALID',
    );
    assert.equal(leftovers(run.prefix).length, before.length + 2);
  });

  test('sweeps a run whose process was killed: its processes, namespaces, links and record', async (t) => {
    if (!ready(t)) return;
    // A process that makes a run with a host and a process in it, says what it made, and
    // then dies by SIGKILL, so no teardown of its own runs.
    const module = new URL('./netns-run.ts', import.meta.url).pathname;
    const script = `
      const { NetnsRun } = await import(${JSON.stringify(module)});
      const run = NetnsRun.create();
      const host = run.addHost('orphan');
      const p = run.spawn(host, 'sleeper', 'sleep', ['600'], { log: '/dev/null', env: { PATH: process.env.PATH } });
      console.log(JSON.stringify({ id: run.id, prefix: run.prefix, ns: host.namespace, sleeper: p.pid }));
      setInterval(() => {}, 1000);`;
    const child = spawn(NODE, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => child.kill('SIGKILL'));
    const made = await new Promise<{ id: string; prefix: string; ns: string; sleeper: number }>(
      (resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(JSON.parse(out));
        });
        child.once('exit', (code) => reject(new Error(`the child exited with ${code}`)));
      },
    );
    const record = readRecord(made.id)!;
    assert.ok(record, 'the run has a record');
    assert.equal(leftovers(made.prefix).length, 3); // namespace, bridge, veth
    child.kill('SIGKILL');
    await until('the owner to be gone', () => !isAlive(record.owner!));
    assert.ok(isAlive(record.processes[0]!), 'the orphaned process still runs before the sweep');

    const swept = sweepStaleRuns();
    assert.ok(swept.includes(made.id), `swept ${swept.join(',')}`);
    assert.deepEqual(leftovers(made.prefix), []);
    assert.equal(readRecord(made.id), undefined);
    await until('the orphan to end', () => !isAlive(record.processes[0]!));
  });

  test('a process that ends without tearing down leaves nothing: the exit hook removes its run', async (t) => {
    if (!ready(t)) return;
    const module = new URL('./netns-run.ts', import.meta.url).pathname;
    const script = `
      const { NetnsRun } = await import(${JSON.stringify(module)});
      const run = NetnsRun.create();
      run.addHost('forgotten');
      console.log(JSON.stringify({ id: run.id, prefix: run.prefix }));`;
    const child = spawnSync(NODE, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const made = JSON.parse(child.stdout) as { id: string; prefix: string };
    assert.deepEqual(leftovers(made.prefix), []);
    assert.equal(existsSync(recordPath(made.id)), false);
  });

  test('a kept run outlives its process and the sweep, and ends with teardownRun', async (t) => {
    if (!ready(t)) return;
    const module = new URL('./netns-run.ts', import.meta.url).pathname;
    const script = `
      const { NetnsRun } = await import(${JSON.stringify(module)});
      const run = NetnsRun.create({ keep: true });
      run.addHost('kept');
      console.log(JSON.stringify({ id: run.id, prefix: run.prefix }));`;
    const child = spawnSync(NODE, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const made = JSON.parse(child.stdout) as { id: string; prefix: string };
    t.after(() => teardownRun(made.id, 0).catch(() => {}));
    assert.equal(leftovers(made.prefix).length, 3);
    assert.equal(readRecord(made.id)?.owner, null);
    assert.ok(!sweepStaleRuns().includes(made.id));
    assert.equal(leftovers(made.prefix).length, 3);
    await teardownRun(made.id, 0);
    assert.deepEqual(leftovers(made.prefix), []);
    await assert.rejects(
      teardownRun(made.id),
      (err) => err instanceof VdcError && err.code === 'GRID_RUN_NOT_FOUND',
    );
  });

  test('keep() drops the owner; resume() takes the run up again; a lost namespace is GRID_RUN_NOT_FOUND', async (t) => {
    if (!ready(t)) return;
    const run = NetnsRun.create();
    t.after(() => teardownRun(run.id, 0).catch(() => {}));
    const a = run.addHost('a');
    assert.equal(readRecord(run.id)?.owner?.pid, process.pid);
    run.keep();
    assert.equal(readRecord(run.id)?.owner, null, 'kept: no sweep takes it');

    // Another process (here: this one again) resumes it with the hosts it was told of.
    const again = NetnsRun.resume(run.id, [a]);
    assert.equal(again.subnet, run.subnet);
    const b = again.addHost('b');
    assert.equal(
      b.address,
      a.address.replace(/\.2$/, '.3'),
      'the next address after the known hosts',
    );
    assert.deepEqual(readRecord(run.id)?.namespaces, [a.namespace, b.namespace]);

    spawnSync('ip', ['netns', 'delete', b.namespace]);
    assert.throws(
      () => NetnsRun.resume(run.id, [a, b]),
      (err) => err instanceof VdcError && err.code === 'GRID_RUN_NOT_FOUND',
    );
    await teardownRun(run.id, 0);
    assert.deepEqual(leftovers(run.prefix), []);
    assert.throws(
      () => NetnsRun.resume(run.id, [a]),
      (err) => err instanceof VdcError && err.code === 'GRID_RUN_NOT_FOUND',
    );

    // The /24 it had is asked for again, and given while it is free.
    const next = NetnsRun.create({ subnet: run.subnet });
    t.after(() => next.teardown(0));
    assert.equal(next.subnet, run.subnet);
  });

  test("kills the containers a node left running, found in crun's state, and only those", async (t) => {
    if (!ready(t)) return;
    // Stand-ins for container inits: not our namespace's, not our group's, as crun's are.
    const sleeper = () => {
      const p = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
      t.after(() => p.kill('SIGKILL'));
      return p;
    };
    const orphan = sleeper();
    const stranger = sleeper();
    const state = mkdtempSync(join(tmpdir(), 'vdc-crun-state-'));
    t.after(() => rmSync(state, { recursive: true, force: true }));
    const writeStatus = (id: string, pid: number, start: string) => {
      mkdirSync(join(state, id));
      writeFileSync(
        join(state, id, 'status'),
        JSON.stringify({
          pid,
          'process-start-time': Number(start),
          'cgroup-path': `/vdc/abc/${id}`,
        }),
      );
    };
    const orphanId = await until('the orphan to run', () => processIdentity(orphan.pid!));
    writeStatus('c1', orphan.pid!, orphanId.startTicks);
    // A status whose pid now names another process (a reused pid): never signalled.
    writeStatus('c2', stranger.pid!, '1');

    const run = NetnsRun.create();
    t.after(() => run.teardown(0));
    run.addContainerRoot(state);
    assert.deepEqual(readRecord(run.id)?.containerRoots, [state]);
    await run.teardown(0);
    await until('the orphan to end', () => !isAlive(orphanId));
    assert.ok(isAlive(processIdentity(stranger.pid!)!), 'the stranger still runs');
  });

  test('a record naming objects outside its own prefix is not acted on', () => {
    const doc = {
      version: 1,
      run: 'abcdef',
      prefix: 'vdcgabcdef',
      owner: { pid: 999999, startTicks: '1' },
      createdAt: new Date().toISOString(),
      subnet: null,
      links: ['eth0'],
      namespaces: [],
      processes: [],
    };
    assert.equal(parseRecord(JSON.stringify(doc), 'abcdef'), undefined);
    assert.equal(
      parseRecord(JSON.stringify({ ...doc, links: [], namespaces: ['other-ns'] }), 'abcdef'),
      undefined,
    );
    assert.equal(
      parseRecord(JSON.stringify({ ...doc, links: [] }), 'abcde0'),
      undefined,
      'a record under another run id',
    );
    assert.equal(
      parseRecord(
        JSON.stringify({ ...doc, links: [], containerRoots: ['relative/crun'] }),
        'abcdef',
      ),
      undefined,
    );
    assert.ok(parseRecord(JSON.stringify({ ...doc, links: ['vdcgabcdefbr'] }), 'abcdef'));
  });
});
