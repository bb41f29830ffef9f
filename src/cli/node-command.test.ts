import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import type { CliIo } from './cli-io.ts';
import { nodeCommand } from './node-command.ts';

const io: CliIo = {
  out: () => {},
  err: () => {},
  readStdin: async () => Buffer.alloc(0),
  stdinIsTty: false,
  env: {},
};

function run(args: string[]): Promise<unknown> {
  const cmd = nodeCommand(io, { signal: AbortSignal.abort() });
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
  return cmd.parseAsync(args, { from: 'user' });
}

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

describe('vdc node serve flags', () => {
  test('refuses bad flags before touching the data folder or the network', async (t) => {
    const data = mkdtempSync(join(tmpdir(), 'vdc-node-cli-'));
    t.after(() => rmSync(data, { recursive: true, force: true }));
    const base = [
      'serve',
      '--data',
      data,
      '--ledger',
      'http://127.0.0.1:1',
      '--relay',
      'ws://127.0.0.1:1',
    ];
    await assert.rejects(run([...base, '--farm', '0']), code('USAGE'));
    await assert.rejects(run([...base, '--farm', '1x']), code('USAGE'));
    await assert.rejects(run([...base, '--farm', '1', '--report-interval', '0']), code('USAGE'));
    await assert.rejects(run([...base, '--farm', '1', '--fence-after', '-5']), code('USAGE'));
    await assert.rejects(
      run([
        'serve',
        '--data',
        data,
        '--ledger',
        'ftp://x',
        '--relay',
        'ws://127.0.0.1:1',
        '--farm',
        '1',
      ]),
      code('USAGE'),
    );
    await assert.rejects(
      run([
        'serve',
        '--data',
        data,
        '--ledger',
        'http://127.0.0.1:1',
        '--relay',
        'http://x',
        '--farm',
        '1',
      ]),
      code('USAGE'),
    );
    const grant = join(data, 'grant.json');
    writeFileSync(grant, '{"grant": {}, "grant": {}}');
    await assert.rejects(
      run([...base, '--farm', '1', '--grant', grant]),
      code('NODE_GRANT_INVALID'),
    );
    writeFileSync(grant, '{"grant": {}}');
    await assert.rejects(
      run([...base, '--farm', '1', '--grant', grant]),
      code('NODE_GRANT_INVALID'),
    );
  });
});
