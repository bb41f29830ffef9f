import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import {
  createKeystore,
  keystorePublicKeys,
  openKeystore,
  readKeystoreFile,
  SCRYPT_DEFAULTS,
} from './keystore.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;
const PASS = 'correct horse battery';

function tempPath(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-keystore-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'identity.json');
}

describe('keystore', () => {
  test('round-trips the seed, with mode 0600 and scrypt N >= 2^17 stored in the file', async (t) => {
    const path = tempPath(t);
    const seed = randomBytes(64);
    const created = await createKeystore(path, seed, PASS);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const file = readKeystoreFile(path);
    assert.ok(file.kdf.N >= 2 ** 17);
    assert.deepEqual({ N: file.kdf.N, r: file.kdf.r, p: file.kdf.p }, { ...SCRYPT_DEFAULTS });
    assert.ok(!readFileSync(path, 'utf8').includes(seed.toString('hex')));
    const opened = await openKeystore(path, PASS);
    assert.deepEqual(opened.signingPublicKey, created.signingPublicKey);
    assert.deepEqual(opened.derive('vdc/s3/0'), created.derive('vdc/s3/0'));
    assert.equal(keystorePublicKeys(path).signingKey, created.signingPublicKey.toString('hex'));
  });

  test('a wrong passphrase is refused and the file is unchanged', async (t) => {
    const path = tempPath(t);
    await createKeystore(path, randomBytes(64), PASS);
    const before = readFileSync(path);
    await assert.rejects(openKeystore(path, 'not the passphrase'), code('PASSPHRASE_WRONG'));
    assert.deepEqual(readFileSync(path), before);
  });

  test('refuses to replace an existing keystore unless forced', async (t) => {
    const path = tempPath(t);
    const first = await createKeystore(path, randomBytes(64), PASS);
    const before = readFileSync(path);
    await assert.rejects(createKeystore(path, randomBytes(64), PASS), code('KEYSTORE_EXISTS'));
    assert.deepEqual(readFileSync(path), before);
    const second = await createKeystore(path, randomBytes(64), PASS, { force: true });
    assert.notDeepEqual(second.signingPublicKey, first.signingPublicKey);
  });

  test('two creations at once: one keystore wins whole, the other is refused', async (t) => {
    const path = tempPath(t);
    // Both pass the existence check before either has stretched its key (~1 s of scrypt).
    const results = await Promise.allSettled([
      createKeystore(path, randomBytes(64), PASS),
      createKeystore(path, randomBytes(64), PASS),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.ok(code('KEYSTORE_EXISTS')(lost[0]!.reason));
    const opened = await openKeystore(path, PASS);
    assert.deepEqual(opened.signingPublicKey, won[0]!.value.signingPublicKey);
    assert.deepEqual(readdirSync(dirname(path)), ['identity.json']);
  });

  test('refuses a weak passphrase and writes nothing', async (t) => {
    const path = tempPath(t);
    await assert.rejects(createKeystore(path, randomBytes(64), 'short'), code('PASSPHRASE_WEAK'));
    assert.throws(() => readKeystoreFile(path), code('KEYSTORE_NOT_FOUND'));
  });

  test('a truncated keystore is reported as damaged, not as a wrong passphrase', async (t) => {
    const path = tempPath(t);
    await createKeystore(path, randomBytes(64), PASS);
    const text = readFileSync(path, 'utf8');
    for (const cut of [0, 10, Math.floor(text.length / 2), text.length - 3]) {
      writeFileSync(path, text.slice(0, cut));
      await assert.rejects(openKeystore(path, PASS), code('KEYSTORE_CORRUPT'), `cut at ${cut}`);
    }
  });

  test('a hand-edited keystore is reported as damaged', async (t) => {
    const path = tempPath(t);
    await createKeystore(path, randomBytes(64), PASS);
    const original = JSON.parse(readFileSync(path, 'utf8'));
    // biome-ignore lint/suspicious/noExplicitAny: the edits poke at arbitrary JSON fields on purpose
    const edits: Array<(f: Record<string, any>) => void> = [
      (f) => (f.signingKey = '00'.repeat(32)),
      (f) => (f.kdf.N = 2 ** 18),
      (f) => (f.seed = `${f.seed.slice(0, -2)}${f.seed.endsWith('00') ? '01' : '00'}`),
      (f) => (f.extra = true),
      (f) => delete f.tag,
    ];
    for (const edit of edits) {
      const f = structuredClone(original);
      edit(f);
      writeFileSync(path, JSON.stringify(f));
      await assert.rejects(openKeystore(path, PASS), code('KEYSTORE_CORRUPT'), edit.toString());
    }
  });

  test('an edit that also recomputes the checksum still cannot open: the header is authenticated', async (t) => {
    const path = tempPath(t);
    await createKeystore(path, randomBytes(64), PASS);
    const f = JSON.parse(readFileSync(path, 'utf8'));
    f.created = '2020-01-01T00:00:00.000Z';
    const { createHash } = await import('node:crypto');
    const { canonicalize } = await import('../core/canonical-json.ts');
    const { checksum: _, ...rest } = f;
    f.checksum = createHash('sha256').update(canonicalize(rest)).digest('hex');
    writeFileSync(path, JSON.stringify(f));
    await assert.rejects(openKeystore(path, PASS), code('PASSPHRASE_WRONG'));
  });

  test('refuses scrypt parameters below the floor or beyond the ceiling', async (t) => {
    const path = tempPath(t);
    await createKeystore(path, randomBytes(64), PASS);
    const original = JSON.parse(readFileSync(path, 'utf8'));
    for (const N of [2 ** 14, 2 ** 30]) {
      writeFileSync(path, JSON.stringify({ ...original, kdf: { ...original.kdf, N } }));
      assert.throws(() => readKeystoreFile(path), code('KEYSTORE_CORRUPT'));
    }
  });

  test('a missing keystore says how to make one', (t) => {
    assert.throws(
      () => readKeystoreFile(tempPath(t)),
      (err: unknown) =>
        code('KEYSTORE_NOT_FOUND')(err) && /vdc id new/.test((err as Error).message),
    );
  });
});
