import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { ZdbClient } from './client.ts';
import { startZdbServer } from './server.ts';
import { quietLog, startTestZdb, tempDir } from './zdb-test-kit.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

describe('zdb server options', () => {
  test('--socket replaces TCP; --dualnet serves both', async (t) => {
    const dir = tempDir(t);
    const socket = join(dir, 'zdb.sock');
    const only = await startTestZdb(t, { socket }, dir);
    assert.equal(only.server.port, undefined);
    const c = await ZdbClient.connect({ path: socket });
    t.after(() => c.close());
    assert.equal(await c.command('PING'), 'PONG');
    await only.server.close();
    const both = await startTestZdb(t, { socket, dualnet: true }, dir);
    const viaTcp = await both.client();
    const viaUnix = await ZdbClient.connect({ path: socket });
    t.after(() => viaUnix.close());
    await viaTcp.command('SET', 'k', 'v');
    assert.equal((await viaUnix.command('GET', 'k'))?.toString(), 'v');
  });

  test('--rotate moves a written namespace to new files', async (t) => {
    const z = await startTestZdb(t, { rotate: 1 });
    const c = await z.client();
    await c.command('SET', 'k', 'v');
    const files = () => readdirSync(join(z.dir, 'data', 'default')).length;
    for (let i = 0; i < 100 && files() < 2; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(files() >= 2);
    assert.equal((await c.command('GET', 'k'))?.toString(), 'v');
  });

  test('refuses --protect without --admin, a bad --datasize and a port in use', async (t) => {
    const dir = tempDir(t);
    const base = {
      dataPath: join(dir, 'd'),
      indexPath: join(dir, 'i'),
      listen: '127.0.0.1',
      port: 0,
    };
    await assert.rejects(startZdbServer({ ...base, protect: true }, quietLog), code('ZDB_USAGE'));
    await assert.rejects(startZdbServer({ ...base, datasize: 10 }, quietLog), code('ZDB_USAGE'));
    const z = await startTestZdb(t);
    await assert.rejects(
      startZdbServer({ ...base, port: z.port }, quietLog),
      code('ZDB_LISTEN_FAILED'),
    );
  });
});
