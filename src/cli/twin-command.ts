import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { toHex } from '../core/hex.ts';
import type { CliIo } from './cli-io.ts';
import {
  connectAsUser,
  connectLedger,
  type LedgerFlags,
  positiveInt,
  withLedgerFlags,
} from './ledger-context.ts';
import { emit } from './output.ts';

export function twinCommand(io: CliIo): Command {
  const twin = new Command('twin').description(
    'twins: the ledger identities of users, nodes and agents',
  );

  withLedgerFlags(
    twin.command('register').description('register your identity as a twin on the ledger'),
  )
    .option('--relay <url...>', 'relay(s) where you can be reached (wss://…)')
    .action(async (opts: LedgerFlags & { relay?: string[] }) => {
      const { client, identity } = await connectAsUser(io, opts);
      const existing = client.twinOf(identity);
      if (existing !== undefined)
        fail(
          'TWIN_EXISTS',
          `your key is already twin ${existing}: use 'vdc twin show ${existing}'`,
        );
      const receipt = await client.submit(identity, 'twin.create', {
        encryptionKey: toHex(identity.encryptionPublicKey),
        relays: opts.relay ?? [],
      });
      const id = receipt.created['twins'];
      emit(
        io,
        opts.json,
        { twin: id, seq: receipt.leaf.seq, head: receipt.head },
        `registered twin ${id} (entry ${receipt.leaf.seq}, proven in head of size ${receipt.head.size})`,
      );
    });

  withLedgerFlags(
    twin.command('show').description('show a twin, from your own verified copy of the ledger'),
  )
    .argument('<id>', 'twin id')
    .action(async (idText: string, opts: LedgerFlags) => {
      const id = positiveInt(idText, 'id');
      const client = await connectLedger(io, opts);
      const record = client.follower.view.twin(id);
      if (!record) fail('STATE_NOT_FOUND', `twin ${id} is not on this ledger`);
      emit(
        io,
        opts.json,
        record,
        `twin ${record.id}\nsigning key    ${record.signingKey}\nencryption key ${record.encryptionKey}\nrelays         ${record.relays.join(', ') || '(none)'}\ncreated        ${new Date(record.createdAt).toISOString()}`,
      );
    });

  return twin;
}
