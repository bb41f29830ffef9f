import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { jsonLogger } from '../core/log.ts';
import { Identity } from '../identity/index.ts';
import { FakeTwinDirectory } from './fake-twin-directory.ts';
import { signLogin } from './relay-auth.ts';
import { RelayClient, type RelayClientOptions } from './relay-client.ts';
import type { ChallengeFrame } from './relay-frames.ts';
import { type RelayServer, type RelayServerOptions, startRelayServer } from './relay-server.ts';

/*
 * Helpers for relay tests and the relay benchmark: twins with deterministic keys in a fake
 * twin directory, real relays on loopback and real clients, all cleaned up after the test.
 */

/** Tests assert on codes; the JSON-lines logs would only clutter their output. */
export const quiet = jsonLogger(() => {});

type Cleanup = { after: (fn: () => unknown) => void };

export interface TestTwin {
  id: number;
  identity: Identity;
}

/** A twin whose keys come from its name, registered in `directory`. */
export function addTwin(
  directory: FakeTwinDirectory,
  id: number,
  relays: readonly string[] = [],
  name = `twin-${id}`,
): TestTwin {
  const identity = Identity.fromSeed(createHash('sha512').update(name).digest());
  directory.set({
    id,
    signingKey: identity.signingPublicKey,
    encryptionKey: identity.encryptionPublicKey,
    relays,
  });
  return { id, identity };
}

export function newDirectory(): FakeTwinDirectory {
  return new FakeTwinDirectory();
}

export function tempDir(t: Cleanup, prefix = 'vdc-relay-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A relay on 127.0.0.1 with a free port, closed after the test. */
export async function startTestRelay(
  t: Cleanup,
  directory: FakeTwinDirectory,
  opts: Partial<RelayServerOptions> = {},
): Promise<RelayServer> {
  const relay = await startRelayServer({
    host: '127.0.0.1',
    port: 0,
    directory,
    logger: quiet,
    ...opts,
  });
  t.after(() => relay.close());
  return relay;
}

/**
 * A relay with a twin of its own (keys from `relay-ID`, its URL listed first), so that it
 * can federate; `port` restarts it where it was.
 */
export async function startRelayWithTwin(
  t: Cleanup,
  directory: FakeTwinDirectory,
  twinId: number,
  opts: Partial<RelayServerOptions> = {},
): Promise<RelayServer> {
  const self = addTwin(directory, twinId, directory.twin(twinId)?.relays ?? [], `relay-${twinId}`);
  const relay = await startTestRelay(t, directory, { identity: self.identity, ...opts });
  addTwin(directory, twinId, [relay.url], `relay-${twinId}`); // now that its URL is known
  return relay;
}

/** A client for `twin` logged in to all its relays, closed after the test (`url` '': relays from `opts`). */
export async function connectTwin(
  t: Cleanup,
  url: string,
  twin: TestTwin,
  directory: FakeTwinDirectory,
  opts: Partial<RelayClientOptions> = {},
): Promise<RelayClient> {
  const client = new RelayClient({
    ...(url === '' ? {} : { url }),
    identity: twin.identity,
    twin: twin.id,
    directory,
    dataDir: opts.dataDir ?? tempDir(t),
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    logger: quiet,
    ...opts,
  });
  t.after(() => client.close());
  await client.ready(5000, { all: true });
  return client;
}

/** A bare WebSocket to a relay, for tests that speak the protocol by hand (or break it). */
export interface RawConnection {
  ws: WebSocket;
  /** The next frame the relay sends, parsed. */
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Everything received so far. */
  frames: Record<string, unknown>[];
  closed: Promise<number>;
  send(frame: unknown): void;
}

export async function rawConnect(t: Cleanup, url: string): Promise<RawConnection> {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  const frames: Record<string, unknown>[] = [];
  const waiters: ((f: Record<string, unknown>) => void)[] = [];
  let read = 0;
  ws.on('message', (data) => {
    frames.push(JSON.parse(String(data)) as Record<string, unknown>);
    const w = waiters.shift();
    if (w) w(frames[read++]!);
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => {}); // a refused connection shows in `closed`
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    closed,
    next: (timeoutMs = 5000) =>
      read < frames.length
        ? Promise.resolve(frames[read++]!)
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no frame from the relay')), timeoutMs);
            waiters.push((f) => {
              clearTimeout(timer);
              resolve(f);
            });
          }),
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
  };
}

/** A raw connection logged in as `twin` (role twin). */
export async function rawLogin(t: Cleanup, url: string, twin: TestTwin): Promise<RawConnection> {
  const c = await rawConnect(t, url);
  const challenge = (await c.next()) as unknown as ChallengeFrame;
  c.send(signLogin(twin.identity, challenge, twin.id));
  const ready = await c.next();
  if (ready['type'] !== 'ready') throw new Error(`login refused: ${JSON.stringify(ready)}`);
  return c;
}
