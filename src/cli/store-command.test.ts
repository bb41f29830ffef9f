import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { exitCodeOf, VdcError } from '../core/errors.ts';
import { createKeystore, generateMnemonic, mnemonicToSeed } from '../identity/index.ts';
import { startZdbNodes, writeStoreConfig } from '../zstor/zdb-backend-test-kit.ts';
import type { CliIo } from './cli-io.ts';
import { type StoreCommandDeps, storeCommand } from './store-command.ts';

const PASS = 'a long enough passphrase';

interface Run {
  out: string;
  err: string;
  error?: VdcError;
  exit: number;
}

async function setup(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-store-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await createKeystore(join(dir, 'identity.json'), mnemonicToSeed(generateMnemonic()), PASS);
  const nodes = await startZdbNodes(t, 6);
  const config = writeStoreConfig(join(dir, 'store.yaml'), nodes, {
    data: 4,
    parity: 2,
    chunkSize: 64 * 1024,
  });
  const env = { VDC_HOME: dir, VDC_PASSPHRASE: PASS };
  async function run(args: string[], deps: StoreCommandDeps = {}): Promise<Run> {
    const r: Run = { out: '', err: '', exit: 0 };
    const io: CliIo = {
      out: (s) => {
        r.out += s;
      },
      err: (s) => {
        r.err += s;
      },
      readStdin: async () => Buffer.alloc(0),
      stdinIsTty: false,
      env,
    };
    const cmd = storeCommand(io, deps);
    cmd.exitOverride();
    try {
      await cmd.parseAsync(['--config', config, ...args], { from: 'user' });
    } catch (err) {
      if (!(err instanceof VdcError)) throw err;
      r.error = err;
      r.exit = exitCodeOf(err);
    }
    return r;
  }
  return { dir, nodes, config, run };
}

describe('vdc store', () => {
  test('put, ls, get (file and stdout), rm, with --json', async (t) => {
    const { dir, run } = await setup(t);
    const data = randomBytes(300_000);
    writeFileSync(join(dir, 'in.bin'), data);
    const put = await run(['put', 'docs/in.bin', join(dir, 'in.bin'), '--json']);
    assert.equal(put.error, undefined, put.err);
    const stored = JSON.parse(put.out) as { version: number; size: number; chunks: number };
    assert.deepEqual(
      { version: stored.version, size: stored.size, chunks: stored.chunks },
      { version: 1, size: 300_000, chunks: 5 },
    );
    const piped = await run(['put', 'piped', '-'], {
      stdin: async function* () {
        yield Buffer.from('from ');
        yield Buffer.from('stdin');
      },
    });
    assert.match(piped.out, /^stored piped version 1: 10 bytes in 1 chunks\n$/);
    const absent = await run(['put', 'x', join(dir, 'absent.bin')]);
    assert.equal(absent.error?.code, 'FILE_NOT_FOUND');

    const ls = JSON.parse((await run(['ls', '--json'])).out) as { name: string; size: number }[];
    assert.deepEqual(
      ls.map((o) => [o.name, o.size]),
      [
        ['docs/in.bin', 300_000],
        ['piped', 10],
      ],
    );
    const got = await run(['get', 'docs/in.bin', join(dir, 'out.bin'), '--json']);
    assert.equal(got.error, undefined, got.err);
    assert.deepEqual(readFileSync(join(dir, 'out.bin')), data);
    const pieces: Buffer[] = [];
    await run(['get', 'piped'], { writeStdout: async (c) => void pieces.push(Buffer.from(c)) });
    assert.equal(Buffer.concat(pieces).toString(), 'from stdin');
    const ranged = await run([
      'get',
      'docs/in.bin',
      join(dir, 'part.bin'),
      '--offset',
      '299000',
      '--length',
      '5000',
      '--json',
    ]);
    assert.equal(ranged.error, undefined, ranged.err);
    assert.deepEqual(readFileSync(join(dir, 'part.bin')), data.subarray(299_000));
    assert.equal(JSON.parse(ranged.out).written, 1000);
    const badRange = await run(['get', 'docs/in.bin', join(dir, 'x'), '--offset', '-1']);
    assert.equal(badRange.error?.code, 'INPUT_INVALID');

    assert.equal((await run(['rm', 'piped'])).out, 'removed piped\n');
    const missing = await run(['get', 'piped', join(dir, 'x')]);
    assert.equal(missing.error?.code, 'ZSTOR_OBJECT_NOT_FOUND');
    assert.equal(missing.exit, 6);
    assert.equal(JSON.parse((await run(['ls', '--json'])).out).length, 1);
  });

  test('check and repair: exit codes say whether the store is whole', async (t) => {
    const { dir, nodes, run } = await setup(t);
    writeFileSync(join(dir, 'in.bin'), randomBytes(200_000));
    assert.equal((await run(['put', 'a', join(dir, 'in.bin')])).error, undefined);
    const clean = await run(['check', '--json']);
    assert.equal(clean.error, undefined);
    assert.deepEqual(JSON.parse(clean.out).findings, []);

    await nodes[1]!.stop();
    const damaged = await run(['check']);
    assert.equal(damaged.error?.code, 'ZSTOR_DAMAGE_FOUND');
    assert.equal(damaged.exit, 9);
    assert.match(damaged.out, /^unreachable: root, shard \d on 127\.0\.0\.1:\d+\/zstor/m);
    // No spare node for its shards: repair says what it could not do.
    const stuck = await run(['repair', '--json']);
    assert.equal(stuck.error?.code, 'ZSTOR_REPAIR_INCOMPLETE');
    assert.ok((JSON.parse(stuck.out) as { failed: string[] }).failed.length > 0);

    await nodes[1]!.start();
    const fixed = await run(['repair']);
    assert.equal(fixed.error, undefined, fixed.out);
    assert.equal((await run(['check'])).error, undefined);
  });

  test('check and repair ask the identity for the meta key only', async (t) => {
    const { run } = await setup(t);
    const asked: boolean[] = [];
    const keys: StoreCommandDeps['keys'] = async (_io, needData) => {
      asked.push(needData);
      return { meta: Buffer.alloc(32, 9) };
    };
    assert.equal((await run(['check'], { keys })).error, undefined);
    assert.equal((await run(['repair'], { keys })).error, undefined);
    assert.deepEqual(asked, [false, false]);
  });

  test('a config readable by others is refused before any backend is contacted', async (t) => {
    const { config, run } = await setup(t);
    const { chmodSync } = await import('node:fs');
    chmodSync(config, 0o644);
    const r = await run(['ls']);
    assert.equal(r.error?.code, 'ZSTOR_CONFIG_INSECURE');
    assert.equal(r.exit, 5);
  });
});
