import { fail } from './assert.ts';
import type { ErrorCode } from './error-codes.ts';

const HEX = /^(?:[0-9a-f]{2})*$/;

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * Decodes lowercase hex, checking the length when one is expected. Uppercase is refused so
 * that one value has one spelling wherever it is signed or compared.
 * @throws VdcError HEX_INVALID (or `code`) naming the field
 */
export function fromHex(
  value: unknown,
  label: string,
  bytes?: number,
  code: ErrorCode = 'HEX_INVALID',
): Buffer {
  if (typeof value !== 'string' || !HEX.test(value)) {
    fail(
      code,
      `'${label}' must be lowercase hex${bytes === undefined ? '' : ` of ${bytes} bytes`}, got ${typeof value === 'string' ? `${value.length} characters that are not` : typeof value}`,
    );
  }
  if (bytes !== undefined && value.length !== bytes * 2) {
    fail(
      code,
      `'${label}' must be ${bytes} bytes (${bytes * 2} hex characters), got ${value.length / 2} bytes`,
    );
  }
  return Buffer.from(value, 'hex');
}
