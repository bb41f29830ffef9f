import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { fromHex } from '../core/hex.ts';
import { signEnrolGrant } from '../ledger/index.ts';
import type { CliIo } from './cli-io.ts';
import { connectAsUser, type LedgerFlags, positiveInt, withLedgerFlags } from './ledger-context.ts';
import { emit } from './output.ts';

const DAY_MS = 24 * 3600_000;

export function farmCommand(io: CliIo): Command {
  const farm = new Command('farm').description(
    'farms: the hardware a farmer offers, and the nodes enrolled in it',
  );

  withLedgerFlags(
    farm.command('create').description('create a farm owned by your twin; prints its id'),
  )
    .argument('<name>', 'a name for people')
    .action(async (name: string, opts: LedgerFlags) => {
      const { client, identity } = await connectAsUser(io, opts);
      const receipt = await client.submit(identity, 'farm.create', { name });
      const id = receipt.created['farms'];
      emit(io, opts.json, { farm: id, seq: receipt.leaf.seq }, String(id));
    });

  withLedgerFlags(
    farm
      .command('enrol')
      .description(
        "sign the grant that lets one node key register in your farm; prints it (give it to the node's --grant)",
      ),
  )
    .requiredOption('--farm <id>', 'your farm')
    .requiredOption('--node-key <hex>', "the node's public key, as the node printed it")
    .option('--days <n>', 'days the grant stays usable', '7')
    .action(async (opts: LedgerFlags & { farm: string; nodeKey: string; days: string }) => {
      const farmId = positiveInt(opts.farm, '--farm');
      const days = positiveInt(opts.days, '--days');
      const nodeKey = fromHex(opts.nodeKey, '--node-key', 32, 'KEY_INVALID').toString('hex');
      const { client, identity } = await connectAsUser(io, opts);
      const record = client.follower.view.farm(farmId);
      const me = client.twinOf(identity);
      if (!record) fail('STATE_NOT_FOUND', `farm ${farmId} is not on this ledger`);
      if (record.owner !== me)
        fail(
          'FARM_NOT_OWNED',
          `farm ${farmId} belongs to twin ${record.owner}, not to you: only a farm's owner enrols nodes in it`,
        );
      const signed = signEnrolGrant(identity, {
        ledger: client.follower.ledger,
        farm: farmId,
        nodeKey,
        expires: Date.now() + days * DAY_MS,
      });
      emit(io, true, signed, '');
    });

  return farm;
}
