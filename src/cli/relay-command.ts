import { join } from 'node:path';
import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { parseListen } from '../core/listen-address.ts';
import { jsonLogger } from '../core/log.ts';
import { vdcHome } from '../core/vdc-home.ts';
import {
  openTwinDirectory,
  type RelayServer,
  startRelayServer,
  type TwinDirectory,
} from '../relay/index.ts';
import { loadRelayIdentity } from '../relay/relay-key.ts';
import type { CliIo } from './cli-io.ts';
import { emit } from './output.ts';
import { stopSignal } from './stop-signal.ts';

/** What `vdc relay` needs from outside; tests pass their own. */
export interface RelayCommandDeps {
  /** Builds the relay's verified view of twins from the ledger URL. */
  openDirectory?: (ledgerUrl: string) => Promise<TwinDirectory & { close?: () => void }>;
  /** Stops the relay when aborted; by default SIGINT and SIGTERM do. */
  signal?: AbortSignal;
  onListening?: (server: RelayServer) => void;
}

export function relayCommand(io: CliIo, deps: RelayCommandDeps = {}): Command {
  const relay = new Command('relay').description('the relay twins connect out to (docs/relay.md)');
  relay
    .command('serve')
    .description('run a relay: forwards end-to-end encrypted envelopes between twins')
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 0.0.0.0:7700')
    .requiredOption('--ledger <url>', 'the ledger whose verified twins may log in')
    .option('--ledger-key <hex>', "the ledger's public key, pinned on first contact")
    .option('--url <url>', 'public URL twins dial and sign (default ws://HOST:PORT)')
    .option('--data <dir>', "folder for the relay's own key (default $VDC_HOME/relay)")
    .option('--json', 'print JSON')
    .action(
      async (opts: {
        listen: string;
        ledger: string;
        ledgerKey?: string;
        url?: string;
        data?: string;
        json?: boolean;
      }) => {
        const listen = parseListen(opts.listen, '--listen', 'RELAY_LISTEN_INVALID');
        const data = opts.data ?? join(vdcHome(io.env), 'relay');
        const logger = jsonLogger((line) => io.err(line), { program: 'relay' });
        const directory = await (
          deps.openDirectory ??
          ((url: string) =>
            openTwinDirectory(url, {
              home: data,
              ...(opts.ledgerKey ? { ledgerKey: opts.ledgerKey } : {}),
              log: (msg, fields) => logger.log('info', msg, fields),
            }))
        )(opts.ledger);
        const { identity, created } = loadRelayIdentity(data);
        const server = await startRelayServer({
          ...listen,
          directory,
          identity,
          ...(opts.url === undefined ? {} : { publicUrl: opts.url }),
          logger,
        });
        const view = {
          url: server.url,
          ledger: directory.ledger,
          signingKey: identity.signingPublicKey.toString('hex'),
          encryptionKey: identity.encryptionPublicKey.toString('hex'),
          keyCreated: created,
        };
        emit(io, opts.json, view, () =>
          [
            `relay listening at ${server.url} for ledger ${directory.ledger}`,
            `relay twin signing key:    ${view.signingKey}${created ? ' (new: register a twin with this key and relays [URL] to federate)' : ''}`,
            `relay twin encryption key: ${view.encryptionKey}`,
          ].join('\n'),
        );
        deps.onListening?.(server);
        const signal = stopSignal(deps.signal);
        if (!signal.aborted)
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        await server.close();
        directory.close?.();
      },
    );
  return relay;
}
