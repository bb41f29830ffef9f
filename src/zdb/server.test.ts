import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import type { ZdbClient } from './client.ts';
import { secureHash } from './secure-auth.ts';
import { startTestZdb, tempDir } from './zdb-test-kit.ts';

const replyError = (text: string) => (err: unknown) =>
  err instanceof VdcError && err.code === 'ZDB_REPLY_ERROR' && err.message === text;

const str = (v: unknown) => (Buffer.isBuffer(v) ? v.toString() : v);

async function scanAll(c: ZdbClient, cmd = 'SCAN'): Promise<string[]> {
  const keys: string[] = [];
  let cursor: Buffer | undefined;
  for (;;) {
    let r: [Buffer, [Buffer, number, number][]];
    try {
      r = (await (cursor ? c.command(cmd, cursor) : c.command(cmd))) as typeof r;
    } catch (err) {
      if (err instanceof VdcError && err.message === 'No more data') return keys;
      throw err;
    }
    for (const [k] of r[1]) keys.push(k.toString());
    cursor = r[0];
  }
}

describe('zdb server: dataset commands', () => {
  test('SET replies with the key, nil when unchanged; GET, EXISTS, LENGTH, KEYTIME, CHECK, DEL', async (t) => {
    const z = await startTestZdb(t);
    const c = await z.client();
    assert.equal(await c.command('PING'), 'PONG');
    assert.equal(str(await c.command('SET', 'k', 'hello')), 'k');
    assert.equal(await c.command('SET', 'k', 'hello'), null);
    assert.equal(str(await c.command('SETX', 'k', 'hello2')), 'k');
    assert.equal(str(await c.command('GET', 'k')), 'hello2');
    assert.equal(await c.command('EXISTS', 'k'), 1);
    assert.equal(await c.command('LENGTH', 'k'), 6);
    assert.ok(Math.abs(((await c.command('KEYTIME', 'k')) as number) - Date.now() / 1000) < 60);
    assert.equal(await c.command('CHECK', 'k'), 1);
    assert.equal(await c.command('GET', 'nope'), null);
    assert.equal(await c.command('CHECK', 'nope'), null);
    assert.equal(await c.command('LENGTH', 'nope'), null);
    assert.equal(await c.command('DEL', 'k'), 'OK');
    await assert.rejects(c.command('DEL', 'k'), replyError('Key not found'));
    assert.equal(await c.command('EXISTS', 'k'), 0);
    assert.equal(await c.command('GET', 'k'), null);
    assert.equal(await c.command('DBSIZE'), 0);
  });

  test('a pipeline of writes and reads is answered in order, reads seeing the writes before them', async (t) => {
    const c = await (await startTestZdb(t)).client();
    const cmds: (string | Buffer)[][] = [];
    for (let i = 0; i < 200; i++) cmds.push(['SET', `p${i}`, `v${i}`], ['GET', `p${i}`]);
    cmds.push(['GET', ''], ['DBSIZE']);
    const replies = await c.pipeline(cmds);
    for (let i = 0; i < 200; i++) {
      assert.equal(str(replies[2 * i]), `p${i}`);
      assert.equal(str(replies[2 * i + 1]), `v${i}`);
    }
    assert.ok(replyError('Invalid argument')(replies[400]));
    assert.equal(replies[401], 200);
  });

  test('MGET answers each key in order, nil for missing ones', async (t) => {
    const c = await (await startTestZdb(t)).client();
    await c.command('SET', 'a', '1');
    await c.command('SET', 'c', '3');
    const r = (await c.command('MGET', 'a', 'b', 'c')) as (Buffer | null)[];
    assert.deepEqual(r.map(str), ['1', null, '3']);
    await assert.rejects(c.command('MGET'), replyError('Invalid arguments'));
    await assert.rejects(c.command('MGET', 'a', 'x'.repeat(256)), replyError('Invalid key'));
  });

  test('arity, empty arguments, key size and unknown commands answer 0-db errors', async (t) => {
    const c = await (await startTestZdb(t)).client();
    await assert.rejects(c.command('GET'), replyError('Unexpected arguments'));
    await assert.rejects(c.command('GET', ''), replyError('Invalid argument'));
    await assert.rejects(c.command('SET', 'k'), replyError('Unexpected arguments'));
    await assert.rejects(c.command('SET', '', 'v'), replyError('Invalid argument, key needed'));
    await assert.rejects(c.command('SET', 'x'.repeat(256), 'v'), replyError('Key too large'));
    assert.equal(str(await c.command('SET', 'x'.repeat(255), 'v')), 'x'.repeat(255));
    await assert.rejects(c.command('GET', 'x'.repeat(256)), replyError('Invalid key'));
    await assert.rejects(c.command('FOOBAR'), replyError('Command not supported'));
    await assert.rejects(
      c.command('MIRROR'),
      replyError('Replication (MIRROR/MASTER) is not supported by this server'),
    );
    await assert.rejects(
      c.command('MASTER'),
      replyError('Replication (MIRROR/MASTER) is not supported by this server'),
    );
    assert.equal(await c.command('PING'), 'PONG');
  });

  test('SET with a timestamp is for admins and sets KEYTIME', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'root' });
    const c = await z.client();
    await assert.rejects(c.command('SET', 'k', 'v', '1234'), replyError('Permission denied'));
    await c.command('AUTH', 'root');
    assert.equal(str(await c.command('SET', 'k', 'v', '1234')), 'k');
    assert.equal(await c.command('KEYTIME', 'k'), 1234);
  });

  test('HISTORY walks every earlier version back to the first', async (t) => {
    const c = await (await startTestZdb(t)).client();
    for (const v of ['v1', 'v2', 'v3']) await c.command('SET', 'k', v);
    const seen: string[] = [];
    let r = (await c.command('HISTORY', 'k')) as [Buffer | null, Buffer, Buffer];
    seen.push(r[2].toString());
    while (r[0]) {
      r = (await c.command('HISTORY', 'k', r[0])) as typeof r;
      seen.push(r[2].toString());
    }
    assert.deepEqual(seen, ['v3', 'v2', 'v1']);
    await assert.rejects(c.command('HISTORY', 'nope'), replyError('Key not found'));
    await assert.rejects(c.command('HISTORY', 'k', Buffer.alloc(6)), replyError('No more history'));
    await assert.rejects(c.command('HISTORY', 'k', 'bad'), replyError('Invalid arguments'));
    await c.command('SET', 'other', 'x');
    const cur = (await c.command('KEYCUR', 'other')) as Buffer;
    await assert.rejects(
      c.command('HISTORY', 'k', cur),
      replyError('Invalid arguments (invalid key)'),
    );
  });

  test('SCAN, SCANX and RSCAN walk live keys across data-file rotation; KEYCUR and KSCAN', async (t) => {
    const z = await startTestZdb(t, { datasize: 2048 });
    const c = await z.client();
    const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);
    for (const k of keys) await c.command('SET', k, 'v'.repeat(50));
    await c.command('DEL', 'key-5');
    await c.command('SET', 'key-7', 'changed');
    const expected = keys.filter((k) => k !== 'key-5' && k !== 'key-7').concat('key-7');
    assert.deepEqual(await scanAll(c), expected);
    assert.deepEqual(await scanAll(c, 'SCANX'), expected);
    assert.deepEqual(await scanAll(c, 'RSCAN'), [...expected].reverse());
    const info = String(str(await c.command('NSINFO', 'default')));
    assert.match(info, /entries: 299/);
    const cur = (await c.command('KEYCUR', 'key-100')) as Buffer;
    const after = (await c.command('SCAN', cur)) as [Buffer, [Buffer][]];
    assert.equal(after[1][0]![0].toString(), 'key-101');
    await assert.rejects(c.command('SCAN', 'garbage'), replyError('Invalid key format'));
    const ks = (await c.command('KSCAN', 'key-29')) as [Buffer, Buffer[]];
    assert.deepEqual(ks[1].map(str).sort(), [
      'key-29',
      'key-290',
      'key-291',
      'key-292',
      'key-293',
      'key-294',
      'key-295',
      'key-296',
      'key-297',
      'key-298',
      'key-299',
    ]);
    await assert.rejects(c.command('KSCAN', 'zzz'), replyError('No keys match'));
  });

  test('an empty namespace answers SCAN and RSCAN with No more data', async (t) => {
    const c = await (await startTestZdb(t)).client();
    await assert.rejects(c.command('SCAN'), replyError('No more data'));
    await assert.rejects(c.command('RSCAN'), replyError('No more data'));
  });

  test('restart keeps every key, overwrite and delete; RELOAD too', async (t) => {
    const dir = tempDir(t);
    const first = await startTestZdb(t, {}, dir);
    let c = await first.client();
    await c.command('NSNEW', 'ns');
    await c.command('SELECT', 'ns');
    for (let i = 0; i < 100; i++) await c.command('SET', `k${i}`, `v${i}`);
    await c.command('SET', 'k1', 'new');
    await c.command('DEL', 'k2');
    await first.server.close();
    const second = await startTestZdb(t, {}, dir);
    c = await second.client();
    await c.command('SELECT', 'ns');
    assert.equal(str(await c.command('GET', 'k1')), 'new');
    assert.equal(await c.command('GET', 'k2'), null);
    assert.equal(str(await c.command('GET', 'k99')), 'v99');
    assert.equal(await c.command('DBSIZE'), 99);
    assert.equal(await c.command('RELOAD', 'ns'), 'OK');
    assert.equal(str(await c.command('GET', 'k50')), 'v50');
  });
});

