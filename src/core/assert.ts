import type { ErrorCode } from './error-codes.ts';
import { VdcError } from './errors.ts';

/*
 * Small labelled asserts used where input enters: each names the field it checks, so a
 * bad value is reported as `'--port' must be 1..65535, got 70000`.
 */

function describe(value: unknown): string {
  if (typeof value === 'string')
    return value.length > 80 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function fail(code: ErrorCode, message: string, cause?: unknown): never {
  throw new VdcError(code, message, cause === undefined ? undefined : { cause });
}

export function assertString(
  value: unknown,
  label: string,
  opts: { min?: number; max?: number; pattern?: RegExp } = {},
  code: ErrorCode = 'INPUT_INVALID',
): asserts value is string {
  if (typeof value !== 'string') fail(code, `'${label}' must be a string, got ${describe(value)}`);
  const { min = 0, max = Number.MAX_SAFE_INTEGER, pattern } = opts;
  if (value.length < min || value.length > max)
    fail(code, `'${label}' must be ${min}..${max} characters long, got ${value.length}`);
  if (pattern && !pattern.test(value))
    fail(code, `'${label}' must match ${pattern}, got ${describe(value)}`);
}

export function assertInteger(
  value: unknown,
  label: string,
  min: number,
  max: number,
  code: ErrorCode = 'INPUT_INVALID',
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(code, `'${label}' must be an integer in ${min}..${max}, got ${describe(value)}`);
  }
}

export function assertObject(
  value: unknown,
  label: string,
  code: ErrorCode = 'INPUT_INVALID',
): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(code, `'${label}' must be an object, got ${describe(value)}`);
}

/** Refuses fields other than the expected ones, so a typo or an injected field is not silently ignored. */
export function assertExactKeys(
  value: Record<string, unknown>,
  label: string,
  required: readonly string[],
  optional: readonly string[] = [],
  code: ErrorCode = 'INPUT_INVALID',
): void {
  for (const key of required)
    if (!Object.hasOwn(value, key)) fail(code, `'${label}' lacks the field '${key}'`);
  const allowed = new Set([...required, ...optional]);
  for (const key of Object.keys(value))
    if (!allowed.has(key))
      fail(code, `'${label}' has an unknown field '${key}'; allowed: ${[...allowed].join(', ')}`);
}
