import { isIP } from 'node:net';
import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import type { ErrorCode } from '../core/error-codes.ts';
import { fromHex } from '../core/hex.ts';

/*
 * Labelled readers for the fields of transactions and their bodies. Each checks one field
 * completely (type, size, spelling) and fails with the caller's code and the field's path,
 * so `'body.relays[2]' must be a ws:// or wss:// URL` tells the sender exactly what to fix.
 * One value has one spelling (lowercase hex, canonical base64, lowercase DNS names), so two
 * parties never disagree about what a signed field says.
 */

/** Largest time accepted anywhere: 9999-12-31T23:59:59.999Z in Unix milliseconds. */
export const MAX_TIME_MS = 253_402_300_799_999;

export function readObject(
  value: unknown,
  label: string,
  required: readonly string[],
  optional: readonly string[],
  code: ErrorCode,
): Record<string, unknown> {
  assertObject(value, label, code);
  assertExactKeys(value, label, required, optional, code);
  return value;
}

/** Lowercase hex of exactly `bytes` bytes; returns the string as given. */
export function readHex(value: unknown, label: string, bytes: number, code: ErrorCode): string {
  fromHex(value, label, bytes, code);
  return value as string;
}

export function readUint(
  value: unknown,
  label: string,
  max: number,
  code: ErrorCode,
  min = 0,
): number {
  assertInteger(value, label, min, max, code);
  return value;
}

/** A time in Unix milliseconds. */
export function readTime(value: unknown, label: string, code: ErrorCode): number {
  return readUint(value, label, MAX_TIME_MS, code);
}

export function readString(
  value: unknown,
  label: string,
  opts: { min?: number; max: number; pattern?: RegExp },
  code: ErrorCode,
): string {
  assertString(value, label, opts, code);
  return value;
}

export function readEnum<T extends string>(
  value: unknown,
  label: string,
  allowed: readonly T[],
  code: ErrorCode,
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    fail(code, `'${label}' must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** An array of at most `max` items, each read by `item`; duplicates refused when `unique`. */
export function readList<T>(
  value: unknown,
  label: string,
  max: number,
  code: ErrorCode,
  item: (v: unknown, label: string) => T,
  opts: { min?: number; unique?: boolean } = {},
): T[] {
  if (!Array.isArray(value)) fail(code, `'${label}' must be an array`);
  const min = opts.min ?? 0;
  if (value.length < min || value.length > max)
    fail(code, `'${label}' must hold ${min}..${max} items, got ${value.length}`);
  const out = value.map((v, i) => item(v, `${label}[${i}]`));
  if (opts.unique) {
    const seen = new Set<string>();
    for (const v of out) {
      const key = JSON.stringify(v);
      if (seen.has(key)) fail(code, `'${label}' lists ${key} twice: list each item once`);
      seen.add(key);
    }
  }
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64 (RFC 4648 §4) of 1..maxBytes bytes, in its one canonical spelling. */
export function readBase64(
  value: unknown,
  label: string,
  maxBytes: number,
  code: ErrorCode,
  exactBytes?: number,
): string {
  const maxChars = Math.ceil(maxBytes / 3) * 4;
  assertString(value, label, { min: 4, max: maxChars }, code);
  if (!BASE64.test(value)) fail(code, `'${label}' must be padded standard base64`);
  const bytes = Buffer.from(value, 'base64');
  // Non-zero padding bits decode the same as zero ones: re-encoding catches the second spelling.
  if (bytes.toString('base64') !== value)
    fail(code, `'${label}' is not canonical base64: its padding bits must be zero`);
  if (bytes.length > maxBytes) fail(code, `'${label}' must decode to at most ${maxBytes} bytes`);
  if (exactBytes !== undefined && bytes.length !== exactBytes)
    fail(code, `'${label}' must decode to ${exactBytes} bytes, got ${bytes.length}`);
  return value;
}

const DNS_NAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A lowercase DNS name of LDH labels (RFC 1123), at most 253 characters. */
export function readDnsName(value: unknown, label: string, code: ErrorCode): string {
  assertString(value, label, { min: 1, max: 253 }, code);
  if (!DNS_NAME.test(value))
    fail(
      code,
      `'${label}' must be a lowercase DNS name (letters, digits, '-', dots), got ${JSON.stringify(value)}`,
    );
  return value;
}

/**
 * `host:port`, where host is an IPv4 address, a bracketed IPv6 address or a DNS name, and
 * port is 1..65535 without leading zeros.
 */
export function readHostPort(value: unknown, label: string, code: ErrorCode): string {
  assertString(value, label, { min: 3, max: 261 }, code);
  const bad = () =>
    fail(
      code,
      `'${label}' must be host:port (IPv4, [IPv6] or a DNS name, port 1..65535), got ${JSON.stringify(value)}`,
    );
  const colon = value.lastIndexOf(':');
  if (colon < 1) bad();
  const host = value.slice(0, colon);
  const port = value.slice(colon + 1);
  if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65535) bad();
  if (host.startsWith('[')) {
    if (
      !host.endsWith(']') ||
      isIP(host.slice(1, -1)) !== 6 ||
      host.slice(1, -1) !== host.slice(1, -1).toLowerCase()
    )
      bad();
  } else if (isIP(host) !== 4 && !DNS_NAME.test(host)) {
    bad();
  }
  return value;
}

/** A ws:// or wss:// URL of at most 256 characters, in the form the WHATWG parser prints it. */
export function readWsUrl(value: unknown, label: string, code: ErrorCode): string {
  assertString(value, label, { min: 1, max: 256 }, code);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(code, `'${label}' must be a ws:// or wss:// URL, got ${JSON.stringify(value)}`);
  }
  if (
    (url.protocol !== 'ws:' && url.protocol !== 'wss:') ||
    url.href !== value ||
    url.username ||
    url.password
  )
    fail(
      code,
      `'${label}' must be a ws:// or wss:// URL without credentials, written as ${JSON.stringify(url.href)}`,
    );
  return value;
}

/** An IPv4 or IPv6 network in CIDR notation, e.g. 192.0.2.0/24 or 2001:db8::/32. */
export function readCidr(value: unknown, label: string, code: ErrorCode): string {
  assertString(value, label, { min: 3, max: 43 }, code);
  const slash = value.indexOf('/');
  const address = slash < 0 ? '' : value.slice(0, slash);
  const prefix = slash < 0 ? '' : value.slice(slash + 1);
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  if (
    family === 0 ||
    !/^(?:0|[1-9][0-9]{0,2})$/.test(prefix) ||
    Number(prefix) > max ||
    address !== address.toLowerCase()
  )
    fail(
      code,
      `'${label}' must be an IP network in CIDR notation (e.g. 192.0.2.0/24), got ${JSON.stringify(value)}`,
    );
  return value;
}