describe('zdb server: sequential mode', () => {
  test('--mode seq hands out 4-byte little-endian ids and only updates existing ones', async (t) => {
    const c = await (await startTestZdb(t, { mode: 'seq' })).client();
    const id0 = (await c.command('SET', '', 'first')) as Buffer;
    const id1 = (await c.command('SET', '', 'second')) as Buffer;
    assert.deepEqual(id0, Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(id1, Buffer.from([1, 0, 0, 0]));
    assert.equal(str(await c.command('GET', id1)), 'second');
    assert.deepEqual(await c.command('SET', id0, 'updated'), id0);
    assert.equal(str(await c.command('GET', id0)), 'updated');
    await assert.rejects(
      c.command('SET', Buffer.from([9, 0, 0, 0]), 'x'),
      replyError('Invalid key, only update authorized'),
    );
    await c.command('DEL', id1);
    assert.deepEqual(await c.command('SET', '', 'third'), Buffer.from([2, 0, 0, 0]));
    await assert.rejects(
      c.command('KSCAN', 'a'),
      replyError("Index running mode doesn't support this feature"),
    );
  });

  test('without --mode a fresh namespace can switch to seq; a used one cannot', async (t) => {
    const c = await (await startTestZdb(t)).client();
    await c.command('NSNEW', 's');
    assert.equal(await c.command('NSSET', 's', 'mode', 'seq'), 'OK');
    await c.command('SELECT', 's');
    assert.deepEqual(await c.command('SET', '', 'x'), Buffer.alloc(4));
    await assert.rejects(
      c.command('NSSET', 's', 'mode', 'user'),
      replyError('Cannot change mode of used namespace'),
    );
    await assert.rejects(
      c.command('NSSET', 's', 'mode', 'other'),
      replyError('Cannot change mode of used namespace'),
    );
    assert.match(String(str(await c.command('NSINFO', 's'))), /mode: sequential/);
  });

  test('with --mode set, NSSET mode is refused', async (t) => {
    const c = await (await startTestZdb(t, { mode: 'user' })).client();
    await c.command('NSNEW', 's');
    await assert.rejects(
      c.command('NSSET', 's', 'mode', 'seq'),
      replyError('This server instance is configured to use a single runtime mode'),
    );
  });
});

describe('zdb server: namespaces and authentication', () => {
  test('namespaces are isolated; NSLIST, NSINFO, NSDEL', async (t) => {
    const z = await startTestZdb(t);
    const a = await z.client();
    const b = await z.client();
    assert.equal(await a.command('NSNEW', 'one'), 'OK');
    await assert.rejects(a.command('NSNEW', 'one'), replyError('This namespace is not available'));
    await assert.rejects(a.command('NSNEW', '../x'), replyError('This name is not allowed'));
    await a.command('SELECT', 'one');
    await a.command('SET', 'k', 'in-one');
    await b.command('SET', 'k', 'in-default');
    assert.equal(str(await a.command('GET', 'k')), 'in-one');
    assert.equal(str(await b.command('GET', 'k')), 'in-default');
    assert.deepEqual(((await a.command('NSLIST')) as Buffer[]).map(str).sort(), ['default', 'one']);
    await assert.rejects(
      a.command('NSDEL', 'one'),
      replyError("Cannot remove namespace you're currently using."),
    );
    await assert.rejects(
      b.command('NSDEL', 'default'),
      replyError('Cannot remove default namespace'),
    );
    await assert.rejects(b.command('NSINFO', 'zzz'), replyError('Namespace not found'));
    assert.equal(await b.command('NSDEL', 'one'), 'OK');
    await assert.rejects(
      a.command('GET', 'k'),
      replyError('Your active namespace is not available anymore (probably removed).'),
    );
  });

  test('a private namespace needs its password; public ones are read-only without it', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'admin' });
    const admin = await z.client();
    await admin.command('AUTH', 'admin');
    await admin.command('NSNEW', 'p');
    await admin.command('NSSET', 'p', 'password', 'secret');
    const u = await z.client();
    assert.equal(await u.command('SELECT', 'p'), 'OK'); // public: read-only
    await assert.rejects(u.command('SET', 'k', 'v'), replyError('Namespace is in read-only mode'));
    await admin.command('NSSET', 'p', 'public', '0');
    await assert.rejects(u.command('SELECT', 'p'), replyError('Namespace protected and private'));
    await assert.rejects(u.command('SELECT', 'p', 'wrong'), replyError('Access denied'));
    assert.equal(await u.command('SELECT', 'p', 'secret'), 'OK');
    assert.equal(str(await u.command('SET', 'k', 'v')), 'k');
    await assert.rejects(u.command('NSNEW', 'x'), replyError('Permission denied'));
    await assert.rejects(u.command('NSSET', 'p', 'worm', '1'), replyError('Permission denied'));
    await assert.rejects(u.command('AUTH', 'nope'), replyError('Access denied'));
  });

  test('SECURE: AUTH and SELECT by challenge; a used challenge is refused', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'admin' });
    const c = await z.client();
    const ch = String(await c.command('AUTH', 'SECURE', 'CHALLENGE'));
    assert.match(ch, /^[0-9a-f]{16}$/);
    await assert.rejects(c.command('AUTH', 'SECURE', 'abc'), replyError('Invalid hash length'));
    assert.equal(await c.command('AUTH', 'SECURE', secureHash(ch, 'admin')), 'OK');
    // the challenge was used: the same proof is refused (a replay)
    await assert.rejects(
      c.command('AUTH', 'SECURE', secureHash(ch, 'admin')),
      replyError('No CHALLENGE requested, secure authentication not available'),
    );
    const ch2 = String(await c.command('AUTH', 'SECURE', 'CHALLENGE'));
    await assert.rejects(
      c.command('AUTH', 'SECURE', secureHash(ch2, 'wrong')),
      replyError('Access denied'),
    );
    await assert.rejects(
      c.command('AUTH', 'SECURE', secureHash(ch2, 'admin')),
      replyError('No CHALLENGE requested, secure authentication not available'),
    );
    await c.command('NSNEW', 'p');
    await c.command('NSSET', 'p', 'password', 'pw');
    await c.command('NSSET', 'p', 'public', '0');
    const u = await z.client();
    await u.select('p', 'pw', true);
    assert.equal(str(await u.command('SET', 'x', 'y')), 'x');
    const ch3 = String(await u.command('AUTH', 'SECURE', 'CHALLENGE'));
    await assert.rejects(
      u.command('SELECT', 'p', 'SECURE', secureHash(ch3, 'wrong')),
      replyError('Access denied'),
    );
    await assert.rejects(
      u.command('SELECT', 'p', 'SECURE', secureHash(ch3, 'pw')),
      replyError('No CHALLENGE requested, secure authentication not available'),
    );
  });

  test('--protect: default is read-only until selected with the admin password', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'admin', protect: true });
    const c = await z.client();
    await assert.rejects(c.command('SET', 'k', 'v'), replyError('Namespace is in read-only mode'));
    assert.equal(await c.command('SELECT', 'default', 'admin'), 'OK');
    assert.equal(str(await c.command('SET', 'k', 'v')), 'k');
  });

  test('NSSET maxsize fills up; worm, lock and freeze refuse what they must', async (t) => {
    const c = await (await startTestZdb(t)).client();
    await c.command('NSNEW', 'n');
    await c.command('NSSET', 'n', 'maxsize', '10');
    await c.command('SELECT', 'n');
    await c.command('SET', 'a', '12345678');
    await assert.rejects(
      c.command('SET', 'b', '123'),
      replyError('No space left on this namespace'),
    );
    assert.equal(str(await c.command('SET', 'a', '1234567890')), 'a'); // replacing may use the freed space
    assert.equal(str(await c.command('GET', 'a')), '1234567890');
    await c.command('NSSET', 'n', 'maxsize', '0');
    await c.command('NSSET', 'n', 'worm', '1');
    await assert.rejects(
      c.command('DEL', 'a'),
      replyError('Cannot delete a key when namespace is in worm mode'),
    );
    await assert.rejects(
      c.command('SET', 'a', 'x'),
      replyError('Cannot update a key when namespace is in worm mode'),
    );
    await c.command('NSSET', 'n', 'worm', '0');
    await c.command('NSSET', 'n', 'lock', '1');
    await assert.rejects(
      c.command('SET', 'z', 'x'),
      replyError('Namespace is temporarily locked (read-only)'),
    );
    assert.equal(str(await c.command('GET', 'a')), '1234567890');
    await c.command('NSSET', 'n', 'lock', '0');
    await c.command('NSSET', 'n', 'freeze', '1');
    await assert.rejects(
      c.command('GET', 'a'),
      replyError('Namespace is temporarily frozen (read-write disabled)'),
    );
    await c.command('NSSET', 'n', 'freeze', '0');
    await assert.rejects(c.command('NSSET', 'n', 'color', '1'), replyError('Invalid property'));
    await assert.rejects(
      c.command('NSSET', 'default', 'worm', '1'),
      replyError('Cannot update default namespace'),
    );
  });

  test('FLUSH empties a private namespace and refuses a public one', async (t) => {
    const c = await (await startTestZdb(t)).client();
    await assert.rejects(c.command('FLUSH'), replyError('Flushing public namespace denied'));
    await c.command('NSNEW', 'f');
    await c.command('NSSET', 'f', 'password', 'pw');
    await c.command('NSSET', 'f', 'public', '0');
    await c.command('SELECT', 'f', 'pw');
    await c.command('SET', 'k', 'v');
    assert.equal(await c.command('FLUSH'), 'OK');
    assert.equal(await c.command('DBSIZE'), 0);
    assert.equal(await c.command('GET', 'k'), null);
  });
});

