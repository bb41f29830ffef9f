import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ERROR_CODES, EXIT_CODES } from './error-codes.ts';
import { asVdcError, exitCodeOf, httpStatusOf, VdcError } from './errors.ts';

describe('VdcError', () => {
  test('keeps its code, message and cause', () => {
    const cause = new Error('disk on fire');
    const err = new VdcError('FILE_WRITE_FAILED', 'could not write x: free some space', { cause });
    assert.equal(err.code, 'FILE_WRITE_FAILED');
    assert.equal(err.cause, cause);
    assert.equal(err.kind, 'internal');
    assert.deepEqual(JSON.parse(JSON.stringify(err)), {
      code: 'FILE_WRITE_FAILED',
      message: 'could not write x: free some space',
    });
  });

  test('maps kinds to distinct exit codes, none of them 0', () => {
    const codes = Object.values(EXIT_CODES);
    assert.equal(new Set(codes).size, codes.length);
    assert.ok(codes.every((c) => c > 0 && c < 126));
    assert.equal(exitCodeOf(new VdcError('SIGNATURE_INVALID', 'x')), 4);
    assert.equal(exitCodeOf(new VdcError('USAGE', 'x')), 2);
    assert.equal(httpStatusOf(new VdcError('KEYSTORE_NOT_FOUND', 'x')), 404);
  });

  test('wraps foreign errors as INTERNAL', () => {
    const err = asVdcError(new TypeError('boom'));
    assert.equal(err.code, 'INTERNAL');
    assert.equal(exitCodeOf(new TypeError('boom')), 1);
  });

  test('every error code is documented in docs/', () => {
    const docsDir = new URL('../../docs/', import.meta.url);
    const docs = readdirSync(docsDir)
      .filter((f) => f.endsWith('.md'))
      .map((f) => readFileSync(new URL(f, docsDir), 'utf8'))
      .join('\n');
    const missing = Object.keys(ERROR_CODES).filter((c) => !docs.includes(`\`${c}\``));
    assert.deepEqual(missing, [], 'document these codes, in backticks, in docs/');
  });
});
