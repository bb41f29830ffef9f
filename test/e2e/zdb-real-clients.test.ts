import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisCli, startTestZdb } from '../../src/zdb/zdb-test-kit.ts';
import { requireCommand } from '../support/requirements.ts';

/* zdb driven by the clients 0-db users have: redis-cli, redis-benchmark and ioredis. */

function benchmark(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-benchmark',
      ['-h', '127.0.0.1', '-p', String(port), '--csv', ...args],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
}

describe('zdb with redis-cli', () => {
  test('every basic command answers as 0-db does', async (t) => {
    if (!requireCommand(t, 'redis-cli')) return;
    const z = await startTestZdb(t);
    const cli = (...a: string[]) => redisCli(z.port, a);
    assert.equal(await cli('PING'), 'PONG\n');
    assert.equal(await cli('SET', 'hello', 'world'), 'hello\n');
    assert.equal(await cli('SET', 'hello', 'world'), '\n'); // nil: unchanged
    assert.equal(await cli('GET', 'hello'), 'world\n');
    assert.equal(await cli('EXISTS', 'hello'), '1\n');
    assert.equal(await cli('DBSIZE'), '1\n');
    assert.equal(await cli('NSNEW', 'cli'), 'OK\n');
    assert.match(await cli('NSLIST'), /default\ncli\n/);
    assert.match(await cli('NSINFO', 'cli'), /name: cli/);
    assert.equal(await cli('DEL', 'hello'), 'OK\n');
    assert.match(await cli('DEL', 'hello'), /^Key not found\n/);
    assert.match(await cli('NOPE'), /^Command not supported\n/);
    assert.match(await cli('INFO'), /server_name: 0-db \(zdb\)/);
  });

  test('a redis-cli session keeps its SELECT across commands, with binary values', async (t) => {
    if (!requireCommand(t, 'redis-cli')) return;
    const z = await startTestZdb(t);
    await redisCli(z.port, ['NSNEW', 'sess']);
    const out = await redisCli(z.port, [], 'SELECT sess\nSET k "a\\x00b"\nGET k\nDBSIZE\n');
    assert.equal(out, 'OK\nk\na\x00b\n1\n');
  });

  test('the rest of the command set through one redis-cli session', async (t) => {
    if (!requireCommand(t, 'redis-cli')) return;
    const z = await startTestZdb(t, { datasize: 1024 });
    const script = [
      'SET a 1',
      'SET a 2',
      'MGET a nope',
      'LENGTH a',
      'CHECK a',
      'EXISTS nope',
      'NSNEW p',
      'NSSET p password pw',
      'NSSET p public 0',
      'SELECT p',
      'SELECT p pw',
      'SET inp v',
      'DBSIZE',
      'NSJUMP',
      'SET inp2 v2',
      'INDEX DIRTY',
      'SELECT default',
      'GET inp',
      'RSCAN',
      'WAIT SET 100',
      'NSINFO p',
      'SETX b 3',
      'DEL b',
      'GET b',
    ].join('\n');
    const out = await redisCli(z.port, [], `${script}\n`);
    const lines = out.split('\n');
    const expectInOrder = [
      'a',
      'a',
      '2',
      '',
      '1',
      '1',
      '0',
      'OK',
      'OK',
      'OK',
      'Namespace protected and private',
      'OK',
      'inp',
      '1',
      'OK',
      'inp2',
      '0',
      '1',
      'OK',
    ];
    let at = 0;
    for (const want of expectInOrder) {
      const found = lines.indexOf(want, at);
      assert.ok(found >= 0, `missing ${JSON.stringify(want)} after line ${at} in:\n${out}`);
      at = found + 1;
    }
    assert.match(out, /Timeout/);
    assert.match(out, /name: p\n/);
    assert.match(out, /password: yes/);
    assert.match(out, /\nb\nOK\n/);
  });
});

describe('zdb with redis-benchmark', () => {
  test('SET and GET with 50 clients, plain and pipelined, all succeed and data reads back', async (t) => {
    if (!requireCommand(t, 'redis-benchmark')) return;
    const z = await startTestZdb(t);
    for (const extra of [[], ['-P', '16']]) {
      const csv = await benchmark(z.port, [
        '-t',
        'set,get',
        '-n',
        '20000',
        '-c',
        '50',
        '-r',
        '5000',
        ...extra,
      ]);
      const rows = csv
        .trim()
        .split('\n')
        .filter((l) => /^"(SET|GET)"/.test(l));
      assert.equal(rows.length, 2, csv);
      for (const r of rows) assert.ok(Number(r.split(',')[1]!.replace(/"/g, '')) > 0, r);
    }
    const c = await z.client();
    const n = (await c.command('DBSIZE')) as number;
    assert.ok(n > 1000 && n <= 5000, `DBSIZE ${n}`);
    const scan = await c.scan();
    assert.ok(scan && scan.keys.length > 0);
    assert.equal((await c.get(scan.keys[0]![0]))?.length, 3); // redis-benchmark's 3-byte value
  });
});

describe('zdb with ioredis', () => {
  for (const protocol of [2, 3] as const)
    test(`commands, binary keys and a pipeline (ioredis asking for RESP${protocol})`, async (t) => {
      const z = await startTestZdb(t);
      const r = new Redis({
        host: '127.0.0.1',
        port: z.port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        protocol,
      });
      t.after(() => r.disconnect());
      await r.connect();
      assert.equal(await r.ping(), 'PONG');
      assert.equal(await r.set('k', 'v'), 'k');
      assert.equal(await r.get('k'), 'v');
      const bin = Buffer.from([0, 1, 2, 255]);
      assert.deepEqual(await r.callBuffer('SET', bin, bin), bin);
      assert.deepEqual(await r.getBuffer(bin), bin);
      const p = r.pipeline();
      for (let i = 0; i < 100; i++) p.set(`p${i}`, `v${i}`);
      const results = await p.exec();
      assert.equal(results?.length, 100);
      assert.ok(results!.every(([err]) => err === null));
      assert.deepEqual(await r.mget('p0', 'p99', 'missing'), ['v0', 'v99', null]);
      assert.equal(await r.exists('p5'), 1);
      assert.equal(await r.dbsize(), 102);
      await assert.rejects(r.call('NSDEL', 'default'), /Cannot remove default namespace/);
      assert.equal(await r.call('NSNEW', 'io'), 'OK');
      assert.equal(await r.call('SELECT', 'io'), 'OK');
      assert.equal(await r.get('k'), null);
    });
});