describe('zdb server: system commands', () => {
  test('TIME, INFO, NSJUMP, INDEX DIRTY, DATA RAW, HOOKS', async (t) => {
    const c = await (await startTestZdb(t)).client();
    const [sec, usec] = ((await c.command('TIME')) as Buffer[]).map((b) => Number(b.toString()));
    assert.ok(Math.abs(sec! - Date.now() / 1000) < 60 && usec! >= 0 && usec! < 1e6);
    assert.match(String(str(await c.command('INFO'))), /server_name: 0-db \(zdb\)/);
    await c.command('SET', 'k', 'v');
    assert.deepEqual(await c.command('INDEX', 'DIRTY'), [0]);
    assert.equal(await c.command('NSJUMP'), 'OK');
    await c.command('SET', 'k2', 'v2');
    assert.deepEqual(await c.command('INDEX', 'DIRTY'), [0, 1]);
    assert.equal(await c.command('INDEX', 'DIRTY', 'RESET'), 'OK');
    assert.deepEqual(await c.command('INDEX', 'DIRTY'), []);
    const raw = (await c.command('DATA', 'RAW', '0', '16')) as [
      Buffer,
      number,
      number,
      number,
      Buffer,
    ];
    assert.equal(raw[0].toString(), 'k');
    assert.equal(raw[4].toString(), 'v');
    await assert.rejects(
      c.command('DATA', 'RAW', '0', '17'),
      replyError('Invalid offset or corrupted data'),
    );
    assert.deepEqual(await c.command('HOOKS'), []);
  });

  test('WAIT returns when another client runs the command, or times out', async (t) => {
    const z = await startTestZdb(t);
    const waiter = await z.client();
    const writer = await z.client();
    const waited = waiter.command('WAIT', 'SET', '5000');
    const after = waiter.command('PING'); // queued behind the WAIT
    await new Promise((r) => setTimeout(r, 50));
    await writer.command('SET', 'k', 'v');
    assert.equal(await waited, 'SET');
    assert.equal(await after, 'PONG');
    await assert.rejects(waiter.command('WAIT', 'GET', '100'), replyError('Timeout'));
    await assert.rejects(waiter.command('WAIT', 'NOPE'), replyError('Unknown command to watch'));
    await assert.rejects(waiter.command('WAIT', 'SET', '10'), replyError('Invalid timeout'));
  });

  test('STOP is admin-only and stops the server', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'a' });
    const c = await z.client();
    await assert.rejects(c.command('STOP'), replyError('Permission denied'));
    await c.command('AUTH', 'a');
    assert.equal(await c.command('STOP'), 'Stopping');
    await z.server.closed;
  });
});
