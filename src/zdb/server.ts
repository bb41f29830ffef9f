import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import { listenOn } from '../core/listen-on.ts';
import { jsonLogger, type Logger } from '../core/log.ts';
import type { ServerContext, ServerStats } from './command-types.ts';
import { Connection, type ConnectionHost } from './connection.ts';
import { Hooks } from './hooks.ts';
import { keepFreedMemory } from './malloc-tuning.ts';
import { type Namespace, NamespaceRegistry } from './namespace-registry.ts';
import { FILE_HEADER_SIZE } from './record-format.ts';
import { defaultSettings, MAX_DATASIZE, type ZdbSettings } from './settings.ts';

/** A running zdb server. */
export interface ZdbServer {
  /** The TCP port listened on (undefined with --socket alone). */
  port: number | undefined;
  host: string;
  socketPath: string | undefined;
  /** Stops listening, closes clients, flushes and closes every namespace; runs the `close` hook. */
  close(): Promise<void>;
  /** Resolves when the server stops (STOP, close()). */
  closed: Promise<void>;
  /** For a process about to die of an unexpected error: runs the `crash` hook and waits for it. */
  crashed(): void;
}

function checkSettings(s: ZdbSettings): void {
  if (s.protect && s.adminPassword === undefined)
    fail('ZDB_USAGE', 'protected mode only works with admin password: give --admin with --protect');
  if (!Number.isInteger(s.datasize) || s.datasize < 1024 || s.datasize > MAX_DATASIZE)
    fail('ZDB_USAGE', `'--datasize' must be 1024..${MAX_DATASIZE} bytes, got ${s.datasize}`);
  if (!Number.isInteger(s.port) || s.port < 0 || s.port > 65535)
    fail('ZDB_USAGE', `'--port' must be 0..65535, got ${s.port}`);
}

/**
 * Opens the namespaces under --index/--data (rebuilding their indexes) and starts serving.
 * @throws VdcError ZDB_USAGE (bad settings), ZDB_LISTEN_FAILED (address in use, bad socket path)
 */
export async function startZdbServer(
  over: Partial<ZdbSettings> = {},
  log: Logger = jsonLogger(undefined, { program: 'zdb' }),
): Promise<ZdbServer> {
  const settings = defaultSettings(over);
  checkSettings(settings);
  keepFreedMemory(); // values pass through fresh buffers: see malloc-tuning.ts
  mkdirSync(settings.dataPath, { recursive: true, mode: 0o700 });
  mkdirSync(settings.indexPath, { recursive: true, mode: 0o700 });
  const hooks = new Hooks(settings.hook);
  const registry = new NamespaceRegistry(settings, hooks, log);
  const stats: ServerStats = {
    bootTime: Math.floor(Date.now() / 1000),
    clients: 0,
    commandsExecuted: 0,
    commandsFailed: 0,
    adminFailed: 0,
    rxBytes: 0,
    txBytes: 0,
  };
  const connections = new Set<Connection>();
  let stopping: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const timers: NodeJS.Timeout[] = [];
  const servers: Server[] = [];

  const context: ServerContext = {
    settings,
    registry,
    hooks,
    stats,
    instanceId: randomInt(1, 0xffffffff),
    detachClients(ns: Namespace) {
      for (const c of connections) if (c.client.ns === ns) c.client.ns = undefined;
    },
    stop: () => void close(),
  };
  // Group commit: connections that wrote in this turn of the event loop are flushed together.
  let deferred: Connection[] = [];
  const commit = () => {
    const batch = deferred;
    deferred = [];
    registry.flushAll(settings.sync);
    for (const c of batch) c.send();
  };
  const host: ConnectionHost = {
    context,
    log,
    defer(conn) {
      if (deferred.push(conn) === 1) setImmediate(commit);
    },
    notify(from, ns, name) {
      for (const c of connections) if (c !== from && c.waitsFor(ns, name)) c.triggered(name);
    },
    remove: (c) => connections.delete(c),
  };
  let nextId = 1;
  const onConnection = (socket: import('node:net').Socket) => {
    stats.clients++;
    const conn = new Connection(socket, host, {
      id: nextId++,
      ns: registry.default,
      writable: !settings.protect,
      admin: settings.adminPassword === undefined,
      nonce: undefined,
    });
    connections.add(conn);
  };

  const listen = (server: Server, target: { port: number; host: string } | string) =>
    listenOn(server, typeof target === 'string' ? { path: target } : target, (err) =>
      log.log('error', 'zdb listener', { err: err.message }),
    ).catch((cause: Error) => {
      throw new VdcError(
        'ZDB_LISTEN_FAILED',
        `cannot listen on ${JSON.stringify(target)}: ${cause.message}`,
        { cause },
      );
    });

  let port: number | undefined;
  try {
    if (settings.socket) {
      if (existsSync(settings.socket)) rmSync(settings.socket);
      const s = createServer({ noDelay: true }, onConnection);
      servers.push(s);
      await listen(s, settings.socket);
    }
    if (!settings.socket || settings.dualnet) {
      const s = createServer({ noDelay: true }, onConnection);
      servers.push(s);
      await listen(s, { port: settings.port, host: settings.listen });
      port = (s.address() as AddressInfo).port;
    }
  } catch (err) {
    for (const s of servers) s.close();
    registry.close();
    throw err;
  }
  hooks.id = settings.socket ? `unix://${settings.socket}` : `tcp://${settings.listen}:${port}`;

  if (settings.synctime > 0 && !settings.sync)
    timers.push(setInterval(() => registry.syncAll(), settings.synctime * 1000));
  if (settings.rotate > 0)
    timers.push(
      setInterval(() => {
        for (const ns of registry.list()) if (ns.store.dataEnd > FILE_HEADER_SIZE) ns.store.jump();
      }, settings.rotate * 1000),
    );
  for (const t of timers) t.unref();

  const close = (): Promise<void> => {
    stopping ??= (async () => {
      for (const t of timers) clearInterval(t);
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).finally(
        () => undefined,
      );
      for (const c of connections) c.destroy();
      registry.close();
      hooks.run('close');
      log.log('info', 'zdb stopped');
      resolveClosed();
    })();
    for (const c of connections) c.destroy();
    return stopping;
  };

  hooks.run('ready');
  log.log('info', 'zdb ready', { id: hooks.id, mode: settings.mode ?? 'mixed' });
  return {
    port,
    host: settings.listen,
    socketPath: settings.socket,
    close,
    closed,
    crashed: () => void hooks.runWait('crash'),
  };
}
