import { once } from 'node:events';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { assertInteger, fail } from '../core/assert.ts';
import { KEY_LABELS } from '../core/key-derivation.ts';
import {
  type CheckReport,
  checkStore,
  collectGarbage,
  isHealthy,
  loadStoreConfig,
  type MaintenanceTarget,
  type RepairReport,
  repairStore,
  type StoreConfig,
  ZdbShardBackend,
  type ZstorKeys,
  ZstorStore,
} from '../zstor/index.ts';
import type { CliIo } from './cli-io.ts';
import { unlockIdentity } from './id-command.ts';
import { emit } from './output.ts';
import { progress } from './progress.ts';

/*
 * `vdc store`: put, get, list and remove objects dispersed over the zdb namespaces of a
 * config file (docs/zstor.md "Configuration"), and check or repair their shards. Keys come
 * from the user's identity ($VDC_HOME keystore); check and repair derive the meta root
 * only. Objects stream through: memory stays at a few chunks whatever their size.
 */

/** What `vdc store` needs from outside; tests pass their own. */
export interface StoreCommandDeps {
  /** The user's storage keys; by default unlocked from the $VDC_HOME keystore. */
  keys?: (io: CliIo, needData: boolean) => Promise<Pick<ZstorKeys, 'meta'> & { data?: Buffer }>;
  /** Standard input as a stream (for `put NAME -`). */
  stdin?: () => AsyncIterable<Uint8Array>;
  /** Writes object bytes to standard output (for `get NAME -`). */
  writeStdout?: (chunk: Uint8Array) => Promise<void>;
}

async function identityKeys(io: CliIo, needData: boolean) {
  const identity = await unlockIdentity(io);
  const meta = identity.derive(KEY_LABELS.zstorMeta);
  return needData ? { meta, data: identity.derive(KEY_LABELS.zstorData) } : { meta };
}

async function writeProcessStdout(chunk: Uint8Array): Promise<void> {
  if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
}

interface Opened {
  readonly config: StoreConfig;
  readonly backends: ZdbShardBackend[];
  close(): void;
}

function open(configPath: string): Opened {
  const config = loadStoreConfig(configPath);
  const backends = config.backends.map((b) => new ZdbShardBackend(b));
  return {
    config,
    backends,
    close: () => {
      for (const b of backends) b.close();
    },
  };
}

