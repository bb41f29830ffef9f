import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonValue } from '../../src/core/canonical-json.ts';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { VdcError } from '../../src/core/errors.ts';
import { toHex } from '../../src/core/hex.ts';
import { jsonLogger } from '../../src/core/log.ts';
import { Identity } from '../../src/identity/index.ts';
import { LedgerClient } from '../../src/ledger/ledger-client.ts';
import type { LedgerFollower } from '../../src/ledger/ledger-follower.ts';
import { type RunningLedger, startLedgerServer } from '../../src/ledger/ledger-server.ts';
import type { SignedHead } from '../../src/ledger/signed-head.ts';

type After = { after: (fn: () => unknown) => void };

/** A temporary folder removed after the test. */
export function tempDir(t: After, prefix = 'vdc-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const quiet = jsonLogger(() => {});

/** A real ledger server on loopback over a SQLite store in `dir`; stopped after the test. */
export async function startTestLedger(
  t: After,
  dir: string,
  opts: { store?: string; keyFile?: string; dishonest?: boolean } = {},
): Promise<RunningLedger> {
  const ledger = await startLedgerServer({
    // A dishonest operator runs a ledger that logs reports its own tree contradicts.
    ...(opts.dishonest ? { acceptAnyReportedHead: true } : {}),
    store: opts.store ?? `sqlite:${join(dir, 'ledger.db')}`,
    listen: '127.0.0.1:0',
    keyFile: opts.keyFile ?? join(dir, 'ledger.key'),
    logger: quiet,
    heartbeatMs: 60_000,
  });
  let closed = false;
  t.after(async () => {
    if (!closed) await ledger.close();
  });
  const close = ledger.close.bind(ledger);
  ledger.close = async () => {
    closed = true;
    await close();
  };
  return ledger;
}

/** A user with a fresh identity, a $VDC_HOME and a client connected to `url`. */
export async function newUser(
  t: After,
  url: string,
): Promise<{ identity: Identity; home: string; client: LedgerClient }> {
  const identity = Identity.fromSeed(randomBytes(64));
  const home = tempDir(t, 'vdc-home-');
  const client = await LedgerClient.connect({ url, home });
  return { identity, home, client };
}

/** Registers the user's twin; returns its id. */
export async function registerTwin(client: LedgerClient, identity: Identity): Promise<number> {
  const receipt = await client.submit(identity, 'twin.create', {
    encryptionKey: toHex(identity.encryptionPublicKey),
    relays: [],
  });
  return receipt.created['twins'] ?? Number.NaN;
}

/**
 * Rewrites one JSON answer of the proxied ledger: return the new body (sent as 200, or 404 for
 * an `{error}` body), or undefined to keep the answer.
 */
export type AnswerRewrite = (
  path: string,
  body: JsonValue,
  status: number,
) => JsonValue | undefined;

export interface LyingProxy {
  url: string;
  /** where requests go; may be switched while running */
  target: string;
  /** applied to every JSON answer (not to the event stream, which is piped unchanged) */
  rewrite: AnswerRewrite | undefined;
}

/**
 * An HTTP proxy on loopback in front of a real ledger that can alter any JSON answer: a
 * ledger operator (or anyone on the path) who lies. Stopped after the test.
 */
export async function startLyingProxy(
  t: After,
  target: string,
  rewrite?: AnswerRewrite,
): Promise<LyingProxy> {
  const proxy: LyingProxy = { url: '', target, rewrite };
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const upstream = await fetch(`${proxy.target}${req.url}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(body.length > 0 ? { body } : {}),
      });
      const type = upstream.headers.get('content-type') ?? '';
      if (!type.startsWith('application/json') || !upstream.body) {
        res.writeHead(upstream.status, { 'content-type': type });
        if (!upstream.body) return void res.end();
        res.on('close', () => void upstream.body?.cancel().catch(() => {}));
        for await (const chunk of upstream.body) res.write(chunk);
        return void res.end();
      }
      let text = await upstream.text();
      let status = upstream.status;
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const changed = proxy.rewrite?.(path, JSON.parse(text) as JsonValue, upstream.status);
      if (changed !== undefined) {
        text = JSON.stringify(changed);
        // A forged record is served as found; a forged error keeps an error status.
        const isError = typeof changed === 'object' && changed !== null && 'error' in changed;
        status = isError ? (status >= 400 ? status : 404) : 200;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return proxy;
}

/**
 * Copies a stopped ledger's SQLite store and key into a new folder: the same ledger key over
 * the same history, which its operator can then diverge or serve as an older copy.
 */
export function copyLedgerFiles(fromDir: string, toDir: string): void {
  for (const name of ['ledger.db', 'ledger.db-wal', 'ledger.key'])
    if (existsSync(join(fromDir, name))) copyFileSync(join(fromDir, name), join(toDir, name));
}

/** Stops `ledger`, copies its files to a new folder, and starts it again on its own folder. */
export async function snapshotLedger(
  t: After,
  ledger: RunningLedger,
  dir: string,
  opts: { dishonest?: boolean } = {},
): Promise<{ ledger: RunningLedger; copy: string }> {
  await ledger.close();
  const copy = tempDir(t, 'vdc-ledger-copy-');
  copyLedgerFiles(dir, copy);
  return { ledger: await startTestLedger(t, dir, opts), copy };
}

/** For assert.rejects/throws: the error is a VdcError with `code` (the message shows otherwise). */
export function hasCode(code: ErrorCode): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof VdcError, `expected VdcError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

/** What a follower had verified before an attack: compared after it with assertUnmoved. */
export interface FollowerState {
  head: SignedHead | undefined;
  digest: string | undefined;
  saved: string | undefined;
}

export function followerState(f: LedgerFollower, stateFile?: string): FollowerState {
  return {
    head: structuredClone(f.head),
    digest: f.head ? f.view.digest() : undefined,
    saved: stateFile && existsSync(stateFile) ? readFileSync(stateFile, 'utf8') : undefined,
  };
}

/**
 * Signed evidence against the ledger (a signed log the rules refuse, or a split view the
 * ledger itself accepted): the follower must refuse all use after it, until a person
 * rebuilds it. LEDGER_FORK is final only for two signed heads of one size (then
 * `f.failure` is set); a rollback or an unproven extension may be a replay or an altered
 * proof in transit, so it only refuses the answer.
 */
export const FINAL_CODES: readonly ErrorCode[] = ['LEDGER_ENTRY_REFUSED', 'LEDGER_SPLIT_VIEW'];

/**
 * After a refused sync with `code`: the saved head did not move, and the follower either
 * refuses all use with that code, or still holds exactly the head and view it had. Codes in
 * FINAL_CODES must refuse all use.
 */
export async function assertUnmoved(
  f: LedgerFollower,
  code: ErrorCode,
  before: FollowerState,
  stateFile?: string,
): Promise<void> {
  if (stateFile)
    assert.equal(
      existsSync(stateFile) ? readFileSync(stateFile, 'utf8') : undefined,
      before.saved,
      'the saved head moved',
    );
  if (FINAL_CODES.includes(code) || f.failure) {
    assert.equal(f.failure?.code, code, 'the follower refuses all use with the code');
    assert.throws(() => f.view, hasCode(code));
    await assert.rejects(f.sync(), hasCode(code));
    return;
  }
  assert.deepEqual(f.head, before.head, 'the verified head moved');
  if (before.digest !== undefined) assert.equal(f.view.digest(), before.digest, 'the view moved');
  else assert.equal(f.view.size, 0, 'the view moved');
}
