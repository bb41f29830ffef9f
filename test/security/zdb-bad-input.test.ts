import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../../src/core/errors.ts';
import { secureHash } from '../../src/zdb/index.ts';
import {
  rawExchange,
  resp,
  startTestZdb,
  type TestZdb,
  tempDir,
} from '../../src/zdb/zdb-test-kit.ts';
import { requireRoot } from '../support/requirements.ts';

/*
 * The bad-input list: each answers 0-db's error, keeps the connection where 0-db
 * does, never crashes the server and never changes stored data.
 */

const replyError = (text: string) => (err: unknown) =>
  err instanceof VdcError && err.code === 'ZDB_REPLY_ERROR' && err.message === text;

/** Stores a witness key; `unchanged` asserts the server still answers and the data is as it was. */
async function witness(z: TestZdb) {
  const c = await z.client();
  await c.command('SET', 'witness', 'intact');
  const size = await c.command('DBSIZE');
  return async () => {
    const d = await z.client();
    assert.equal(await d.command('PING'), 'PONG');
    assert.equal((await d.command('GET', 'witness'))?.toString(), 'intact');
    assert.equal(await d.command('DBSIZE'), size);
  };
}

describe('zdb refuses malformed RESP and closes the connection, as 0-db does', () => {
  const cases: [string, Buffer, string][] = [
    [
      'a bad bulk length',
      Buffer.from('*2\r\n$3\r\nGET\r\n$abc\r\n'),
      '-Malformed query string\r\n',
    ],
    [
      'a negative bulk size',
      Buffer.from('*2\r\n$3\r\nGET\r\n$-10\r\n'),
      '-Malformed query string\r\n',
    ],
    ['a negative array size', Buffer.from('*-3\r\n'), '-Malformed request, array expected\r\n'],
    [
      'a 1 GiB bulk header',
      Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n'),
      '-Payload too big\r\n',
    ],
    [
      'a value over 8 MiB',
      Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${8 * 1024 * 1024 + 1}\r\n`),
      '-Payload too big\r\n',
    ],
    [
      'binary garbage',
      Buffer.from([0xff, 0x00, 0x13, 0x37, 0x0d, 0x0a, 0x2a]),
      '-Malformed request, array expected\r\n',
    ],
    ['an inline command', Buffer.from('SET k v\r\n'), '-Malformed request, array expected\r\n'],
    ['an empty array', Buffer.from('*0\r\n'), '-Missing arguments\r\n'],
    ['too many arguments', Buffer.from('*5000\r\n'), '-Too many arguments\r\n'],
    ['a bulk without its CRLF', Buffer.from('*1\r\n$4\r\nPINGXX'), '-Malformed query string\r\n'],
  ];
  for (const [name, bytes, expected] of cases) {
    test(`refuses ${name}`, async (t) => {
      const z = await startTestZdb(t);
      const unchanged = await witness(z);
      const r = await rawExchange(z.port, bytes);
      assert.equal(r.reply, expected);
      assert.equal(r.closed, true);
      await unchanged();
    });
  }

  test('a truncated frame is never executed, and the server keeps serving', async (t) => {
    const z = await startTestZdb(t);
    const unchanged = await witness(z);
    const full = resp('SET', 'half', 'x'.repeat(1000));
    const r = await rawExchange(z.port, full.subarray(0, full.length - 10), 200);
    assert.equal(r.reply, '');
    await unchanged();
    const c = await z.client();
    assert.equal(await c.command('EXISTS', 'half'), 0);
  });

  test('requests before a malformed one in the same write are answered first', async (t) => {
    const z = await startTestZdb(t);
    const r = await rawExchange(
      z.port,
      Buffer.concat([resp('PING'), Buffer.from('*1\r\n%oops\r\n')]),
    );
    assert.equal(r.reply, '+PONG\r\n-Malformed query string\r\n');
    assert.equal(r.closed, true);
  });
});

describe('zdb refuses bad requests and keeps the connection usable', () => {
  test('unknown commands, wrong arity, oversized keys', async (t) => {
    const z = await startTestZdb(t);
    const unchanged = await witness(z);
    const c = await z.client();
    await assert.rejects(c.command('FLUSHALL'), replyError('Command not supported'));
    await assert.rejects(c.command('GET', 'a', 'b'), replyError('Unexpected arguments'));
    await assert.rejects(c.command('SET', 'witness'), replyError('Unexpected arguments'));
    await assert.rejects(c.command('SET', 'x'.repeat(256), 'v'), replyError('Key too large'));
    await assert.rejects(c.command('DEL', 'x'.repeat(256)), replyError('Invalid key'));
    await assert.rejects(
      c.command('SET', 'witness', 'changed', 'x', 'y'),
      replyError('Unexpected arguments'),
    );
    assert.equal(await c.command('PING'), 'PONG');
    await unchanged();
  });

  test('a private namespace without its password, a wrong password, a stale SECURE challenge', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'adm' });
    const admin = await z.client();
    await admin.command('AUTH', 'adm');
    await admin.command('NSNEW', 'priv');
    await admin.command('NSSET', 'priv', 'password', 'pw');
    await admin.command('NSSET', 'priv', 'public', '0');
    await admin.command('SELECT', 'priv', 'pw');
    await admin.command('SET', 'secret', 'value');
    const c = await z.client();
    await assert.rejects(
      c.command('SELECT', 'priv'),
      replyError('Namespace protected and private'),
    );
    await assert.rejects(c.command('SELECT', 'priv', 'wrong'), replyError('Access denied'));
    await assert.rejects(
      c.command('SELECT', 'priv', 'SECURE', secureHash('0011223344556677', 'pw')),
      replyError('No CHALLENGE requested, secure authentication not available'),
    );
    const ch = String(await c.command('AUTH', 'SECURE', 'CHALLENGE'));
    await assert.rejects(
      c.command('SELECT', 'priv', 'SECURE', secureHash(ch, 'nope')),
      replyError('Access denied'),
    );
    // the challenge is spent: the right proof for it is now stale
    await assert.rejects(
      c.command('SELECT', 'priv', 'SECURE', secureHash(ch, 'pw')),
      replyError('No CHALLENGE requested, secure authentication not available'),
    );
    await assert.rejects(c.command('AUTH', 'wrong'), replyError('Access denied'));
    await assert.rejects(
      c.command('NSSET', 'priv', 'password', '*'),
      replyError('Permission denied'),
    );
    // still in default: nothing of priv is visible, nothing changed
    assert.equal(await c.command('GET', 'secret'), null);
    assert.equal((await admin.command('GET', 'secret'))?.toString(), 'value');
    assert.match(String(await admin.command('NSINFO', 'priv')), /password: yes/);
  });

  test('--secure refuses plain passwords and accepts SECURE proofs', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'adm', secure: true });
    const c = await z.client();
    await assert.rejects(
      c.command('AUTH', 'adm'),
      replyError('Plain password refused: this server accepts only SECURE authentication'),
    );
    await assert.rejects(c.command('NSNEW', 'x'), replyError('Permission denied'));
    const ch = String(await c.command('AUTH', 'SECURE', 'CHALLENGE'));
    assert.equal(await c.command('AUTH', 'SECURE', secureHash(ch, 'adm')), 'OK');
  });

  test('NSSET mode on a namespace in use is refused and changes nothing', async (t) => {
    const z = await startTestZdb(t);
    const c = await z.client();
    await c.command('NSNEW', 'busy');
    await c.command('SELECT', 'busy');
    await c.command('SET', 'k', 'v');
    await assert.rejects(
      c.command('NSSET', 'busy', 'mode', 'seq'),
      replyError('Cannot change mode of used namespace'),
    );
    assert.match(String(await c.command('NSINFO', 'busy')), /mode: userkey/);
    assert.equal((await c.command('GET', 'k'))?.toString(), 'v');
  });

  test('a full namespace refuses the write and keeps what it has', async (t) => {
    const z = await startTestZdb(t, { maxsize: 100 });
    const c = await z.client();
    await c.command('SET', 'a', 'x'.repeat(90));
    await assert.rejects(
      c.command('SET', 'b', 'x'.repeat(20)),
      replyError('No space left on this namespace'),
    );
    assert.equal(await c.command('EXISTS', 'b'), 0);
    assert.equal(((await c.command('GET', 'a')) as Buffer).length, 90);
    assert.equal(await c.command('DBSIZE'), 1);
  });
});

describe('zdb on a full disk', () => {
  test('answers Cannot write data right now, keeps earlier data, and restarts clean', async (t) => {
    if (!requireRoot(t)) return;
    const mnt = mkdtempSync(join(tmpdir(), 'vdc-zdb-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    const servers: TestZdb[] = [];
    try {
      const settings = { dataPath: join(mnt, 'data'), indexPath: join(mnt, 'index') };
      const z = await startTestZdb(t, settings, tempDir(t));
      servers.push(z);
      const c = await z.client();
      const stored: string[] = [];
      let refused = 0;
      for (let i = 0; i < 100 && refused === 0; i++) {
        try {
          await c.command('SET', `k${i}`, Buffer.alloc(8000, i));
          stored.push(`k${i}`);
        } catch (err) {
          assert.ok(replyError('Cannot write data right now')(err), String(err));
          refused++;
        }
      }
      assert.equal(refused, 1);
      assert.ok(stored.length > 5);
      assert.equal(await c.command('DBSIZE'), stored.length);
      for (const k of stored) assert.equal(((await c.command('GET', k)) as Buffer).length, 8000);
      assert.equal(await c.command('PING'), 'PONG');
      await z.server.close();
      const again = await startTestZdb(t, settings, tempDir(t));
      servers.push(again);
      const d = await again.client();
      assert.equal(await d.command('DBSIZE'), stored.length);
      for (const k of stored)
        assert.deepEqual(await d.command('GET', k), Buffer.alloc(8000, Number(k.slice(1))));
    } finally {
      for (const z of servers) await z.server.close();
      execFileSync('umount', ['-l', mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});

describe('zdb bounds what one client can make it hold', () => {
  test('pipelined GETs of 8 MiB values are all answered, in order, a bounded batch at a time', async (t) => {
    const z = await startTestZdb(t);
    const c = await z.client();
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    big[0] = 1;
    await c.command('SET', 'big', big);
    const cmds: string[][] = [];
    for (let i = 0; i < 20; i++) cmds.push(['GET', 'big'], ['EXISTS', 'big']);
    const replies = await c.pipeline(cmds);
    for (let i = 0; i < 20; i++) {
      assert.ok(big.equals(replies[2 * i] as Buffer), `reply ${i}`);
      assert.equal(replies[2 * i + 1], 1);
    }
    const other = await z.client();
    assert.equal(await other.command('PING'), 'PONG');
  });

  test('an MGET whose reply would pass 64 MiB is refused; a smaller one is served', async (t) => {
    const z = await startTestZdb(t);
    const c = await z.client();
    const big = Buffer.alloc(8 * 1024 * 1024, 1);
    for (let i = 0; i < 9; i++) await c.command('SET', `b${i}`, big);
    const keys = Array.from({ length: 9 }, (_, i) => `b${i}`);
    await assert.rejects(
      c.command('MGET', ...keys),
      replyError('MGET reply too large (more than 64 MiB): ask for fewer keys'),
    );
    const seven = (await c.command('MGET', ...keys.slice(0, 7))) as Buffer[];
    assert.equal(seven.length, 7);
    assert.ok(seven.every((v) => v.equals(big)));
  });
});
