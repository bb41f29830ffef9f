import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import type { CliIo } from './cli-io.ts';
import { connectAsUser, type LedgerFlags, withLedgerFlags } from './ledger-context.ts';
import { emit } from './output.ts';

export function nameCommand(io: CliIo): Command {
  const name = new Command('name').description(
    'names: NAME.<gateway domain>, served by a gateway for your workloads',
  );

  withLedgerFlags(name.command('register').description('claim a name on a gateway'))
    .argument('<name>', 'the name (a DNS label)')
    .requiredOption('--gateway <id|domain>', 'the gateway, by id or by domain')
    .option(
      '--mode <mode>',
      'tls-passthrough (the gateway never sees plaintext) or http',
      'tls-passthrough',
    )
    .action(async (label: string, opts: LedgerFlags & { gateway: string; mode: string }) => {
      const { client, identity } = await connectAsUser(io, opts);
      const view = client.follower.view;
      const gateway = /^[1-9][0-9]*$/.test(opts.gateway)
        ? view.gateway(Number(opts.gateway))
        : view.gatewayByDomain(opts.gateway);
      if (!gateway)
        fail(
          'STATE_NOT_FOUND',
          `no gateway ${opts.gateway} on this ledger: list gateways with the ledger's state API`,
        );
      const receipt = await client.submit(identity, 'name.register', {
        name: label,
        gateway: gateway.id,
        mode: opts.mode,
        rules: {},
        nodes: [],
      });
      emit(
        io,
        opts.json,
        {
          name: label,
          gateway: gateway.id,
          domain: `${label}.${gateway.domain}`,
          seq: receipt.leaf.seq,
        },
        `registered ${label}.${gateway.domain}`,
      );
    });

  withLedgerFlags(
    name.command('release').description('give a name up; the gateway stops serving it'),
  )
    .argument('<name>', 'the name')
    .action(async (label: string, opts: LedgerFlags) => {
      const { client, identity } = await connectAsUser(io, opts);
      const receipt = await client.submit(identity, 'name.release', { name: label });
      emit(io, opts.json, { name: label, seq: receipt.leaf.seq }, `released ${label}`);
    });

  return name;
}
