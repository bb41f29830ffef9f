import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import type { CliIo } from './cli-io.ts';
import { parseDuration, parseSeconds, relayUrl, withDefaultLedger } from './deploy-session.ts';

function io(env: Record<string, string> = {}): CliIo {
  return {
    out: () => {},
    err: () => {},
    readStdin: async () => Buffer.alloc(0),
    stdinIsTty: false,
    env: { VDC_HOME: '/nonexistent-vdc-home', ...env },
  };
}

const code = (c: string) => (err: unknown) => {
  assert.ok(err instanceof VdcError, String(err));
  assert.equal(err.code, c, err.message);
  return true;
};

describe('deploy session flags', () => {
  test('durations', () => {
    assert.equal(parseDuration('30d', '--expires'), 30 * 86_400_000);
    assert.equal(parseDuration('12h', '--expires'), 12 * 3_600_000);
    assert.equal(parseDuration('90m', '--expires'), 90 * 60_000);
    assert.equal(parseDuration('3600s', '--expires'), 3_600_000);
    for (const bad of ['0d', '30', 'd', '1.5h', '59s', '1826d', '-1d', '30D'])
      assert.throws(() => parseDuration(bad, '--expires'), code('USAGE'), bad);
  });

  test('seconds', () => {
    assert.equal(parseSeconds('120', '--timeout'), 120_000);
    for (const bad of ['0', '1.5', 'x', '86401', ''])
      assert.throws(() => parseSeconds(bad, '--timeout'), code('USAGE'), bad);
  });

  test('the relay: the flag, then VDC_RELAY, then the twin’s own; the root slash dropped', () => {
    const twin = ['ws://127.0.0.1:7000/'];
    assert.equal(relayUrl(io(), { relay: 'ws://a:1' }, twin), 'ws://a:1');
    assert.equal(relayUrl(io({ VDC_RELAY: 'wss://b:2/' }), {}, twin), 'wss://b:2');
    assert.equal(relayUrl(io(), {}, twin), 'ws://127.0.0.1:7000');
    assert.throws(() => relayUrl(io(), {}, []), code('DEPLOY_RELAY_UNKNOWN'));
    assert.throws(() => relayUrl(io(), { relay: 'http://x' }, []), code('USAGE'));
  });

  test('the ledger: the flag or VDC_LEDGER win; without a local grid nothing is made up', () => {
    assert.deepEqual(withDefaultLedger(io(), { ledger: 'http://l' }), { ledger: 'http://l' });
    assert.deepEqual(withDefaultLedger(io({ VDC_LEDGER: 'http://e' }), {}), {});
    assert.deepEqual(withDefaultLedger(io(), { json: true }), { json: true });
  });
});
