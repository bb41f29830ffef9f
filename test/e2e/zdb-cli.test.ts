import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ZdbClient } from '../../src/zdb/index.ts';
import { startTestZdb, tempDir } from '../../src/zdb/zdb-test-kit.ts';
import { runVdc } from '../support/run-vdc.ts';

describe('vdc zdb serve', () => {
  test('refuses --protect without --admin with exit code 2 and the code ZDB_USAGE', async (t) => {
    const dir = tempDir(t);
    const r = await runVdc([
      'zdb',
      'serve',
      '--data',
      join(dir, 'd'),
      '--index',
      join(dir, 'i'),
      '--protect',
      '--port',
      '0',
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error ZDB_USAGE: protected mode only works with admin password/);
  });

  test('refuses a bad --mode and a bad --port', async () => {
    const mode = await runVdc(['zdb', 'serve', '--mode', 'direct']);
    assert.equal(mode.code, 2);
    assert.match(mode.stderr, /ZDB_USAGE/);
    const port = await runVdc(['zdb', 'serve', '--port', '70000']);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /'--port' must be 0..65535, got 70000/);
  });

  test('--background starts a detached server that logs to --logfile and stops on SIGTERM', async (t) => {
    const dir = tempDir(t);
    const logfile = join(dir, 'zdb.log');
    const r = await runVdc([
      'zdb',
      'serve',
      '--background',
      '--logfile',
      logfile,
      '--listen',
      '127.0.0.1',
      '--port',
      '0',
      '--data',
      join(dir, 'd'),
      '--index',
      join(dir, 'i'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 0);
    t.after(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone: the test stopped it
      }
    });
    let port = 0;
    for (let i = 0; i < 200 && port === 0; i++) {
      await new Promise((res) => setTimeout(res, 50));
      const m = existsSync(logfile)
        ? /zdb listening on 127\.0\.0\.1:(\d+)/.exec(readFileSync(logfile, 'utf8'))
        : null;
      if (m) port = Number(m[1]);
    }
    assert.ok(port > 0, 'the daemon never said where it listens');
    const c = await ZdbClient.connect({ host: '127.0.0.1', port });
    t.after(() => c.close());
    assert.equal(await c.command('PING'), 'PONG');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 200 && !/zdb stopped/.test(readFileSync(logfile, 'utf8')); i++)
      await new Promise((res) => setTimeout(res, 50));
    assert.match(readFileSync(logfile, 'utf8'), /"msg":"zdb stopped"/);
  });

  test('--dump prints the stored keys and exits', async (t) => {
    const dir = tempDir(t);
    const z = await startTestZdb(t, {}, dir);
    const c = await z.client();
    await c.command('SET', 'hello', 'world');
    await z.server.close();
    const r = await runVdc([
      'zdb',
      'serve',
      '--data',
      join(dir, 'data'),
      '--index',
      join(dir, 'index'),
      '--dump',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /namespace default: 1 entries, 5 bytes, mode user/);
    assert.match(r.stdout, new RegExp(Buffer.from('hello').toString('hex')));
  });
});
