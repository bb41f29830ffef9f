import { fail } from '../core/assert.ts';
import { fromHex } from '../core/hex.ts';
import { httpJson } from '../core/http-client.ts';
import { readConfig, writeConfig } from '../core/vdc-config.ts';

/*
 * Which ledger key a client trusts for a URL: the one pinned in $VDC_HOME/config; else the
 * one given with --ledger-key (checked against the server's and pinned); else the server's
 * own, trusted on first use and said so. A server that later presents another key is
 * refused, whatever it says.
 */

export interface PinResult {
  key: Buffer;
  /** set when this call pinned the key: what to tell the user */
  notice?: string;
}

function normalise(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * @throws VdcError LEDGER_KEY_MISMATCH, KEY_INVALID, PEER_*
 */
export async function pinLedgerKey(
  home: string,
  rawUrl: string,
  given?: string,
): Promise<PinResult> {
  const url = normalise(rawUrl);
  const config = readConfig(home);
  const pinned = config.ledgers[url]?.key;
  const givenKey =
    given === undefined
      ? undefined
      : fromHex(given, '--ledger-key', 32, 'KEY_INVALID').toString('hex');
  if (pinned && givenKey && pinned !== givenKey) {
    fail(
      'LEDGER_KEY_MISMATCH',
      `--ledger-key ${givenKey} differs from the key pinned for ${url} (${pinned}) in ${home}/config: if the ledger really changed its key, remove the old pin there`,
    );
  }
  if (pinned) return { key: Buffer.from(pinned, 'hex') };
  const answer = await httpJson(`${url}/v1/ledger`);
  const served =
    typeof answer === 'object' && answer !== null && !Array.isArray(answer)
      ? answer['key']
      : undefined;
  const servedKey = fromHex(served, `${url}/v1/ledger key`, 32, 'PEER_PROTOCOL').toString('hex');
  if (givenKey && givenKey !== servedKey) {
    fail(
      'LEDGER_KEY_MISMATCH',
      `the ledger at ${url} presents key ${servedKey}, not the --ledger-key ${givenKey} you gave: you may be talking to another server`,
    );
  }
  config.ledgers[url] = { key: servedKey, pinnedAt: new Date().toISOString() };
  writeConfig(home, config);
  const notice = givenKey
    ? `pinned ledger key ${servedKey} for ${url}`
    : `pinned ledger key ${servedKey} for ${url} (trusted on first use: compare it with the key the ledger's operator publishes)`;
  return { key: Buffer.from(servedKey, 'hex'), notice };
}
