import { spawn } from 'node:child_process';
import { createWriteStream, openSync } from 'node:fs';
import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { jsonLogger } from '../core/log.ts';
import { dumpIndexes, startZdbServer, type ZdbSettings } from '../zdb/index.ts';
import type { CliIo } from './cli-io.ts';

/*
 * `vdc zdb serve`: 0-db v2.0.7's command line (docs/zdb.md). Wiring only: flags become
 * settings, the server lives in src/zdb.
 */

function integer(flag: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v))
      fail('ZDB_USAGE', `'${flag}' must be a whole number, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (n < min || n > max) fail('ZDB_USAGE', `'${flag}' must be ${min}..${max}, got ${n}`);
    return n;
  };
}

interface ServeOptions {
  data: string;
  index: string;
  listen: string;
  port: number;
  socket?: string;
  dualnet?: boolean;
  mode?: string;
  admin?: string;
  protect?: boolean;
  maxsize?: number;
  datasize?: number;
  rotate?: number;
  sync?: boolean;
  synctime?: number;
  hook?: string;
  secure?: boolean;
  background?: boolean;
  logfile?: string;
  dump?: boolean;
  verbose?: boolean;
}

export function zdbCommand(io: CliIo): Command {
  const zdb = new Command('zdb').description('the 0-db compatible storage server');
  zdb
    .command('serve')
    .description('serve namespaces over RESP, like 0-db v2.0.7')
    .option('--data <dir>', 'data files directory', './zdb-data')
    .option('--index <dir>', 'index files directory', './zdb-index')
    .option('--listen <addr>', 'listen address', '::')
    .option('--port <port>', 'listen port', integer('--port', 0, 65535), 9900)
    .option('--socket <path>', 'unix socket path (replaces TCP unless --dualnet)')
    .option('--dualnet', 'listen on the unix socket and on TCP')
    .option('--mode <mode>', 'user or seq for every namespace (absent: each namespace chooses)')
    .option('--admin <password>', 'admin password (without it every client is admin)')
    .option('--protect', 'default namespace read-only unless selected with the admin password')
    .option(
      '--maxsize <bytes>',
      'size limit of the default namespace',
      integer('--maxsize', 0, Number.MAX_SAFE_INTEGER),
    )
    .option(
      '--datasize <bytes>',
      'data file size before rotation',
      integer('--datasize', 1024, 0xffffffff - 1),
    )
    .option(
      '--rotate <secs>',
      'rotate data and index files every secs seconds',
      integer('--rotate', 0, 1e9),
    )
    .option('--sync', 'fsync data and index before replying to a write')
    .option(
      '--synctime <secs>',
      'fsync at most secs seconds after a write',
      integer('--synctime', 0, 1e9),
    )
    .option('--hook <program>', 'program run on events (ready, close, jump-index, ...)')
    .option('--secure', 'refuse plain passwords: AUTH and SELECT accept only SECURE proofs')
    .option('--background', 'run detached once started')
    .option('--logfile <file>', 'write the log to this file')
    .option('--dump', 'print the index of every namespace, then exit')
    .option('--verbose', 'log debug information')
    .action(async (o: ServeOptions) => {
      if (o.mode !== undefined && o.mode !== 'user' && o.mode !== 'seq')
        fail('ZDB_USAGE', `'--mode' must be user or seq, got ${JSON.stringify(o.mode)}`);
      if (o.dump) {
        for (const line of dumpIndexes({ indexPath: o.index, dataPath: o.data }))
          io.out(`${line}\n`);
        return;
      }
      if (o.background) {
        const args = process.argv.slice(1).filter((a) => a !== '--background');
        const out = o.logfile ? openSync(o.logfile, 'a', 0o600) : 'ignore';
        const child = spawn(process.execPath, args, {
          detached: true,
          stdio: ['ignore', out, out],
        });
        child.unref();
        io.out(`${child.pid}\n`);
        return;
      }
      const logStream = o.logfile
        ? createWriteStream(o.logfile, { flags: 'a', mode: 0o600 })
        : undefined;
      const log = jsonLogger(
        (l) => (logStream ? logStream.write(l) : io.err(l)),
        { program: 'zdb' },
        o.verbose ? 'debug' : 'info',
      );
      const settings: Partial<ZdbSettings> = {
        dataPath: o.data,
        indexPath: o.index,
        listen: o.listen,
        port: o.port,
        socket: o.socket,
        dualnet: Boolean(o.dualnet),
        mode: o.mode as ZdbSettings['mode'],
        adminPassword: o.admin,
        protect: Boolean(o.protect),
        sync: Boolean(o.sync),
        secure: Boolean(o.secure),
        hook: o.hook,
        verbose: Boolean(o.verbose),
        ...(o.maxsize !== undefined ? { maxsize: o.maxsize } : {}),
        ...(o.datasize !== undefined ? { datasize: o.datasize } : {}),
        ...(o.rotate !== undefined ? { rotate: o.rotate } : {}),
        ...(o.synctime !== undefined ? { synctime: o.synctime } : {}),
      };
      const server = await startZdbServer(settings, log);
      const stop = () => void server.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // 0-db runs its `crash` hook when it dies of a fault; so do we, then die as before
      process.once('uncaughtException', (err) => {
        log.log('error', 'zdb crashed', { err });
        server.crashed();
        process.exit(70);
      });
      io.out(`zdb listening on ${server.socketPath ?? `${server.host}:${server.port}`}\n`);
      await server.closed;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });
  return zdb;
}
