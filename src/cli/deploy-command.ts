import { Command } from 'commander';
import type { CliIo } from './cli-io.ts';
import { readInput } from './cli-io.ts';
import { parseDeployFile } from './deploy-file.ts';
import { type RolloutResult, rollout } from './deploy-flow.ts';
import {
  openDeploySession,
  parseDuration,
  parseSeconds,
  type SessionFlags,
} from './deploy-session.ts';
import { positiveInt, withLedgerFlags } from './ledger-context.ts';
import { emit } from './output.ts';

/*
 * `vdc deploy --node ID FILE.json` (docs/deploy.md): the file is checked before anything
 * else, then the rollout of deploy-flow.ts runs; progress goes to stderr, the result to
 * stdout. A failure prints the node's own error and exits with its kind's code.
 */

export const DEFAULT_EXPIRES = '30d';
export const DEFAULT_TIMEOUT_S = '120';

export interface DeployFlags extends SessionFlags {
  node: string;
  expires: string;
  timeout: string;
}

/** Adds --relay and --timeout (with the ledger flags) to a command that talks to a node. */
export function withNodeFlags(cmd: Command): Command {
  return withLedgerFlags(cmd)
    .option('--relay <url>', 'relay to reach the node through (default: $VDC_RELAY, your twin’s)')
    .option(
      '--timeout <s>',
      'seconds to wait for the node (and, deploying, for every workload to be ok)',
      DEFAULT_TIMEOUT_S,
    );
}

export function describeRollout(r: RolloutResult, verb: string): string {
  return [
    `${verb} contract ${r.contract} on node ${r.node}: version ${r.version}, ${r.workloads.length} workload(s) ok; expires ${new Date(r.expiresAt).toISOString()}`,
    ...r.workloads.map(
      (w) => `  ${w.name} (${w.kind}): ${w.state}${w.message ? ` — ${w.message}` : ''}`,
    ),
  ].join('\n');
}

export function deployCommand(io: CliIo): Command {
  return withNodeFlags(
    new Command('deploy').description(
      'deploy workloads to a node: creates the contract, seals secrets to the node, signs, sends over the relay and waits until every workload is ok (docs/deploy.md)',
    ),
  )
    .argument('<file>', 'deployment file {"workloads": [...]}, or - for stdin')
    .requiredOption('--node <id>', 'the node to deploy to')
    .option('--expires <duration>', 'contract term, e.g. 30d, 12h, 90m', DEFAULT_EXPIRES)
    .action(async (path: string, opts: DeployFlags) => {
      const node = positiveInt(opts.node, '--node');
      const expiresMs = parseDuration(opts.expires, '--expires');
      const timeoutMs = parseSeconds(opts.timeout, '--timeout');
      const file = parseDeployFile(await readInput(io, path), path === '-' ? 'stdin' : path);
      const s = await openDeploySession(io, opts, node);
      try {
        const result = await rollout(s, {
          file,
          expiresMs,
          timeoutMs,
          say: (line) => {
            if (!opts.json) io.err(`${line}\n`);
          },
          warn: (line) => io.err(`${line}\n`),
        });
        emit(io, opts.json, result, () => describeRollout(result, 'deployed'));
      } finally {
        await s.close();
      }
    });
}
