import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { asVdcError } from '../core/errors.ts';
import type { Contract, LedgerClient } from '../ledger/index.ts';
import type { DeploymentView } from '../node/index.ts';
import { type CliIo, readInput } from './cli-io.ts';
import { describeRollout, withNodeFlags } from './deploy-command.ts';
import { parseDeployFile } from './deploy-file.ts';
import { rollout } from './deploy-flow.ts';
import {
  asView,
  type DeploySession,
  openDeploySession,
  parseDuration,
  parseSeconds,
  type SessionFlags,
} from './deploy-session.ts';
import { positiveInt } from './ledger-context.ts';
import { emit } from './output.ts';

/*
 * `vdc deployment get|list|delete|update` (docs/deploy.md): the user's deployments as the
 * node holds them, asked over the relay, next to the contract as the user's own verified
 * view of the ledger has it. A contract names its node, so --node is needed only by `list`.
 */

interface ContractFlags extends SessionFlags {
  node?: string;
  contract: string;
  timeout: string;
}

function contractState(c: Contract | undefined): string {
  if (!c) return 'unknown';
  if (c.cancelledAt !== null) return `cancelled (${c.cancelReason})`;
  return c.expiresAt <= Date.now() ? 'expired' : 'active';
}

/** The user's contract, on the node given (if one is). @throws VdcError DEPLOY_CONTRACT_NOT_YOURS */
function ownContract(
  client: LedgerClient,
  twin: number,
  id: number,
  node: number | undefined,
): Contract {
  const c = client.follower.view.contract(id);
  if (!c || c.twin !== twin)
    fail(
      'DEPLOY_CONTRACT_NOT_YOURS',
      `you have no contract ${id} on this ledger: list yours with 'vdc deployment list --node ID'`,
    );
  if (node !== undefined && c.node !== node)
    fail(
      'DEPLOY_CONTRACT_NOT_YOURS',
      `contract ${id} is for node ${c.node}, not node ${node}: leave --node out or give ${c.node}`,
    );
  return c;
}

/** Opens a session on the node a contract of the user's names. */
async function contractSession(
  io: CliIo,
  opts: ContractFlags,
): Promise<{ s: DeploySession; contract: Contract }> {
  const id = positiveInt(opts.contract, '--contract');
  const node = opts.node === undefined ? undefined : positiveInt(opts.node, '--node');
  let contract: Contract | undefined;
  const s = await openDeploySession(io, opts, (client, twin) => {
    contract = ownContract(client, twin, id, node);
    return contract.node;
  });
  return { s, contract: contract as unknown as Contract };
}

function viewLines(v: DeploymentView, c: Contract | undefined): string {
  return [
    `contract ${v.contract} (${contractState(c)}) on node ${c?.node ?? '?'}: version ${v.version}, ${v.state}, updated ${new Date(v.updatedAt).toISOString()}`,
    ...v.workloads.map(
      (w) => `  ${w.name} (${w.kind}): ${w.state}${w.message ? ` — ${w.message}` : ''}`,
    ),
  ].join('\n');
}

function contractOptions(cmd: Command): Command {
  return withNodeFlags(cmd)
    .requiredOption('--contract <id>', 'the contract of the deployment')
    .option('--node <id>', 'the node (default: the one the contract names)');
}

export function deploymentCommand(io: CliIo): Command {
  const deployment = new Command('deployment').description(
    'your deployments on a node: get, list, update, delete (docs/deploy.md)',
  );

  contractOptions(
    deployment.command('get').description('show a deployment as the node holds it'),
  ).action(async (opts: ContractFlags) => {
    const timeoutMs = parseSeconds(opts.timeout, '--timeout');
    const { s, contract } = await contractSession(io, opts);
    try {
      const got = (await s.call('deployment.get', { contract: contract.id }, timeoutMs)) as {
        [k: string]: JsonValue;
      };
      const view = asView(got);
      emit(
        io,
        opts.json,
        { ...got, node: contract.node, contractState: contractState(contract) },
        () => viewLines(view, contract),
      );
    } finally {
      await s.close();
    }
  });

  withNodeFlags(deployment.command('list').description('list your deployments on a node'))
    .requiredOption('--node <id>', 'the node')
    .action(async (opts: SessionFlags & { node: string; timeout: string }) => {
      const node = positiveInt(opts.node, '--node');
      const timeoutMs = parseSeconds(opts.timeout, '--timeout');
      const s = await openDeploySession(io, opts, node);
      try {
        const list = ((await s.call('deployment.list', {}, timeoutMs)) as JsonValue[]).map(asView);
        const view = s.client.follower.view;
        emit(
          io,
          opts.json,
          list.map((v) => ({
            ...v,
            node,
            contractState: contractState(view.contract(v.contract)),
          })),
          () =>
            list.length
              ? list.map((v) => viewLines(v, view.contract(v.contract))).join('\n')
              : `you have no deployments on node ${node}`,
        );
      } finally {
        await s.close();
      }
    });

  contractOptions(
    deployment
      .command('delete')
      .description('remove a deployment from its node, then cancel its contract on the ledger'),
  ).action(async (opts: ContractFlags) => {
    const timeoutMs = parseSeconds(opts.timeout, '--timeout');
    const { s, contract } = await contractSession(io, opts);
    try {
      let removed = true;
      try {
        await s.call('deployment.delete', { contract: contract.id }, timeoutMs);
      } catch (err) {
        // Gone from the node already (removed, or never deployed): the contract still goes.
        if (asVdcError(err).code !== 'DEPLOYMENT_NOT_FOUND') throw err;
        removed = false;
      }
      let cancelled = false;
      if (contract.cancelledAt === null) {
        await s.client.submit(s.identity, 'contract.cancel', {
          contract: contract.id,
          reason: 'user',
        });
        cancelled = true;
      }
      emit(
        io,
        opts.json,
        { contract: contract.id, node: contract.node, removed, cancelled },
        `contract ${contract.id}: ${removed ? `removed from node ${contract.node}` : `node ${contract.node} held no deployment for it`}; ${cancelled ? 'contract cancelled' : 'contract was already cancelled'}`,
      );
    } finally {
      await s.close();
    }
  });

  contractOptions(
    deployment
      .command('update')
      .description(
        'replace a deployment with a new version: updates the contract, sends it, waits until every workload is ok; the previous terms come back on failure',
      ),
  )
    .argument('<file>', 'deployment file {"workloads": [...]}, or - for stdin')
    .option('--expires <duration>', 'a new contract term from now, e.g. 30d (default: keep)')
    .action(async (path: string, opts: ContractFlags & { expires?: string }) => {
      const timeoutMs = parseSeconds(opts.timeout, '--timeout');
      const expiresMs =
        opts.expires === undefined ? undefined : parseDuration(opts.expires, '--expires');
      const file = parseDeployFile(await readInput(io, path), path === '-' ? 'stdin' : path);
      const { s, contract } = await contractSession(io, opts);
      try {
        const result = await rollout(s, {
          file,
          contract,
          ...(expiresMs === undefined ? {} : { expiresMs }),
          timeoutMs,
          say: (line) => {
            if (!opts.json) io.err(`${line}\n`);
          },
          warn: (line) => io.err(`${line}\n`),
        });
        emit(io, opts.json, result, () => describeRollout(result, 'updated'));
      } finally {
        await s.close();
      }
    });

  return deployment;
}
