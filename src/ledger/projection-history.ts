import { randomBytes } from 'node:crypto';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Applied } from './projection.ts';
import type { TxLeaf } from './tx-format.ts';
import { type Actor, DAY, keyOf, newIdentity, TxKit } from './tx-test-kit.ts';

/*
 * A random history for property tests (used by tests and benchmarks only): a seeded
 * sequence of transactions of every type, most valid, some refused (foreign keys, replayed
 * nonces, wrong signatures, stale contracts), applied to a TxKit's projection. Returns the
 * leaves that were accepted, in log order, so a test can replay them elsewhere.
 */

/** mulberry32: a small seeded PRNG, so a failing seed can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface History {
  kit: TxKit;
  leaves: TxLeaf[];
  refused: Map<string, number>;
}

export function randomHistory(seed: number, steps: number): History {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rnd() * xs.length)];
  const kit = new TxKit();
  const leaves: TxLeaf[] = [];
  const refused = new Map<string, number>();
  const twins: Actor[] = [];
  const nodes: (Actor & { node: number })[] = [];
  const agents: { identity: ReturnType<typeof newIdentity>; twin: number }[] = [];
  const farms: { id: number; owner: Actor }[] = [];
  const gateways: number[] = [];
  const names: string[] = ['a', 'b', 'c', 'd'];

  const attempt = (make: () => TxLeaf): Applied | undefined => {
    const leaf = make();
    try {
      const applied = kit.projection.apply(leaf);
      leaves.push(leaf);
      return applied;
    } catch (err) {
      if (!(err instanceof VdcError)) throw err;
      refused.set(err.code, (refused.get(err.code) ?? 0) + 1);
      return undefined;
    }
  };
  const tx = (
    who: { identity: ReturnType<typeof newIdentity> },
    type: Parameters<TxKit['tx']>[1],
    twin: number,
    body: object,
  ) => attempt(() => kit.leaf(kit.submission(who.identity, type, twin, body)));

  for (let step = 0; step < steps; step++) {
    kit.advance(Math.floor(rnd() * 3 * 3600_000));
    const r = rnd();
    const owner = pick(twins);
    if (r < 0.08 || !owner) {
      const identity = newIdentity();
      const ok = tx({ identity }, 'twin.create', 0, {
        encryptionKey: toHex(identity.encryptionPublicKey),
        relays: [],
      });
      if (ok)
        twins.push({
          identity,
          key: keyOf(identity),
          twin: kit.projection.twinByKey(keyOf(identity))!.id,
        });
    } else if (r < 0.13) {
      const farm = tx(owner, 'farm.create', owner.twin, { name: `farm-${step}` })?.created.farms;
      if (farm) farms.push({ id: farm, owner });
    } else if (r < 0.22) {
      const farm = pick(farms);
      if (!farm) continue;
      const identity = newIdentity();
      // Sometimes the grant comes from someone other than the farm's owner.
      const signer = rnd() < 0.8 ? farm.owner : owner;
      const signed = kit.enrolGrant(signer.identity, { farm: farm.id, nodeKey: keyOf(identity) });
      if (tx({ identity }, 'node.register', 0, kit.nodeBody(identity, farm.id, signed))) {
        const n = kit.projection.nodeByKey(keyOf(identity))!;
        nodes.push({ identity, key: keyOf(identity), twin: n.twin, node: n.id });
      }
    } else if (r < 0.3) {
      const node = pick(nodes);
      if (!node) continue;
      const reporter = rnd() < 0.9 ? node : (pick(nodes) ?? node);
      const size = Math.floor(rnd() * (kit.projection.size + 1));
      tx(reporter, 'node.report', reporter.twin, {
        node: node.node,
        uptime: step,
        capacity: {
          total: { cpu: 8, memory: 1e10, disk: 1e12 },
          used: { cpu: step % 8, memory: 0, disk: 0 },
        },
        head: rnd() < 0.7 ? { size, root: toHex(randomBytes(32)) } : null,
      });
    } else if (r < 0.35) {
      const farm = pick(farms);
      if (!farm) continue;
      const existing = pick(gateways);
      if (existing !== undefined && rnd() < 0.3) {
        const farmOf = farms.find((f) => f.id === kit.projection.gateway(existing)?.farm);
        const signer = farmOf && rnd() < 0.8 ? farmOf.owner : farm.owner;
        tx(signer, 'gateway.update', signer.twin, {
          gateway: existing,
          tunnelAddress: `203.0.113.${step % 250}:443`,
          tunnelSpkiSha256: toHex(randomBytes(32)),
        });
        continue;
      }
      const signer = rnd() < 0.8 ? farm.owner : owner;
      const gateway = tx(signer, 'gateway.register', signer.twin, {
        farm: farm.id,
        domain: `gw${step}.example.org`,
        tunnelAddress: '203.0.113.5:443',
        tunnelSpkiSha256: toHex(randomBytes(32)),
      })?.created.gateways;
      if (gateway) gateways.push(gateway);
    } else if (r < 0.5) {
      const node = pick(nodes);
      if (!node) continue;
      tx(
        owner,
        'contract.create',
        owner.twin,
        kit.contractBody(rnd() < 0.9 ? node.node : 999, {
          expiresAt: kit.now + Math.floor(rnd() * 10 * DAY) + 1,
          networks: rnd() < 0.5 ? ['net1'] : ['net1', 'net2'],
        }),
      );
    } else if (r < 0.58) {
      const c = kit.projection.contract(
        Math.floor(rnd() * kit.projection.nextId('contracts')) + 1,
      ) ?? { id: 1, twin: owner.twin };
      const holder = twins.find((t) => t.twin === c.twin);
      const signer = holder && rnd() < 0.8 ? holder : owner;
      if (rnd() < 0.5) {
        const { node: _n, ...terms } = kit.contractBody(1, { networks: ['net2'] });
        tx(signer, 'contract.update', signer.twin, { contract: c.id, ...terms });
      } else {
        tx(owner, 'contract.cancel', owner.twin, {
          contract: c.id,
          reason: rnd() < 0.5 ? 'user' : 'heal',
        });
      }
    } else if (r < 0.68) {
      const gateway = pick(gateways);
      if (!gateway) continue;
      const name = pick(names)!;
      const type = pick(['name.register', 'name.update', 'name.release'] as const)!;
      const holder = twins.find((t) => t.twin === kit.projection.name(name)?.twin);
      const signer = holder && rnd() < 0.7 ? holder : owner;
      const nodeIds = nodes.slice(0, 2).map((n) => n.node);
      tx(
        signer,
        type,
        signer.twin,
        type === 'name.release'
          ? { name }
          : { name, gateway, mode: 'http', rules: { methods: ['GET'] }, nodes: nodeIds },
      );
    } else if (r < 0.74) {
      const identity = newIdentity();
      const types =
        rnd() < 0.5 ? ['farm.create', 'contract.create'] : ['name.register', 'contract.cancel'];
      if (
        tx(owner, 'delegate.grant', owner.twin, {
          key: keyOf(identity),
          types,
          counts: { [types[0]!]: 2 },
          expiresAt: kit.now + Math.floor(rnd() * 2 * DAY) + 1,
        })
      )
        agents.push({ identity, twin: owner.twin });
    } else if (r < 0.8) {
      const agent = pick(agents);
      if (!agent) continue;
      if (rnd() < 0.2) {
        const twin = kit.projection.twin(agent.twin)!;
        const holder = twins.find((t) => t.key === twin.signingKey);
        if (holder) tx(holder, 'delegate.revoke', agent.twin, { key: keyOf(agent.identity) });
      } else {
        tx(agent, 'farm.create', agent.twin, { name: `delegated-${step}` });
      }
    } else if (r < 0.88) {
      const node = pick(nodes);
      if (!node) continue;
      // Mostly for a contract the node holds, so members are accepted as often as refused.
      const held = pick(kit.projection.activeContractsOfNode(node.node, kit.now));
      tx(node, 'network.member', node.twin, {
        owner: held && rnd() < 0.8 ? held.twin : owner.twin,
        network: held && rnd() < 0.8 ? (pick(held.networks) ?? 'net1') : 'net2',
        node: node.node,
        publicKey: randomBytes(32).toString('base64'),
        endpoint: rnd() < 0.5 ? null : '198.51.100.1:51820',
      });
    } else if (r < 0.92) {
      tx(owner, 'twin.update', owner.twin, { relays: [`wss://relay${step % 3}.example.org/`] });
    } else if (r < 0.96) {
      // A replay of an accepted leaf, at the next position.
      const old = pick(leaves);
      if (old) attempt(() => ({ ...old, seq: kit.projection.size, acceptedAt: kit.now }));
    } else {
      // A transaction signed under the wrong tag, or for another twin.
      const wrongTag = rnd() < 0.5;
      attempt(() => {
        const t = kit.tx(owner.identity, 'farm.create', wrongTag ? owner.twin : owner.twin + 1, {
          name: 'x',
        });
        return kit.leaf(
          kit.sign(owner.identity, t, wrongTag ? SIGNING_TAGS.deployment : SIGNING_TAGS.tx),
        );
      });
    }
  }
  return { kit, leaves, refused };
}
