import { fail } from './assert.ts';
import type { ErrorCode } from './error-codes.ts';

/**
 * A `--listen` value: `HOST:PORT`, or `[V6]:PORT`; port 0 picks a free one.
 * @throws VdcError `code` (USAGE by default) naming the flag
 */
export function parseListen(
  value: string,
  flag = '--listen',
  code: ErrorCode = 'USAGE',
): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    fail(
      code,
      `'${flag}' must be HOST:PORT (port 0..65535, IPv6 in brackets), got ${JSON.stringify(value)}`,
    );
  return { host: (m[1] ?? m[2])!, port };
}
