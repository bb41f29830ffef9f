import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { freeLoopbackPort } from '../core/free-port.ts';
import type { Logger } from '../core/log.ts';
import { startZdbServer, ZdbClient, type ZdbServer } from '../zdb/index.ts';
import type { ZdbBackendOptions } from './zdb-backend.ts';

/*
 * Test support (tests only): real zdb servers on 127.0.0.1, each with one private
 * namespace behind a password, that a test can stop (as a dead machine), start again on
 * the same port and files, and whose files on disk it can read or damage. Servers run
 * with --secure, so a plain-text password would be refused. Everything is stopped and
 * removed in t.after.
 */

export interface TestContextLike {
  after(fn: () => unknown): void;
}

const quietLog: Logger = { log: () => {}, child: () => quietLog };

export interface TestZdbNode {
  readonly index: number;
  readonly dir: string;
  readonly dataDir: string;
  readonly indexDir: string;
  port: number;
  server: ZdbServer | undefined;
  readonly backend: ZdbBackendOptions;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export const TEST_NAMESPACE = 'zstor';

async function launch(n: { dataDir: string; indexDir: string; port: number }): Promise<ZdbServer> {
  return startZdbServer(
    {
      dataPath: n.dataDir,
      indexPath: n.indexDir,
      listen: '127.0.0.1',
      port: n.port,
      secure: true,
      // Small data files, so tests that damage or restore files touch several of them.
      datasize: 64 * 1024 * 1024,
    },
    quietLog,
  );
}

/** Starts `count` zdb servers, each with namespace "zstor" and its own password. */
export async function startZdbNodes(
  t: TestContextLike,
  count: number,
  opts: { farms?: number } = {},
): Promise<TestZdbNode[]> {
  const root = mkdtempSync(join(tmpdir(), 'vdc-zstor-zdb-'));
  const nodes: TestZdbNode[] = [];
  t.after(async () => {
    for (const n of nodes) await n.stop();
    rmSync(root, { recursive: true, force: true });
  });
  for (let i = 0; i < count; i++) {
    const dir = join(root, `zdb${i}`);
    const node: TestZdbNode = {
      index: i,
      dir,
      dataDir: join(dir, 'data'),
      indexDir: join(dir, 'index'),
      port: 0,
      server: undefined,
      backend: {
        address: '',
        namespace: TEST_NAMESPACE,
        password: `password-of-zdb-${i}-${Math.random().toString(36).slice(2)}`,
        node: `node${i}`,
        farm: opts.farms === undefined ? undefined : `farm${i % opts.farms}`,
      },
      async stop() {
        const s = node.server;
        node.server = undefined;
        await s?.close();
      },
      async start() {
        if (node.server !== undefined) return;
        node.server = await launch(node);
        node.port = node.server.port!;
      },
    };
    await node.start();
    (node as { backend: ZdbBackendOptions }).backend = {
      ...node.backend,
      address: `127.0.0.1:${node.port}`,
    };
    const admin = await ZdbClient.connect({ host: '127.0.0.1', port: node.port });
    await admin.command('NSNEW', TEST_NAMESPACE);
    await admin.command('NSSET', TEST_NAMESPACE, 'password', node.backend.password);
    await admin.command('NSSET', TEST_NAMESPACE, 'public', '0');
    admin.close();
    nodes.push(node);
  }
  return nodes;
}

/** Writes a store config (mode 0600) over `nodes`; returns its path. */
export function writeStoreConfig(
  path: string,
  nodes: readonly TestZdbNode[],
  extra: Record<string, unknown> = { data: 4, parity: 2 },
): string {
  const backends = nodes.map((n) => ({
    ...n.backend,
    farm: n.backend.farm ?? undefined,
  }));
  const doc = { ...extra, backends: backends.map((b) => JSON.parse(JSON.stringify(b))) };
  writeFileSync(path, stringifyYaml(doc), { mode: 0o600 });
  return path;
}

const VDC_BIN = new URL('../../bin/vdc', import.meta.url).pathname;

export interface ZdbProcess {
  readonly dir: string;
  readonly port: number;
  readonly backend: ZdbBackendOptions;
  /** SIGKILL: no flush, no goodbye, as a machine losing power would. */
  kill(): Promise<void>;
  /** Starts `vdc zdb serve` again on the same port and files. */
  start(): Promise<void>;
}

/**
 * Starts `count` zdb servers as separate `vdc zdb serve --secure` processes, each with
 * namespace "zstor" behind its own password; killed and removed in t.after.
 */
export async function startZdbProcesses(t: TestContextLike, count: number): Promise<ZdbProcess[]> {
  const root = mkdtempSync(join(tmpdir(), 'vdc-zstor-zdbproc-'));
  const procs: ZdbProcess[] = [];
  t.after(async () => {
    for (const p of procs) await p.kill();
    rmSync(root, { recursive: true, force: true });
  });
  for (let i = 0; i < count; i++) {
    const dir = join(root, `zdb${i}`);
    const port = await freeLoopbackPort();
    let child: ChildProcess | undefined;
    const p: ZdbProcess = {
      dir,
      port,
      backend: {
        address: `127.0.0.1:${port}`,
        namespace: TEST_NAMESPACE,
        password: `password-${i}-${Math.random().toString(36).slice(2)}`,
        node: `node${i}`,
      },
      async kill() {
        const c = child;
        child = undefined;
        if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      },
      async start() {
        if (child !== undefined) return;
        const args = ['zdb', 'serve', '--data', join(dir, 'data'), '--index', join(dir, 'index')];
        child = spawn(
          VDC_BIN,
          [...args, '--listen', '127.0.0.1', '--port', String(port), '--secure'],
          {
            stdio: 'ignore',
          },
        );
        for (let tries = 0; ; tries++) {
          try {
            (await ZdbClient.connect({ host: '127.0.0.1', port })).close();
            return;
          } catch (err) {
            if (tries > 300 || child.exitCode !== null) throw err;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      },
    };
    procs.push(p);
    await p.start();
    const admin = await ZdbClient.connect({ host: '127.0.0.1', port });
    await admin.command('NSNEW', TEST_NAMESPACE);
    await admin.command('NSSET', TEST_NAMESPACE, 'password', p.backend.password);
    await admin.command('NSSET', TEST_NAMESPACE, 'public', '0');
    admin.close();
  }
  return procs;
}
