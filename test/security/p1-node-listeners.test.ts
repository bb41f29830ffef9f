/*
 * P1/P4: a running node agent listens on nothing. A real `vdc node serve` process is
 * started; its sockets are read from the kernel (/proc/PID/fd for the socket inodes it
 * holds, /proc/PID/net/tcp and tcp6 for their states) and the test fails on any TCP socket
 * of that process in LISTEN state, let alone one outside loopback.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { signEnrolGrant } from '../../src/ledger/index.ts';
import { tempDir } from '../support/ledger-fixture.ts';
import { startNodeGrid, waitFor } from '../support/node-fixture.ts';
import { VDC_BIN } from '../support/run-vdc.ts';

const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const RUNNER = new URL('../support/node-serve-runner.ts', import.meta.url).pathname;

/** `vdc node …` through bin/vdc once the command is wired there, else the test-only runner. */
function nodeServe(args: string[]): ChildProcess {
  // Read, not imported: the whole CLI need not load for this test.
  const program = readFileSync(new URL('../../src/cli/program.ts', import.meta.url), 'utf8');
  const wired = /addCommand\(nodeCommand\(/.test(program);
  const [cmd, argv] = wired ? [VDC_BIN, ['node', ...args]] : [NODE, [RUNNER, 'node', ...args]];
  return spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root' },
  });
}

interface KernelSocket {
  local: string;
  remote: string;
  state: string;
  inode: string;
}

function hexAddress(hex: string): string {
  const [ip, port] = hex.split(':') as [string, string];
  const bytes = Buffer.from(ip, 'hex');
  // /proc prints each 32-bit word in host (little-endian) order.
  for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  const text =
    bytes.length === 4
      ? [...bytes].join('.')
      : (bytes.toString('hex').match(/.{4}/g) ?? []).join(':');
  return `${text}:${Number.parseInt(port, 16)}`;
}

function tcpSockets(pid: number): KernelSocket[] {
  const rows: KernelSocket[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      rows.push({
        local: hexAddress(f[1]!),
        remote: hexAddress(f[2]!),
        state: f[3]!,
        inode: f[9]!,
      });
    }
  }
  return rows;
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the descriptor closed between listing and reading: nothing to see
    }
  }
  return inodes;
}

const LISTEN = '0A';
const ESTABLISHED = '01';

describe('P1: the node agent process listens on nothing', () => {
  test('a running vdc node serve holds no listening TCP socket', async (t) => {
    const grid = await startNodeGrid(t);
    // The detector itself works: this test process runs the ledger and the relay, and the
    // kernel shows their listening sockets as this process's.
    const ours = socketInodes(process.pid);
    const ourListeners = tcpSockets(process.pid).filter(
      (s) => ours.has(s.inode) && s.state === LISTEN,
    );
    assert.ok(
      ourListeners.some((s) => s.local === `127.0.0.1:${new URL(grid.relay.url).port}`),
      `the relay's listener was not found among ${JSON.stringify(ourListeners)}`,
    );
    const data = tempDir(t, 'vdc-node-proc-');
    const args = [
      'serve',
      '--data',
      data,
      '--ledger',
      grid.ledger.url,
      '--relay',
      grid.relay.url,
      '--farm',
      String(grid.farm),
      '--report-interval',
      '0.5',
    ];

    // First start without a grant: it makes and prints its key, then asks for the grant.
    const first = nodeServe(args);
    let firstErr = '';
    first.stderr!.on('data', (d) => (firstErr += d));
    const code = await new Promise<number | null>((resolve) => first.on('close', resolve));
    assert.equal(code, 2, firstErr);
    assert.match(firstErr, /NODE_GRANT_REQUIRED/);
    const key = /node key: ([0-9a-f]{64}) \(new\)/.exec(firstErr)?.[1];
    assert.ok(key, firstErr);

    const grantFile = join(data, 'grant.json');
    writeFileSync(
      grantFile,
      JSON.stringify(
        signEnrolGrant(grid.farmer.identity, {
          ledger: grid.ledgerId,
          farm: grid.farm,
          nodeKey: key,
          expires: Date.now() + 3_600_000,
        }),
      ),
    );
    const child = nodeServe([...args, '--grant', grantFile]);
    t.after(() => {
      child.kill('SIGTERM');
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    await waitFor(`the node to register (stderr: ${err.slice(-500)})`, () =>
      /registered/.test(out),
    );
    const pid = child.pid!;

    // It reached the relay and the ledger: connections out.
    const relayPort = Number(new URL(grid.relay.url).port);
    const own = await waitFor('an established connection to the relay', () => {
      const inodes = socketInodes(pid);
      const mine = tcpSockets(pid).filter((s) => inodes.has(s.inode));
      return mine.some((s) => s.state === ESTABLISHED && s.remote.endsWith(`:${relayPort}`))
        ? mine
        : undefined;
    });
    const listening = own.filter((s) => s.state === LISTEN);
    assert.deepEqual(
      listening,
      [],
      `the node listens on ${listening.map((s) => s.local).join(', ')}`,
    );

    child.kill('SIGTERM');
    const exit = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(exit, 0, err.slice(-1000));
  });
});
