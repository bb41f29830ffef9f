import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { toHex } from '../../src/core/hex.ts';
import { Identity, mnemonicToSeed, openKeystore } from '../../src/identity/index.ts';
import { LedgerClient, signEnrolGrant } from '../../src/ledger/index.ts';
import {
  deploymentHash,
  openForOwner,
  sealForOwner,
  sealSecret,
  type UnsignedDeployment,
} from '../../src/node/index.ts';
import { startZdbProcesses, writeStoreConfig } from '../../src/zstor/zdb-backend-test-kit.ts';
import { newUser, registerTwin, startTestLedger, tempDir } from '../support/ledger-fixture.ts';
import { hasCode } from '../support/node-fixture.ts';
import { runVdc } from '../support/run-vdc.ts';

/*
 * P7: with the mnemonic and the ledger alone, a new machine gets back everything the user
 * had (deployments with their secrets, stored objects), and nothing else opens it: not
 * another identity, not the ledger's operator, not a copy moved to another contract.
 */

const PASS = 'p7 passphrase';
const DAY = 24 * 3600_000;

/** Every file under `dir`, concatenated: what an operator holding the folder can read. */
function everyByte(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) parts.push(readFileSync(join(e.parentPath, e.name)));
  return Buffer.concat(parts);
}

test('the mnemonic and the ledger alone give back every deployment with its secrets; no one else opens them', async (t) => {
  const ledgerDir = tempDir(t, 'vdc-p7-ledger-');
  const ledger = await startTestLedger(t, ledgerDir);
  // The first machine: an identity made by `vdc id new`, its 24 words written down.
  const first = { VDC_HOME: tempDir(t, 'vdc-p7-a-'), VDC_PASSPHRASE: PASS, VDC_LEDGER: ledger.url };
  const made = await runVdc(['id', 'new', '--json'], { env: first });
  assert.equal(made.code, 0, made.stderr);
  const { mnemonic } = JSON.parse(made.stdout) as { mnemonic: string };
  const user = Identity.fromSeed(mnemonicToSeed(mnemonic));
  const userClient = await LedgerClient.connect({ url: ledger.url, home: first.VDC_HOME });
  const twin = await registerTwin(userClient, user);
  // A farmer with a node the deployments are for.
  const farmer = await newUser(t, ledger.url);
  await registerTwin(farmer.client, farmer.identity);
  const farm = (await farmer.client.submit(farmer.identity, 'farm.create', { name: 'f' })).created[
    'farms'
  ]!;
  const nodeKey = Identity.fromSeed(randomBytes(64));
  const nodeClient = await LedgerClient.connect({ url: ledger.url, home: tempDir(t) });
  const node = (
    await nodeClient.submit(nodeKey, 'node.register', {
      farm,
      encryptionKey: toHex(nodeKey.encryptionPublicKey),
      relays: [],
      ...signEnrolGrant(farmer.identity, {
        ledger: nodeClient.follower.ledger,
        farm,
        nodeKey: toHex(nodeKey.signingPublicKey),
        expires: Date.now() + DAY,
      }),
    })
  ).created['nodes']!;
  // Two deployments, each with a secret, as `vdc deploy` records them.
  const secrets = ['db-password-7c1f0e', 'api-token-93ab27'];
  const made2 = [] as { contract: number; doc: UnsignedDeployment; secret: string }[];
  for (const [i, secret] of secrets.entries()) {
    const doc: UnsignedDeployment = {
      version: 1,
      twin,
      salt: toHex(randomBytes(32)),
      workloads: [
        {
          name: `web${i}`,
          kind: 'container',
          spec: {
            image: { url: 'http://images.invalid/web.tar', sha256: 'ab'.repeat(32) },
            resources: { cpu: 100, memory: 64 * 2 ** 20 },
            secrets: {
              TOKEN: sealSecret(secret, nodeKey.encryptionPublicKey, {
                twin,
                workload: `web${i}`,
                name: 'TOKEN',
              }),
            },
          },
        },
      ],
    };
    const copy = {
      node,
      deployment: doc,
      secrets: { [`web${i}`]: { TOKEN: Buffer.from(secret).toString('base64') } },
    };
    const receipt = await userClient.submit(user, 'contract.create', {
      node,
      deploymentHash: deploymentHash(doc),
      deployment: sealForOwner(copy, user),
      expiresAt: Date.now() + 30 * DAY,
      networks: [],
    });
    made2.push({ contract: receipt.created['contracts']!, doc, secret });
  }

  // The first machine is gone. A new one has the 24 words and the ledger's address.
  rmSync(first.VDC_HOME, { recursive: true, force: true });
  const second = {
    VDC_HOME: tempDir(t, 'vdc-p7-b-'),
    VDC_PASSPHRASE: PASS,
    VDC_LEDGER: ledger.url,
  };
  const recovered = await runVdc(['id', 'recover', '--json'], { env: second, input: mnemonic });
  assert.equal(recovered.code, 0, recovered.stderr);
  const keystore = join(second.VDC_HOME, 'identity.json');
  const again = await openKeystore(keystore, PASS);
  assert.equal(toHex(again.signingPublicKey), toHex(user.signingPublicKey));
  const client = await LedgerClient.connect({ url: ledger.url, home: second.VDC_HOME });
  await client.follower.sync();
  const view = client.follower.view;
  assert.equal(view.twinByKey(toHex(again.signingPublicKey))?.id, twin);
  const contracts = view.contractsOfTwin(twin);
  assert.deepEqual(
    contracts.map((c) => c.id),
    made2.map((m) => m.contract),
  );
  for (const [i, c] of contracts.entries()) {
    const copy = openForOwner(c.deployment, again, c);
    assert.deepEqual(copy.deployment, made2[i]!.doc, 'the exact document the contract hashes');
    const token = copy.secrets[`web${i}`]!['TOKEN']!;
    assert.equal(Buffer.from(token, 'base64').toString(), made2[i]!.secret);
  }

  // Nothing else opens them.
  const [a, b] = contracts as [(typeof contracts)[0], (typeof contracts)[0]];
  const stranger = Identity.fromSeed(randomBytes(64));
  assert.throws(() => openForOwner(a.deployment, stranger, a), hasCode('OWNER_COPY_OPEN_FAILED'));
  assert.throws(
    () => openForOwner(a.deployment, again, b),
    hasCode('OWNER_COPY_OPEN_FAILED'),
    "a copy moved onto another contract's terms",
  );
  const altered = Buffer.from(a.deployment, 'base64');
  altered[40]! ^= 1;
  assert.throws(
    () => openForOwner(altered.toString('base64'), again, a),
    hasCode('OWNER_COPY_OPEN_FAILED'),
  );
  // The ledger's operator holds every byte of the store and reads no secret, no workload name.
  const store = everyByte(ledgerDir);
  for (const needle of [...secrets, 'web0', 'TOKEN'])
    assert.equal(store.includes(needle), false, `${needle} is readable in the ledger's files`);
});

