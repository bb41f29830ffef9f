import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../core/log.ts';
import { ZdbClient } from './client.ts';
import { startZdbServer, type ZdbServer } from './server.ts';
import type { ZdbSettings } from './settings.ts';

/*
 * Test support for zdb (used by tests only): a real server on 127.0.0.1 with a free port
 * and temporary folders, closed and removed in t.after even when the test fails.
 */

export interface TestContextLike {
  after(fn: () => unknown): void;
}

export const quietLog: Logger = { log: () => {}, child: () => quietLog };

export function tempDir(t: TestContextLike, prefix = 'vdc-zdb-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestZdb {
  server: ZdbServer;
  port: number;
  dir: string;
  settings: Partial<ZdbSettings>;
  client(): Promise<ZdbClient>;
}

export async function startTestZdb(
  t: TestContextLike,
  over: Partial<ZdbSettings> = {},
  dir = tempDir(t),
): Promise<TestZdb> {
  const settings: Partial<ZdbSettings> = {
    dataPath: join(dir, 'data'),
    indexPath: join(dir, 'index'),
    listen: '127.0.0.1',
    port: 0,
    ...over,
  };
  const server = await startZdbServer(settings, quietLog);
  const clients: ZdbClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });
  return {
    server,
    port: server.port!,
    dir,
    settings,
    async client() {
      const c = await ZdbClient.connect({ host: '127.0.0.1', port: server.port! });
      clients.push(c);
      return c;
    },
  };
}

/** Runs redis-cli against the server; resolves to its stdout. */
export function redisCli(port: number, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(port), ...args],
      { encoding: 'latin1', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
    child.stdin?.end(input ?? '');
  });
}

/** Sends raw bytes on a fresh connection; resolves to everything received until the server closes or `waitMs` of quiet. */
export function rawExchange(
  port: number,
  data: Buffer,
  waitMs = 300,
): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => done(false), waitMs);
    };
    socket.on('data', (c) => {
      chunks.push(c);
      arm();
    });
    socket.on('close', () => done(true));
    socket.on('error', () => done(true));
    socket.on('connect', () => {
      socket.write(data);
      arm();
    });
  });
}

/** A RESP request, for raw exchanges. */
export function resp(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
