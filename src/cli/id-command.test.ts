import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runVdc, tempHome, type VdcRun } from '../../test/support/run-vdc.ts';

const PASS = 'a long enough passphrase';

function failedWith(run: VdcRun, exit: number, code: string): void {
  assert.equal(run.code, exit, `exit code; stderr: ${run.stderr}`);
  assert.match(run.stderr, new RegExp(`^error ${code}: `, 'm'));
}

describe('vdc id', () => {
  test('every command has --help, and --version answers', async () => {
    for (const args of [
      [],
      ['id'],
      ['id', 'new'],
      ['id', 'recover'],
      ['id', 'show'],
      ['id', 'sign'],
      ['id', 'verify'],
    ]) {
      const run = await runVdc([...args, '--help']);
      assert.equal(run.code, 0, args.join(' '));
      assert.match(run.stdout, /^Usage: vdc/m);
    }
    const version = await runVdc(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await runVdc(['nonsense'])).code, 2);
    assert.equal((await runVdc(['id', 'show', '--bogus'])).code, 2);
    assert.equal((await runVdc(['id', 'sign', 'file.json'])).code, 2);
  });

  test('new, show, sign, verify and recover work together', async (t) => {
    const home = tempHome(t);
    const env = { VDC_HOME: home, VDC_PASSPHRASE: PASS };
    const created = await runVdc(['id', 'new', '--json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const { mnemonic, signingKey, encryptionKey } = JSON.parse(created.stdout);
    assert.equal(mnemonic.split(' ').length, 24);
    assert.match(signingKey, /^[0-9a-f]{64}$/);

    const shown = await runVdc(['id', 'show', '--json'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout), {
      signingKey,
      encryptionKey,
      keystore: join(home, 'identity.json'),
    });
    assert.ok(
      !readFileSync(join(home, 'identity.json'), 'utf8').includes(mnemonic.split(' ')[0] + ' '),
    );

    const doc = join(home, 'doc.json');
    writeFileSync(doc, '{"release": "1.0", "sha256": "ab"}');
    const signed = await runVdc(['id', 'sign', '--tag', 'me/release/v1', doc], { env });
    assert.equal(signed.code, 0, signed.stderr);
    const sig = signed.stdout.trim();
    assert.match(sig, /^[0-9a-f]{128}$/);
    const ok = await runVdc([
      'id',
      'verify',
      '--tag',
      'me/release/v1',
      '--key',
      signingKey,
      '--sig',
      sig,
      '--json',
      doc,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).valid, true);

    // The canonical form is what is signed: the same document reformatted still verifies.
    writeFileSync(doc, '{ "sha256":"ab",\n  "release":"1.0" }');
    assert.equal(
      (
        await runVdc([
          'id',
          'verify',
          '--tag',
          'me/release/v1',
          '--key',
          signingKey,
          '--sig',
          sig,
          doc,
        ])
      ).code,
      0,
    );

    failedWith(
      await runVdc([
        'id',
        'verify',
        '--tag',
        'me/other/v1',
        '--key',
        signingKey,
        '--sig',
        sig,
        doc,
      ]),
      4,
      'SIGNATURE_INVALID',
    );
    failedWith(
      await runVdc([
        'id',
        'verify',
        '--tag',
        'me/release/v1',
        '--key',
        encryptionKey,
        '--sig',
        sig,
        doc,
      ]),
      4,
      'SIGNATURE_INVALID',
    );
    failedWith(
      await runVdc([
        'id',
        'verify',
        '--tag',
        'me/release/v1',
        '--key',
        signingKey,
        '--sig',
        sig.slice(2),
        doc,
      ]),
      3,
      'SIGNATURE_MALFORMED',
    );
    failedWith(
      await runVdc([
        'id',
        'verify',
        '--tag',
        'me/release/v1',
        '--key',
        signingKey.slice(2),
        '--sig',
        sig,
        doc,
      ]),
      3,
      'KEY_INVALID',
    );
    failedWith(
      await runVdc(['id', 'verify', '--tag', 'me/release/v1', '--key', 'zz', '--sig', sig, doc]),
      3,
      'KEY_INVALID',
    );
    writeFileSync(doc, '{"release": "2.0", "sha256": "ab"}');
    failedWith(
      await runVdc([
        'id',
        'verify',
        '--tag',
        'me/release/v1',
        '--key',
        signingKey,
        '--sig',
        sig,
        doc,
      ]),
      4,
      'SIGNATURE_INVALID',
    );

    // Recover into a fresh home from the words: the same keys come back.
    const home2 = tempHome(t);
    const recovered = await runVdc(['id', 'recover', '--json'], {
      env: { VDC_HOME: home2, VDC_PASSPHRASE: 'another passphrase' },
      input: `${mnemonic}\n`,
    });
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.equal(JSON.parse(recovered.stdout).signingKey, signingKey);
    // Recovering the same identity over its own keystore is allowed (a forgotten passphrase).
    assert.equal(
      (
        await runVdc(['id', 'recover'], {
          env: { VDC_HOME: home2, VDC_PASSPHRASE: 'a third passphrase' },
          input: mnemonic,
        })
      ).code,
      0,
    );
  });

  test('bad input leaves the keystore untouched and exits with its own code', async (t) => {
    const home = tempHome(t);
    const env = { VDC_HOME: home, VDC_PASSPHRASE: PASS };
    assert.equal((await runVdc(['id', 'new'], { env })).code, 0);
    const path = join(home, 'identity.json');
    const before = readFileSync(path);
    const doc = join(home, 'doc.json');

    failedWith(await runVdc(['id', 'new'], { env }), 7, 'KEYSTORE_EXISTS');
    failedWith(
      await runVdc(['id', 'show'], { env: { ...env, VDC_PASSPHRASE: 'wrong passphrase' } }),
      4,
      'PASSPHRASE_WRONG',
    );
    failedWith(
      await runVdc(['id', 'recover'], { env, input: `${'abandon '.repeat(23)}zoo` }),
      3,
      'MNEMONIC_CHECKSUM',
    );
    failedWith(
      await runVdc(['id', 'recover'], { env, input: `${'abandon '.repeat(23)}artz` }),
      3,
      'MNEMONIC_WORD_UNKNOWN',
    );
    failedWith(
      await runVdc(['id', 'recover'], { env, input: 'abandon abandon' }),
      3,
      'MNEMONIC_LENGTH',
    );
    // A valid mnemonic of another identity does not replace this one without --force.
    failedWith(
      await runVdc(['id', 'recover'], { env, input: `${'abandon '.repeat(23)}art` }),
      7,
      'KEYSTORE_EXISTS',
    );

    writeFileSync(doc, '{"a": 1}');
    failedWith(await runVdc(['id', 'sign', '--tag', 'vdc/tx/v1', doc], { env }), 5, 'TAG_RESERVED');
    failedWith(await runVdc(['id', 'sign', '--tag', 'bad tag', doc], { env }), 3, 'TAG_INVALID');
    for (const [text, code] of [
      ['{"a": 1, "a": 2}', 'JSON_DUPLICATE_KEY'],
      ['{"a": "\\ud800"}', 'JSON_LONE_SURROGATE'],
      ['{"a": 1e400}', 'JSON_NON_FINITE'],
      ['{"a": NaN}', 'JSON_MALFORMED'],
      ['{"a": ', 'JSON_MALFORMED'],
    ] as const) {
      writeFileSync(doc, text);
      failedWith(await runVdc(['id', 'sign', '--tag', 'me/x/v1', doc], { env }), 3, code);
    }
    failedWith(
      await runVdc(['id', 'sign', '--tag', 'me/x/v1', join(home, 'missing.json')], { env }),
      6,
      'FILE_NOT_FOUND',
    );

    // Without VDC_PASSPHRASE and without a terminal there is nobody to ask.
    failedWith(await runVdc(['id', 'show'], { env: { VDC_HOME: home } }), 2, 'PASSPHRASE_REQUIRED');
    assert.deepEqual(readFileSync(path), before);

    // --json failures print the error as JSON on stdout.
    const json = await runVdc(['id', 'show', '--json'], {
      env: { ...env, VDC_PASSPHRASE: 'wrong passphrase' },
    });
    assert.equal(JSON.parse(json.stdout).error.code, 'PASSPHRASE_WRONG');

    writeFileSync(path, before.subarray(0, 100));
    failedWith(await runVdc(['id', 'show'], { env }), 3, 'KEYSTORE_CORRUPT');
    failedWith(await runVdc(['id', 'new'], { env }), 7, 'KEYSTORE_EXISTS');
    assert.deepEqual(readFileSync(path), before.subarray(0, 100));
  });

  test('id new --force replaces the keystore; show without one says how to make it', async (t) => {
    const home = tempHome(t);
    const env = { VDC_HOME: home, VDC_PASSPHRASE: PASS };
    failedWith(await runVdc(['id', 'show'], { env }), 6, 'KEYSTORE_NOT_FOUND');
    failedWith(
      await runVdc(['id', 'new'], { env: { ...env, VDC_PASSPHRASE: 'short' } }),
      3,
      'PASSPHRASE_WEAK',
    );
    assert.equal(existsSync(join(home, 'identity.json')), false);
    const a = JSON.parse((await runVdc(['id', 'new', '--json'], { env })).stdout);
    const b = JSON.parse((await runVdc(['id', 'new', '--force', '--json'], { env })).stdout);
    assert.notEqual(a.signingKey, b.signingKey);
  });
});
