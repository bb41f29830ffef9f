import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { toHex } from '../core/hex.ts';
import { jsonLogger } from '../core/log.ts';
import {
  DEFAULT_FENCE_AFTER_MS,
  DEFAULT_REPORT_INTERVAL_MS,
  loadNodeIdentity,
  type NodeAgent,
  nodeRuntimes,
  readGrantFile,
  startNodeAgent,
} from '../node/index.ts';
import type { CliIo } from './cli-io.ts';
import { emit } from './output.ts';
import { untilStopped } from './stop-signal.ts';

/** What `vdc node` needs from outside; tests pass their own. */
export interface NodeCommandDeps {
  /** Stops the agent when aborted; by default SIGINT and SIGTERM do. */
  signal?: AbortSignal;
  onReady?: (agent: NodeAgent) => void;
}

function seconds(value: string, flag: string): number {
  const n = /^[0-9]{1,6}(?:\.[0-9]{1,3})?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n > 0 && n <= 86_400))
    fail(
      'USAGE',
      `'${flag}' must be a number of seconds in (0, 86400], got ${JSON.stringify(value)}`,
    );
  return Math.round(n * 1000);
}

function farmId(value: string): number {
  const n = /^[1-9][0-9]{0,14}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > 2 ** 48)
    fail('USAGE', `'--farm' must be a farm id (1..2^48), got ${JSON.stringify(value)}`);
  return n;
}

function url(value: string, flag: string, schemes: RegExp): string {
  if (!schemes.test(value))
    fail('USAGE', `'${flag}' must match ${schemes}, got ${JSON.stringify(value)}`);
  return value;
}

export function nodeCommand(io: CliIo, deps: NodeCommandDeps = {}): Command {
  const node = new Command('node').description('the node agent (docs/node-api.md)');
  node
    .command('serve')
    .description(
      'run the node agent: registers or resumes, follows the ledger, connects out to the relay and answers the node API there; it listens on no port',
    )
    .requiredOption('--data <dir>', "the node's folder: its key, ledger pin and deployments")
    .requiredOption('--ledger <url>', 'the ledger to follow')
    .requiredOption(
      '--relay <url>',
      'a relay to connect out to (ws:// or wss://); repeat it to list several (all are written into the node twin at registration)',
      (value: string, all: string[] = []) => [...all, value],
    )
    .requiredOption('--farm <id>', 'the farm this node belongs to')
    .option(
      '--grant <file>',
      "the farmer's enrolment grant ('vdc farm enrol' prints it), first start only",
    )
    .option('--ledger-key <hex>', "the ledger's public key, pinned on first contact")
    .option(
      '--report-interval <s>',
      'seconds between node.report transactions',
      String(DEFAULT_REPORT_INTERVAL_MS / 1000),
    )
    .option(
      '--fence-after <s>',
      'stop every workload when the newest verified head is older than this',
      String(DEFAULT_FENCE_AFTER_MS / 1000),
    )
    .option('--no-containers', 'offer no container runtime, even where crun runs')
    .option('--json', 'print JSON')
    .action(
      async (opts: {
        data: string;
        ledger: string;
        relay: string[];
        farm: string;
        grant?: string;
        ledgerKey?: string;
        reportInterval: string;
        fenceAfter: string;
        containers: boolean;
        json?: boolean;
      }) => {
        const farm = farmId(opts.farm);
        const reportIntervalMs = seconds(opts.reportInterval, '--report-interval');
        const fenceAfterMs = seconds(opts.fenceAfter, '--fence-after');
        url(opts.ledger, '--ledger', /^https?:\/\/\S+$/);
        for (const r of opts.relay) url(r, '--relay', /^wss?:\/\/\S+$/);
        if (opts.relay.length > 4) fail('USAGE', `at most 4 '--relay', got ${opts.relay.length}`);
        const [relayUrl, ...moreRelays] = opts.relay as [string, ...string[]];
        const grant = opts.grant ? readGrantFile(opts.grant) : undefined;
        const { identity, created } = loadNodeIdentity(opts.data);
        const key = toHex(identity.signingPublicKey);
        // Printed before registering, so a node without a grant still tells its farmer what to enrol.
        io.err(`node key: ${key}${created ? ' (new)' : ''}\n`);
        const logger = jsonLogger((line) => io.err(line), { program: 'node' });
        const agent = await startNodeAgent({
          data: opts.data,
          ledgerUrl: opts.ledger,
          relayUrl,
          moreRelays,
          farm,
          identity,
          ...(grant ? { grant } : {}),
          ...(opts.ledgerKey ? { ledgerKey: opts.ledgerKey } : {}),
          reportIntervalMs,
          fenceAfterMs,
          logger,
          runtimes: nodeRuntimes({
            data: opts.data,
            identity,
            logger,
            containers: opts.containers,
          }),
        });
        const view = {
          node: agent.node,
          twin: agent.twin,
          farm: agent.farm,
          key,
          keyCreated: created,
          registered: agent.registered,
          ledger: agent.follower.ledger,
        };
        emit(
          io,
          opts.json,
          view,
          () =>
            `node ${agent.node} (twin ${agent.twin}) in farm ${agent.farm} ${agent.registered ? 'registered' : 'resumed'}; key ${key}; serving through ${opts.relay.join(', ')}`,
        );
        deps.onReady?.(agent);
        await untilStopped(deps.signal);
        await agent.close();
      },
    );
  return node;
}
