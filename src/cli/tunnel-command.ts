import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { jsonLogger } from '../core/log.ts';
import { settleWithin } from '../core/settle-within.ts';
import { parseHostPort, type RunningTunnel, startTunnel } from '../gateway/index.ts';
import type { CliIo } from './cli-io.ts';
import { connectAsUser, type LedgerFlags, positiveInt, withLedgerFlags } from './ledger-context.ts';
import { stopSignal } from './stop-signal.ts';

/** What `vdc tunnel` needs from outside; tests pass their own. */
export interface TunnelCommandDeps {
  signal?: AbortSignal;
  onStart?: (tunnel: RunningTunnel) => void;
}

interface TunnelFlags extends LedgerFlags {
  gateway?: string;
  name: string;
  to: string;
  node?: string;
  grant?: string;
  tlsCert?: string;
  tlsKey?: string;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    fail('USAGE', `'${flag}' ${path}: ${(err as Error).message}`, err);
  }
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function tunnelCommand(io: CliIo, deps: TunnelCommandDeps = {}): Command {
  return withLedgerFlags(
    new Command('tunnel').description(
      'serve a local port as NAME.<gateway domain>: dials out to the gateway, never listens (docs/gateway.md)',
    ),
  )
    .requiredOption('--name <name>', 'the name you hold (its contract names the gateway)')
    .requiredOption('--to <host:port>', 'the local service each stream connects to')
    .option(
      '--gateway <host:port>',
      "dial here (default: the gateway's registered tunnel address); the key is pinned from the ledger either way",
    )
    .option('--node <id>', 'serve as this node (its key in $VDC_HOME), with --grant')
    .option('--grant <hex>', "the name holder's vdc/grant/v1 signature for this node")
    .option(
      '--tls-cert <file>',
      'http mode over TLS: the certificate chain (PEM, leaf first) the name pins in rules.tlsCertSha256; with --tls-key',
    )
    .option(
      '--tls-key <file>',
      "its private key (PEM); sent to the gateway over this tunnel only, held in the gateway's memory",
    )
    .action(async (opts: TunnelFlags) => {
      if (!LABEL.test(opts.name))
        fail('USAGE', `'--name' must be one DNS label, got ${JSON.stringify(opts.name)}`);
      const to = parseHostPort(opts.to, '--to');
      const address =
        opts.gateway === undefined ? undefined : parseHostPort(opts.gateway, '--gateway');
      if ((opts.node === undefined) !== (opts.grant === undefined))
        fail('USAGE', "'--node' and '--grant' go together");
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined))
        fail('USAGE', "'--tls-cert' and '--tls-key' go together");
      const tls =
        opts.tlsCert === undefined
          ? undefined
          : {
              cert: readPem(opts.tlsCert, '--tls-cert'),
              key: readPem(opts.tlsKey!, '--tls-key'),
            };
      const { client, identity } = await connectAsUser(io, opts);
      const logger = jsonLogger((line) => io.err(line), { program: 'tunnel', name: opts.name });
      const signal = stopSignal(deps.signal);
      const follow = new AbortController();
      void client.follower.follow(follow.signal).catch(() => {});
      const tunnel = startTunnel({
        view: () => client.follower.view,
        // bounded: a slow ledger must not hold the handshake past the gateway's patience
        sync: () => settleWithin(client.follower.sync(), 5_000),
        ledger: client.follower.ledger,
        identity,
        name: opts.name,
        to,
        ...(address ? { address } : {}),
        ...(tls ? { tls } : {}),
        ...(opts.node === undefined
          ? {}
          : { node: positiveInt(opts.node, '--node'), grant: opts.grant! }),
        onEvent: (event, fields) =>
          logger.log(event === 'retry' ? 'warn' : 'info', `tunnel ${event}`, fields),
      });
      deps.onStart?.(tunnel);
      signal.addEventListener('abort', () => tunnel.stop(), { once: true });
      try {
        await tunnel.done;
      } finally {
        follow.abort();
      }
    });
}
