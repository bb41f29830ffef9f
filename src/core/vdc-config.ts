import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertObject, assertString, fail } from './assert.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { fromHex } from './hex.ts';
import { parseJson } from './strict-json.ts';

/*
 * `$VDC_HOME/config`: what this user's machine has decided to trust. Today: the key pinned
 * for each ledger URL, so a server that later presents another key is refused instead of
 * believed. JSON, written atomically, mode 0600.
 */

export interface PinnedLedger {
  /** Hex raw Ed25519 public key of the ledger. */
  key: string;
  pinnedAt: string;
}

export interface VdcConfig {
  ledgers: Record<string, PinnedLedger>;
}

const MAX_CONFIG_BYTES = 1024 * 1024;

export function configPath(home: string): string {
  return join(home, 'config');
}

/** @throws VdcError INPUT_INVALID naming the damaged field */
export function readConfig(home: string): VdcConfig {
  const path = configPath(home);
  if (!existsSync(path)) return { ledgers: {} };
  const bytes = readFileSync(path);
  if (bytes.length > MAX_CONFIG_BYTES)
    fail('INPUT_INVALID', `${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
  const doc = parseJson(bytes);
  assertObject(doc, `${path}`);
  const ledgers = doc['ledgers'] ?? {};
  assertObject(ledgers, `${path}: ledgers`);
  const out: VdcConfig = { ledgers: {} };
  for (const [url, pin] of Object.entries(ledgers)) {
    assertObject(pin, `${path}: ledgers[${url}]`);
    fromHex(pin['key'], `${path}: ledgers[${url}].key`, 32, 'INPUT_INVALID');
    assertString(pin['pinnedAt'], `${path}: ledgers[${url}].pinnedAt`, { max: 40 });
    out.ledgers[url] = { key: pin['key'] as string, pinnedAt: pin['pinnedAt'] };
  }
  return out;
}

export function writeConfig(home: string, config: VdcConfig): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileAtomic(configPath(home), `${JSON.stringify(config, null, 2)}\n`, 0o600);
}
