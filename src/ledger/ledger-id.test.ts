import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ledgerId } from './ledger-id.ts';

describe('ledgerId', () => {
  it('is hex SHA-256 of the raw public key', () => {
    const key = Buffer.alloc(32, 7);
    assert.equal(ledgerId(key), createHash('sha256').update(key).digest('hex'));
    // Known answer: SHA-256 of 32 zero bytes.
    assert.equal(
      ledgerId(Buffer.alloc(32)),
      '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925',
    );
  });

  it('refuses a key that is not 32 bytes', () => {
    assert.throws(() => ledgerId(Buffer.alloc(31)), { code: 'KEY_INVALID' });
  });
});
