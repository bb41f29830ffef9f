import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RelayServer } from '../relay/index.ts';
import { addTwin, connectTwin, newDirectory, tempDir } from '../relay/relay-test-kit.ts';
import type { CliIo } from './cli-io.ts';
import { relayCommand } from './relay-command.ts';

function testIo(): CliIo & { output: string[] } {
  const output: string[] = [];
  return {
    output,
    out: (s) => output.push(s),
    err: () => {},
    readStdin: async () => Buffer.alloc(0),
    stdinIsTty: false,
    env: {},
  };
}

test('`relay serve` runs a relay over the directory it is given, until stopped', async (t) => {
  const dir = newDirectory();
  const io = testIo();
  const stop = new AbortController();
  let url = '';
  let done: Promise<unknown> = Promise.resolve();
  t.after(() => stop.abort());
  const listening = new Promise<void>((resolve) => {
    const cmd = relayCommand(io, {
      openDirectory: async (ledgerUrl) => {
        assert.equal(ledgerUrl, 'http://127.0.0.1:1');
        return dir;
      },
      signal: stop.signal,
      onListening: (s) => {
        url = s.url;
        resolve();
      },
    });
    cmd.exitOverride();
    done = cmd.parseAsync(
      [
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--ledger',
        'http://127.0.0.1:1',
        '--data',
        tempDir(t),
        '--json',
      ],
      { from: 'user' },
    );
  });
  await listening;
  const printed = JSON.parse(io.output.join('')) as {
    url: string;
    signingKey: string;
    keyCreated: boolean;
  };
  assert.equal(printed.url, url);
  assert.equal(printed.keyCreated, true);
  assert.match(printed.signingKey, /^[0-9a-f]{64}$/);
  const a = addTwin(dir, 1);
  const b = addTwin(dir, 2);
  const ca = await connectTwin(t, url, a, dir);
  const cb = await connectTwin(t, url, b, dir);
  cb.handle((m) => m.body);
  assert.equal(await ca.request(2, 'via the command'), 'via the command');
  stop.abort();
  await done;
});

test('`relay serve` does not start without a ledger it can verify', async (t) => {
  const cmd = relayCommand(testIo(), { signal: AbortSignal.abort() });
  cmd.exitOverride();
  await assert.rejects(
    cmd.parseAsync(
      ['serve', '--listen', '127.0.0.1:0', '--ledger', 'http://127.0.0.1:1', '--data', tempDir(t)],
      { from: 'user' },
    ),
    { code: 'PEER_UNREACHABLE' },
  );
});

test('`relay serve` takes its rate and login limits from flags', async (t) => {
  const io = testIo();
  const stop = new AbortController();
  t.after(() => stop.abort());
  let done: Promise<unknown> = Promise.resolve();
  const server = await new Promise<RelayServer>((resolve) => {
    const cmd = relayCommand(io, {
      openDirectory: async () => newDirectory(),
      signal: stop.signal,
      onListening: resolve,
    });
    cmd.exitOverride();
    done = cmd.parseAsync(
      [
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--ledger',
        'http://127.0.0.1:1',
        '--data',
        tempDir(t),
        '--rate-messages',
        '7',
        '--rate-burst-messages',
        '70',
        '--rate-bytes',
        '300000',
        '--rate-burst-bytes',
        '3000000',
        '--rate-hard-factor',
        '3',
        '--max-unauthenticated-per-address',
        '4',
        '--json',
      ],
      { from: 'user' },
    );
  });
  const l = server.limits;
  assert.deepEqual(
    [
      l.rateMessagesPerSecond,
      l.rateBurstMessages,
      l.rateBytesPerSecond,
      l.rateBurstBytes,
      l.rateHardFactor,
      l.maxUnauthenticatedPerAddress,
    ],
    [7, 70, 300_000, 3_000_000, 3, 4],
  );
  const printed = JSON.parse(io.output.join('')) as { limits: Record<string, number> };
  assert.equal(printed.limits['rateMessagesPerSecond'], 7);
  stop.abort();
  await done;
});

test('`relay serve` refuses a limit that is not a positive integer, or that cannot work', async (t) => {
  const run = (flags: string[]) => {
    const cmd = relayCommand(testIo(), {
      openDirectory: async () => newDirectory(),
      signal: AbortSignal.abort(),
    });
    cmd.exitOverride();
    const base = ['serve', '--listen', '127.0.0.1:0', '--ledger', 'http://127.0.0.1:1'];
    return cmd.parseAsync([...base, '--data', tempDir(t), ...flags], { from: 'user' });
  };
  await assert.rejects(run(['--rate-messages', '0']), {
    code: 'USAGE',
    message: /--rate-messages/,
  });
  await assert.rejects(run(['--rate-bytes', 'lots']), { code: 'USAGE' });
  await assert.rejects(run(['--rate-burst-bytes', '1000']), {
    code: 'RELAY_LISTEN_INVALID',
    message: /rateBurstBytes/,
  });
});