const MiB = 1024 * 1024;
const fmtBytes = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${n} bytes`);

export function storeCommand(io: CliIo, deps: StoreCommandDeps = {}): Command {
  const getKeys = deps.keys ?? identityKeys;
  const store = new Command('store')
    .description('objects dispersed, encrypted, over zdb namespaces (docs/zstor.md)')
    .requiredOption('--config <file>', 'the store config (YAML, mode 0600): coding and backends');

  /** Runs `fn` with the store open and closes its connections after. */
  async function withStore<T>(fn: (s: ZstorStore, o: Opened) => Promise<T>): Promise<T> {
    const o = open(store.opts<{ config: string }>().config);
    try {
      const keys = await getKeys(io, true);
      if (keys.data === undefined) fail('KEY_INVALID', 'the data key is needed to read or write');
      return await fn(
        new ZstorStore(o.backends, { data: keys.data, meta: keys.meta }, o.config.options),
        o,
      );
    } finally {
      o.close();
    }
  }

  async function withTarget<T>(fn: (t: MaintenanceTarget) => Promise<T>): Promise<T> {
    const o = open(store.opts<{ config: string }>().config);
    try {
      const { meta } = await getKeys(io, false);
      return await fn({ backends: o.backends, keys: { meta }, ...o.config.options });
    } finally {
      o.close();
    }
  }

  store
    .command('put')
    .description('store a file (or stdin) as the next version of NAME')
    .argument('<name>', 'object name, 1..1024 characters')
    .argument('[path]', 'file to store, or - for stdin', '-')
    .option('--json', 'print JSON')
    .action(async (name: string, path: string, opts: { json?: boolean }) => {
      let total = 0;
      if (path !== '-') {
        const st = statSync(path, { throwIfNoEntry: false });
        if (st === undefined) fail('FILE_NOT_FOUND', `${path} does not exist`);
        if (!st.isFile()) fail('FILE_UNREADABLE', `${path} is not a regular file`);
        total = st.size;
      }
      const bar = progress(io, `put ${name}`, Boolean(opts.json));
      let sent = 0;
      const input = path === '-' ? (deps.stdin ?? (() => process.stdin))() : createReadStream(path);
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const piece of input) {
          sent += piece.length;
          bar.update(sent, total || sent);
          yield piece;
        }
      }
      const m = await withStore((s) => s.put(name, counted()));
      bar.done();
      const unplaced = m.chunks.reduce(
        (n, c) => n + c.shards.filter((s) => s.backend === null).length,
        0,
      );
      if (unplaced > 0 && !opts.json)
        io.err(`warning: ${unplaced} shards could not be stored: run \`vdc store repair\`\n`);
      emit(
        io,
        opts.json,
        {
          name,
          version: m.version,
          size: m.size,
          sha256: m.sha256,
          chunks: m.chunks.length,
          unplacedShards: unplaced,
        },
        `stored ${name} version ${m.version}: ${fmtBytes(m.size)} in ${m.chunks.length} chunks`,
      );
    });

  store
    .command('get')
    .description('write the newest version of NAME to a file (or stdout)')
    .argument('<name>', 'object name')
    .argument('[path]', 'file to write (replaced only once complete), or - for stdout', '-')
    .option('--offset <bytes>', 'start at this byte (only the chunks the range covers are read)')
    .option('--length <bytes>', 'write at most this many bytes')
    .option('--json', 'print JSON (not with - as the path)')
    .action(
      async (
        name: string,
        path: string,
        opts: { json?: boolean; offset?: string; length?: string },
      ) => {
        if (path === '-' && opts.json)
          fail('INPUT_INVALID', "'--json' needs a PATH: with - the object itself goes to stdout");
        const byteFlag = (v: string | undefined, label: string): number | undefined => {
          if (v === undefined) return undefined;
          const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
          assertInteger(n, label, 0, Number.MAX_SAFE_INTEGER);
          return n;
        };
        const offset = byteFlag(opts.offset, '--offset');
        const length = byteFlag(opts.length, '--length');
        const write = deps.writeStdout ?? writeProcessStdout;
        const degraded: string[] = [];
        const result = await withStore(async (s) => {
          const m = await s.manifest(name);
          const range =
            offset === undefined && length === undefined
              ? undefined
              : {
                  offset: offset ?? 0,
                  length: Math.max(0, Math.min(length ?? m.size, m.size - (offset ?? 0))),
                };
          const total = range?.length ?? m.size;
          const bar = progress(io, `get ${name}`, Boolean(opts.json));
          const partial = `${path}.partial-${process.pid}`;
          const file = path === '-' ? undefined : createWriteStream(partial, { mode: 0o600 });
          let got = 0;
          try {
            for await (const piece of s.read(
              m,
              (chunk, problems) => degraded.push(`chunk ${chunk}: ${problems.join('; ')}`),
              range,
            )) {
              if (file === undefined) await write(piece);
              else if (!file.write(piece)) await once(file, 'drain');
              got += piece.length;
              bar.update(got, total);
            }
            if (file !== undefined) {
              file.end();
              await once(file, 'finish');
              renameSync(partial, path);
            }
          } catch (err) {
            file?.destroy();
            if (file !== undefined) rmSync(partial, { force: true });
            throw err;
          } finally {
            bar.done();
          }
          return {
            name,
            version: m.version,
            size: m.size,
            sha256: m.sha256,
            ...(range === undefined ? {} : { offset: range.offset, written: got }),
          };
        });
        if (degraded.length > 0)
          io.err(
            `warning: ${degraded.length} chunks were read around bad shards (${degraded[0]}${degraded.length > 1 ? '; …' : ''}): run \`vdc store repair\`\n`,
          );
        if (path !== '-')
          emit(
            io,
            opts.json,
            { ...result, degradedChunks: degraded.length },
            `wrote ${name} version ${result.version} to ${path} (${fmtBytes(result.size)})`,
          );
      },
    );

  store
    .command('ls')
    .description('list objects (newest version of each)')
    .argument('[prefix]', 'only names starting with this', '')
    .option('--json', 'print JSON')
    .action(async (prefix: string, opts: { json?: boolean }) => {
      const list = await withStore((s) => s.list(prefix));
      emit(io, opts.json, list, () =>
        list
          .map(
            (o) =>
              `${String(o.size).padStart(12)}  v${o.version}  ${new Date(o.createdAt).toISOString()}  ${o.name}`,
          )
          .join('\n'),
      );
    });

  store
    .command('rm')
    .description('remove NAME, all its versions and their shards')
    .argument('<name>', 'object name')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      await withStore((s) => s.remove(name));
      emit(io, opts.json, { removed: name }, `removed ${name}`);
    });

  store
    .command('check')
    .description('read every shard; report missing, corrupt, stale ones (exit 9 when any)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const bar = progress(io, 'check', Boolean(opts.json));
      const report = await withTarget((t) => checkStore(t, (d, n) => bar.update(d, n)));
      bar.done();
      emit(io, opts.json, report, () => describeCheck(report));
      if (!isHealthy(report))
        fail(
          'ZSTOR_DAMAGE_FOUND',
          `${report.findings.length} bad shards${report.lost.length > 0 ? `, ${report.lost.length} chunks or manifests lost` : ''}: run \`vdc store repair\``,
        );
    });

  store
    .command('repair')
    .description('rebuild bad shards onto healthy backends (needs the meta key only)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const bar = progress(io, 'repair', Boolean(opts.json));
      const report = await withTarget((t) => repairStore(t, (d, n) => bar.update(d, n)));
      bar.done();
      emit(io, opts.json, report, () => describeRepair(report));
      if (report.failed.length > 0)
        fail(
          'ZSTOR_REPAIR_INCOMPLETE',
          `${report.failed.length} shards or chunks could not be repaired: ${report.failed[0]}${report.failed.length > 1 ? '; …' : ''}`,
        );
    });

  store
    .command('gc')
    .description(
      'delete orphan shards no metadata names (left by failed writes); needs the meta key only',
    )
    .option('--dry-run', 'only count them')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean; dryRun?: boolean }) => {
      const report = await withTarget((t) => collectGarbage(t, { dryRun: Boolean(opts.dryRun) }));
      emit(
        io,
        opts.json,
        report,
        () =>
          `${report.scanned} keys scanned, ${report.orphans} orphan shards (${fmtBytes(report.bytes)}), ${report.deleted} deleted` +
          (report.foreign > 0 ? `, ${report.foreign} keys not this store's left alone` : '') +
          (report.skipped.length > 0 ? `\nnot listed: ${report.skipped.join('; ')}` : ''),
      );
    });

  return store;
}

function describeCheck(r: CheckReport): string {
  const lines = [
    `${r.objects} objects, ${r.versions} versions, ${r.chunks} chunks, ${r.shards} shards checked (root generation ${r.generation})`,
  ];
  for (const f of r.findings) {
    const where =
      f.kind === 'root'
        ? 'root'
        : `${f.kind} ${f.kind === 'chunk' ? `${f.chunk} ` : ''}of ${JSON.stringify(f.object)} v${f.version}`;
    lines.push(`${f.problem}: ${where}, shard ${f.index} on ${f.backend ?? '(none)'}: ${f.detail}`);
  }
  for (const l of r.lost) lines.push(`lost: ${l}`);
  if (r.findings.length === 0 && r.lost.length === 0) lines.push('all shards healthy');
  return lines.join('\n');
}

function describeRepair(r: RepairReport): string {
  const lines = [
    `${r.found} bad shards found, ${r.rewritten} rebuilt in place, ${r.moved} moved to other backends (root generation ${r.generation})`,
  ];
  for (const f of r.failed) lines.push(`not repaired: ${f}`);
  return lines.join('\n');
}
