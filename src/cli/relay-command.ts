import { join } from 'node:path';
import { Command } from 'commander';
import { parseListen } from '../core/listen-address.ts';
import { jsonLogger } from '../core/log.ts';
import { vdcHome } from '../core/vdc-home.ts';
import {
  DEFAULT_RELAY_LIMITS,
  openTwinDirectory,
  type RelayLimits,
  type RelayServer,
  startRelayServer,
  type TwinDirectory,
} from '../relay/index.ts';
import { loadRelayIdentity } from '../relay/relay-key.ts';
import type { CliIo } from './cli-io.ts';
import { positiveInt } from './ledger-context.ts';
import { emit } from './output.ts';
import { untilStopped } from './stop-signal.ts';

/** What `vdc relay` needs from outside; tests pass their own. */
export interface RelayCommandDeps {
  /** Builds the relay's verified view of twins from the ledger URL. */
  openDirectory?: (ledgerUrl: string) => Promise<TwinDirectory & { close?: () => void }>;
  /** Stops the relay when aborted; by default SIGINT and SIGTERM do. */
  signal?: AbortSignal;
  onListening?: (server: RelayServer) => void;
}

/** Flags that set one of the relay's limits (docs/relay.md, "Queues and bounds", "Rate limits"). */
const LIMIT_FLAGS: readonly { flag: string; key: keyof RelayLimits; what: string }[] = [
  {
    flag: '--rate-messages',
    key: 'rateMessagesPerSecond',
    what: 'envelopes a second one connection may send',
  },
  {
    flag: '--rate-burst-messages',
    key: 'rateBurstMessages',
    what: 'envelopes at once after being idle',
  },
  {
    flag: '--rate-bytes',
    key: 'rateBytesPerSecond',
    what: 'bytes a second one connection may send',
  },
  { flag: '--rate-burst-bytes', key: 'rateBurstBytes', what: 'bytes at once after being idle' },
  {
    flag: '--rate-hard-factor',
    key: 'rateHardFactor',
    what: 'a sender past this many times its rate is cut off',
  },
  {
    flag: '--max-unauthenticated-per-address',
    key: 'maxUnauthenticatedPerAddress',
    what: 'connections not logged in yet from one address (IPv6: one /64)',
  },
];

/** Commander's name for a flag's value: --rate-burst-bytes is rateBurstBytes. */
function optionName(flag: string): string {
  return flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The limits the flags set, each a positive integer. @throws VdcError USAGE */
function limitsFromFlags(opts: Record<string, unknown>): Partial<RelayLimits> {
  const limits: Partial<RelayLimits> = {};
  for (const { flag, key } of LIMIT_FLAGS) {
    const value = opts[optionName(flag)];
    if (typeof value === 'string') limits[key] = positiveInt(value, flag);
  }
  return limits;
}

export function relayCommand(io: CliIo, deps: RelayCommandDeps = {}): Command {
  const relay = new Command('relay').description('the relay twins connect out to (docs/relay.md)');
  const serve = relay
    .command('serve')
    .description('run a relay: forwards end-to-end encrypted envelopes between twins')
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 0.0.0.0:7700')
    .requiredOption('--ledger <url>', 'the ledger whose verified twins may log in')
    .option('--ledger-key <hex>', "the ledger's public key, pinned on first contact")
    .option('--url <url>', 'public URL twins dial and sign (default ws://HOST:PORT)')
    .option('--data <dir>', "folder for the relay's own key (default $VDC_HOME/relay)")
    .option('--json', 'print JSON');
  for (const { flag, key, what } of LIMIT_FLAGS)
    serve.option(`${flag} <n>`, `${what} (default ${DEFAULT_RELAY_LIMITS[key]})`);
  serve.action(
    async (
      opts: Record<string, unknown> & {
        listen: string;
        ledger: string;
        ledgerKey?: string;
        url?: string;
        data?: string;
        json?: boolean;
      },
    ) => {
      const listen = parseListen(opts.listen, '--listen', 'RELAY_LISTEN_INVALID');
      const limits = limitsFromFlags(opts);
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
        limits,
        logger,
      });
      const view = {
        url: server.url,
        ledger: directory.ledger,
        signingKey: identity.signingPublicKey.toString('hex'),
        encryptionKey: identity.encryptionPublicKey.toString('hex'),
        keyCreated: created,
        limits: Object.fromEntries(LIMIT_FLAGS.map(({ key }) => [key, server.limits[key]])),
      };
      emit(io, opts.json, view, () =>
        [
          `relay listening at ${server.url} for ledger ${directory.ledger}`,
          `relay twin signing key:    ${view.signingKey}${created ? ' (new: register a twin with this key and relays [URL] to federate)' : ''}`,
          `relay twin encryption key: ${view.encryptionKey}`,
        ].join('\n'),
      );
      deps.onListening?.(server);
      await untilStopped(deps.signal);
      await server.close();
      directory.close?.();
    },
  );
  return relay;
}
