import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { s3CredentialsFromKey } from './s3-credentials.ts';

/** The `s3-vectors` block of docs/zstor.md, so the documented pair cannot drift from the code. */
function documented(): Record<string, string> {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'zstor.md'), 'utf8');
  const block = /```s3-vectors\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block !== undefined, 'docs/zstor.md has an s3-vectors block');
  return Object.fromEntries(
    block
      .trim()
      .split('\n')
      .map((line) => line.split(' = ') as [string, string]),
  );
}

test('the access key pair is a fixed function of vdc/s3/0, as documented', () => {
  const v = documented();
  const c = s3CredentialsFromKey(Buffer.from(v['vdc/s3/0']!, 'hex'));
  assert.equal(c.accessKeyId, v['access key id']);
  assert.equal(c.secretAccessKey, v['secret access key']);
});

test('ids look like AWS ids, secrets like AWS secrets; other keys give other pairs', () => {
  const a = s3CredentialsFromKey(Buffer.alloc(32, 1));
  const b = s3CredentialsFromKey(Buffer.alloc(32, 2));
  assert.match(a.accessKeyId, /^VDC[A-Z2-7]{17}$/);
  assert.match(a.secretAccessKey, /^[A-Za-z0-9_-]{40}$/);
  assert.notEqual(a.accessKeyId, b.accessKeyId);
  assert.notEqual(a.secretAccessKey, b.secretAccessKey);
  assert.throws(() => s3CredentialsFromKey(Buffer.alloc(16)), { code: 'KEY_INVALID' });
});
