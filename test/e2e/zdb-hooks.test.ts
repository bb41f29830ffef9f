import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startTestZdb, tempDir } from '../../src/zdb/zdb-test-kit.ts';

/* --hook: 0-db's events with 0-db's arguments, and missing-data bringing a file back. */

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
}

describe('zdb hooks', () => {
  test('runs the hook on ready, namespace-created/deleted, jump-index/jump-data and close', async (t) => {
    const dir = tempDir(t);
    const log = join(dir, 'hook.log');
    const hook = join(dir, 'hook.sh');
    writeFileSync(hook, `#!/bin/sh\necho "$@" >> ${log}\n`);
    chmodSync(hook, 0o755);
    const z = await startTestZdb(t, { hook });
    const c = await z.client();
    await c.command('NSNEW', 'h');
    await c.command('NSDEL', 'h');
    await c.command('SET', 'k', 'v');
    await c.command('NSJUMP');
    const readLines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
    await until(() => readLines().length >= 5);
    const id = `tcp://127.0.0.1:${z.port}`;
    const lines = readLines();
    assert.ok(lines.includes(`ready ${id}`), lines.join('\n'));
    assert.ok(lines.includes(`namespace-created ${id} h`));
    assert.ok(lines.includes(`namespace-deleted ${id} h`));
    assert.ok(
      lines.some((l) => /^jump-index tcp:\S+ \S+zdb-index-00000 \S+zdb-index-00001$/.test(l)),
    );
    assert.ok(lines.some((l) => /^jump-data tcp:\S+ \S+zdb-data-00000 \S+zdb-data-00001$/.test(l)));
    const hooks = (await c.command('HOOKS')) as [Buffer][];
    assert.ok(hooks.length >= 5);
    await z.server.close();
    await until(() => readLines().includes(`close ${id}`));
    assert.ok(readLines().includes(`close ${id}`));
  });

  test('missing-data: the hook brings a data file back and the value is served', async (t) => {
    const dir = tempDir(t);
    const backup = join(dir, 'backup');
    const hook = join(dir, 'hook.sh');
    writeFileSync(
      hook,
      `#!/bin/sh\n[ "$1" = missing-data ] && cp ${backup} "$3" && exit 0\nexit 0\n`,
    );
    chmodSync(hook, 0o755);
    const z = await startTestZdb(t, { hook }, dir);
    const c = await z.client();
    await c.command('SET', 'old', 'archived value');
    await c.command('NSJUMP');
    const file = join(dir, 'data', 'default', 'zdb-data-00000');
    copyFileSync(file, backup);
    rmSync(file);
    assert.equal((await c.command('GET', 'old'))?.toString(), 'archived value');
  });
});
