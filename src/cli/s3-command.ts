import { Command } from 'commander';
import { KEY_LABELS } from '../core/key-derivation.ts';
import { parseListen } from '../core/listen-address.ts';
import { jsonLogger } from '../core/log.ts';
import { loadStoreConfig, ZdbShardBackend, type ZstorKeys, ZstorStore } from '../zstor/index.ts';
import { type S3Server, s3CredentialsFromKey, startS3Server } from '../zstor/s3/index.ts';
import type { CliIo } from './cli-io.ts';
import { unlockIdentity } from './id-command.ts';
import { emit } from './output.ts';
import { untilStopped } from './stop-signal.ts';

/*
 * `vdc s3`: an S3-compatible endpoint over the user's dispersed store (docs/zstor.md,
 * "S3 API"), and the access key pair S3 clients sign with, both from the user's identity.
 */

export interface S3Keys extends ZstorKeys {
  /** The `vdc/s3/0` key the access key pair is derived from. */
  readonly s3: Buffer;
}

/** What `vdc s3` needs from outside; tests pass their own. */
export interface S3CommandDeps {
  /** The user's keys; by default unlocked from the $VDC_HOME keystore. */
  keys?: (io: CliIo) => Promise<S3Keys>;
  /** Stops the server when aborted; by default SIGINT and SIGTERM do. */
  signal?: AbortSignal;
  onListening?: (server: S3Server) => void;
}

async function identityKeys(io: CliIo): Promise<S3Keys> {
  const identity = await unlockIdentity(io);
  return {
    data: identity.derive(KEY_LABELS.zstorData),
    meta: identity.derive(KEY_LABELS.zstorMeta),
    s3: identity.derive(KEY_LABELS.s3),
  };
}

export function s3Command(io: CliIo, deps: S3CommandDeps = {}): Command {
  const getKeys = deps.keys ?? identityKeys;
  const s3 = new Command('s3').description('an S3-compatible endpoint over your dispersed store');

  s3.command('credentials')
    .description('print the S3 access key pair derived from your identity (vdc/s3/0)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const c = s3CredentialsFromKey((await getKeys(io)).s3);
      emit(io, opts.json, c, () =>
        [
          `access key id:     ${c.accessKeyId}`,
          `secret access key: ${c.secretAccessKey}`,
          'region: us-east-1 (any region is accepted); path-style addressing; Signature Version 4',
        ].join('\n'),
      );
    });

  s3.command('serve')
    .description('serve S3 over the store of a config file until stopped')
    .requiredOption('--config <file>', 'the store config (YAML, mode 0600): coding and backends')
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:9000')
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; listen: string; json?: boolean }) => {
      const listen = parseListen(opts.listen, '--listen', 'S3_LISTEN_INVALID');
      const config = loadStoreConfig(opts.config);
      const keys = await getKeys(io);
      const backends = config.backends.map((b) => new ZdbShardBackend(b));
      try {
        const store = new ZstorStore(
          backends,
          { data: keys.data, meta: keys.meta },
          // A server writes in bursts: it keeps the writer lock between writes for a while
          // (released on stop; after a crash the next writer waits out its ttl).
          { lockHoldMs: 5_000, ...config.options },
        );
        const credentials = s3CredentialsFromKey(keys.s3);
        const server = await startS3Server({
          store,
          credentials,
          ...listen,
          logger: jsonLogger((line) => io.err(line), { program: 's3' }),
        });
        const view = { url: server.url, accessKeyId: credentials.accessKeyId };
        emit(io, opts.json, view, () =>
          [
            `S3 endpoint listening at ${server.url}`,
            `access key id: ${credentials.accessKeyId} (secret: vdc s3 credentials)`,
          ].join('\n'),
        );
        deps.onListening?.(server);
        await untilStopped(deps.signal);
        await server.close();
        await store.close();
      } finally {
        for (const b of backends) b.close();
      }
    });
  return s3;
}
