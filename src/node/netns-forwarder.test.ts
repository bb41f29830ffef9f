import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { NetnsForwarder, processStart } from './netns-forwarder.ts';

type T = import('node:test').TestContext;

const MAIN = new URL('./netns-forwarder-main.ts', import.meta.url).pathname;

function tempDir(t: T): string {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-fwd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A TCP server on loopback that answers each connection with `hello` and what it got. */
async function echo(t: T): Promise<number> {
  const server: Server = createServer((c) => {
    c.once('data', (d) => c.end(`hello ${d.toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** One round trip through the unix socket: what came back, or the error code. */
function through(socket: string, text: string): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(socket);
    let got = '';
    c.on('connect', () => c.write(text));
    c.on('data', (d) => {
      got += d.toString();
    });
    c.on('end', () => resolve(got));
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('netns forwarder', () => {
  test('processStart tells processes apart and knows a missing one', () => {
    const mine = processStart(process.pid);
    assert.match(mine ?? '', /^\d+$/);
    assert.equal(processStart(process.pid), mine);
    assert.equal(processStart(2 ** 22 + 1), undefined, 'beyond the largest pid');
  });

  test('the program joins socket connections to the port, 0600, and exits when stdin closes', async (t) => {
    const port = await echo(t);
    const dir = tempDir(t);
    const socket = join(dir, 'socket');
    // As root the program must drop to the uid given; otherwise it already runs as it.
    const id = process.getuid?.() === 0 ? 4242 : process.getuid!();
    if (id === 4242) chownSync(dir, id, id);
    const child = spawn(process.execPath, [MAIN, socket, String(port), String(id), String(id)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    t.after(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    });
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    assert.equal(statSync(socket).uid, id);
    assert.match(
      readFileSync(`/proc/${child.pid}/status`, 'utf8'),
      new RegExp(`^Uid:\\t${id}\\t${id}\\t${id}\\t${id}$`, 'm'),
    );
    assert.equal(await through(socket, 'one'), 'hello one');
    assert.equal(await through(socket, 'two'), 'hello two');
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.end(); // the agent is gone
    await exited;
    assert.equal(existsSync(socket), false, 'the socket goes with it');
  });

  test('refuses bad arguments', async () => {
    for (const args of [
      ['/tmp/x', '70000', '4242', '4242'],
      ['/tmp/x', '80', '0', '0'], // never root
      ['/tmp/x', '80'],
    ]) {
      const child = spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore' });
      const code = await new Promise((r) => child.once('exit', r));
      assert.equal(code, 2, args.join(' '));
    }
  });

  test('enters a network namespace as another uid through nsenter (root)', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root for nsenter');
    const port = await echo(t);
    const top = tempDir(t);
    chmodSync(top, 0o711); // the forwarder's uid walks through to its own folder
    const dir = join(top, 'fwd');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 4242, 4242);
    // this process's own network namespace: the loopback echo server is there
    const f = await NetnsForwarder.start(
      { pid: process.pid, uid: 4242, gid: 4242, port },
      { socket: join(dir, 'socket') },
    );
    t.after(() => f.kill());
    assert.equal(statSync(join(dir, 'socket')).uid, 4242, 'the socket is the forwarder uid’s');
    const status = readFileSync(`/proc/${f.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\t4242\t4242\t4242\t4242$/m, 'runs as the uid, not root');
    assert.match(status, /^Groups:\s*$/m, 'with no supplementary groups');
    assert.equal(await through(join(dir, 'socket'), 'ns'), 'hello ns');
    await f.stop();
    assert.equal(f.running, false);
    assert.equal(existsSync(join(dir, 'socket')), false);
  });

  test('a forwarder that cannot enter the namespace fails with GATEWAY_FORWARDER_FAILED (root)', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root for nsenter');
    const dir = tempDir(t);
    await assert.rejects(
      NetnsForwarder.start(
        { pid: 2 ** 22 + 1, uid: 4242, gid: 4242, port: 80 },
        { socket: join(dir, 'socket'), readyMs: 5000 },
      ),
      (err: unknown) => {
        assert.ok(err instanceof VdcError);
        assert.equal(err.code, 'GATEWAY_FORWARDER_FAILED');
        assert.match(err.message, /nsenter|No such file/);
        return true;
      },
    );
  });
});