test('the mnemonic and the backend list alone give back every stored object; another mnemonic gets nothing', async (t) => {
  const zdbs = await startZdbProcesses(t, 6);
  const first = { VDC_HOME: tempDir(t, 'vdc-p7-s-'), VDC_PASSPHRASE: PASS };
  const made = await runVdc(['id', 'new', '--json'], { env: first });
  assert.equal(made.code, 0, made.stderr);
  const { mnemonic } = JSON.parse(made.stdout) as { mnemonic: string };
  const config = (home: string) =>
    writeStoreConfig(join(home, 'store.yaml'), zdbs.map((z) => ({ backend: z.backend })) as never);
  const objects = new Map([
    ['notes/a.txt', randomBytes(1000)],
    ['photos/b.bin', randomBytes(300_001)],
  ]);
  for (const [name, bytes] of objects) {
    const file = join(first.VDC_HOME, 'in.bin');
    writeFileSync(file, bytes);
    const put = await runVdc(['store', '--config', config(first.VDC_HOME), 'put', name, file], {
      env: first,
    });
    assert.equal(put.code, 0, put.stderr);
  }
  rmSync(first.VDC_HOME, { recursive: true, force: true });

  const second = { VDC_HOME: tempDir(t, 'vdc-p7-t-'), VDC_PASSPHRASE: PASS };
  const recovered = await runVdc(['id', 'recover'], { env: second, input: mnemonic });
  assert.equal(recovered.code, 0, recovered.stderr);
  const cfg = config(second.VDC_HOME);
  const ls = await runVdc(['store', '--config', cfg, 'ls', '--json'], { env: second });
  assert.equal(ls.code, 0, ls.stderr);
  for (const name of objects.keys()) assert.match(ls.stdout, new RegExp(name.replace('.', '\\.')));
  for (const [name, bytes] of objects) {
    const out = join(second.VDC_HOME, 'out.bin');
    const get = await runVdc(['store', '--config', cfg, 'get', name, out], { env: second });
    assert.equal(get.code, 0, get.stderr);
    assert.ok(readFileSync(out).equals(bytes), `${name} read back byte-identical`);
  }

  const other = { VDC_HOME: tempDir(t, 'vdc-p7-o-'), VDC_PASSPHRASE: PASS };
  assert.equal((await runVdc(['id', 'new'], { env: other })).code, 0);
  const otherCfg = config(other.VDC_HOME);
  const none = await runVdc(['store', '--config', otherCfg, 'ls', '--json'], { env: other });
  assert.equal(none.code, 0, none.stderr);
  for (const name of objects.keys()) assert.equal(none.stdout.includes(name), false);
  const denied = await runVdc(
    ['store', '--config', otherCfg, 'get', 'notes/a.txt', join(other.VDC_HOME, 'x')],
    { env: other },
  );
  assert.equal(denied.code, 6, denied.stderr);
});
