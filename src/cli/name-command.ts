import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { asVdcError } from '../core/errors.ts';
import { parseJson } from '../core/strict-json.ts';
import type { Projection } from '../ledger/index.ts';
import type { CliIo } from './cli-io.ts';
import { connectAsUser, type LedgerFlags, withLedgerFlags } from './ledger-context.ts';
import { emit } from './output.ts';

function gatewayOf(view: Projection, wanted: string) {
  const gateway = /^[1-9][0-9]*$/.test(wanted)
    ? view.gateway(Number(wanted))
    : view.gatewayByDomain(wanted);
  if (!gateway)
    fail(
      'STATE_NOT_FOUND',
      `no gateway ${wanted} on this ledger: list gateways with the ledger's state API`,
    );
  return gateway;
}

/** The rules file (JSON object, docs/ledger.md "name.register"); the ledger checks each field. */
function readRules(path: string): JsonValue {
  let rules: JsonValue;
  try {
    rules = parseJson(readFileSync(path === '-' ? 0 : path));
  } catch (err) {
    fail('USAGE', `'--rules' ${path}: ${asVdcError(err).message}`, err);
  }
  if (rules === null || typeof rules !== 'object' || Array.isArray(rules))
    fail('USAGE', `'--rules' ${path} must hold a JSON object of rules (docs/gateway.md)`);
  return rules;
}

function nodeIds(values: string[]): number[] {
  return values.map((v) => {
    if (!/^[1-9][0-9]{0,14}$/.test(v))
      fail('USAGE', `'--node' must be a node id, got ${JSON.stringify(v)}`);
    return Number(v);
  });
}

type NameFlags = LedgerFlags & { rules?: string; node?: string[] };

const collect = (value: string, all: string[] = []) => [...all, value];

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
    .option('--rules <file>', 'the rules, a JSON object (docs/gateway.md); - for stdin')
    .option('--node <id>', 'a node allowed to serve the name (repeat for several)', collect)
    .action(async (label: string, opts: NameFlags & { gateway: string; mode: string }) => {
      const rules = opts.rules ? readRules(opts.rules) : {};
      const nodes = nodeIds(opts.node ?? []);
      const { client, identity } = await connectAsUser(io, opts);
      const gateway = gatewayOf(client.follower.view, opts.gateway);
      const receipt = await client.submit(identity, 'name.register', {
        name: label,
        gateway: gateway.id,
        mode: opts.mode,
        rules,
        nodes,
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
    name
      .command('update')
      .description(
        "change a name's gateway, mode, rules or nodes; what is not given stays as it is",
      ),
  )
    .argument('<name>', 'the name')
    .option('--gateway <id|domain>', 'move the name to this gateway')
    .option('--mode <mode>', 'tls-passthrough or http')
    .option(
      '--rules <file>',
      'replace the rules with this JSON object (docs/gateway.md); - for stdin',
    )
    .option(
      '--node <id>',
      'replace the nodes allowed to serve the name (repeat for several)',
      collect,
    )
    .option('--no-nodes', 'allow no node to serve the name')
    .action(
      async (
        label: string,
        opts: NameFlags & { gateway?: string; mode?: string; nodes?: boolean },
      ) => {
        const rules = opts.rules ? readRules(opts.rules) : undefined;
        const nodes = opts.nodes === false ? [] : opts.node ? nodeIds(opts.node) : undefined;
        const { client, identity } = await connectAsUser(io, opts);
        const view = client.follower.view;
        const current = view.name(label);
        if (!current) fail('STATE_NOT_FOUND', `no name ${label} on this ledger: register it first`);
        const gateway = opts.gateway
          ? gatewayOf(view, opts.gateway)
          : view.gateway(current.gateway);
        const body = {
          name: label,
          gateway: gateway?.id ?? current.gateway,
          mode: opts.mode ?? current.mode,
          rules: (rules ?? current.rules) as JsonValue,
          nodes: nodes ?? [...current.nodes],
        };
        const receipt = await client.submit(identity, 'name.update', body);
        emit(
          io,
          opts.json,
          { ...body, seq: receipt.leaf.seq },
          `updated ${label}${gateway ? `.${gateway.domain}` : ''}`,
        );
      },
    );

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
