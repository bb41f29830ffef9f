import type { NameMode, NameRecord, NameRules, ProjectionReader } from '../projection-state.ts';
import { readEnum, readList, readString, readUint } from '../tx-fields.ts';
import { MAX_ID } from '../tx-format.ts';
import { readNameRules } from './name-rules.ts';
import { bodyObject, defineTx, effect, refuse } from './rule.ts';

/*
 * Names: `<name>.<gateway domain>` is served while its name record (the name contract)
 * exists and names that gateway. A name is held by one twin at a time, from register until
 * release; update re-points it (gateway, mode, rules, the nodes allowed to serve it) and is
 * a full replacement of those fields. Names are global, not per gateway, so re-pointing a
 * name to another gateway keeps its holder.
 */

export const NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const NAME_MODES = ['tls-passthrough', 'http'] as const satisfies readonly NameMode[];
export const MAX_NAME_NODES = 16;

export interface NameTerms {
  name: string;
  gateway: number;
  mode: NameMode;
  rules: NameRules;
  nodes: number[];
}

export interface NameReleaseBody {
  name: string;
}

function readName(value: unknown): string {
  return readString(value, 'body.name', { min: 1, max: 63, pattern: NAME }, 'TX_BODY_INVALID');
}

function parseTerms(value: unknown): NameTerms {
  const b = bodyObject(value, ['name', 'gateway', 'mode', 'rules', 'nodes']);
  const mode = readEnum(b['mode'], 'body.mode', NAME_MODES, 'TX_BODY_INVALID');
  return {
    name: readName(b['name']),
    gateway: readUint(b['gateway'], 'body.gateway', MAX_ID, 'TX_BODY_INVALID', 1),
    mode,
    rules: readNameRules(b['rules'], 'body.rules', mode),
    nodes: readList(
      b['nodes'],
      'body.nodes',
      MAX_NAME_NODES,
      'TX_BODY_INVALID',
      (v, l) => readUint(v, l, MAX_ID, 'TX_BODY_INVALID', 1),
      {
        unique: true,
      },
    ),
  };
}

function checkTargets(state: ProjectionReader, terms: NameTerms): void {
  if (!state.gateway(terms.gateway))
    refuse(
      'NAME_GATEWAY_UNKNOWN',
      `a name names a registered gateway: gateway ${terms.gateway} does not exist`,
    );
  for (const node of terms.nodes)
    if (!state.node(node))
      refuse(
        'NAME_NODE_UNKNOWN',
        `name ${terms.name} lists node ${node}, which is not registered: list enrolled nodes only`,
      );
}

function heldName(state: ProjectionReader, name: string, twin: number): NameRecord {
  const record = state.name(name);
  if (!record) refuse('NAME_UNKNOWN', `name ${name} is not registered`);
  if (record.twin !== twin)
    refuse(
      'NAME_NOT_OWNER',
      `a name is held by one twin at a time: ${name} is held by twin ${record.twin}, not twin ${twin}`,
    );
  return record;
}

export const nameRegister = defineTx<NameTerms>({
  auth: 'owner-or-delegate',
  parseBody: parseTerms,
  rule(state, { tx, acceptedAt }) {
    const held = state.name(tx.body.name);
    if (held)
      refuse(
        'NAME_TAKEN',
        `a name is held by one twin at a time: ${tx.body.name} is held by twin ${held.twin} until it is released`,
      );
    checkTargets(state, tx.body);
    const record: NameRecord = {
      ...tx.body,
      twin: tx.twin,
      registeredAt: acceptedAt,
      updatedAt: acceptedAt,
    };
    return effect([{ table: 'names', key: record.name, value: record }]);
  },
});

export const nameUpdate = defineTx<NameTerms>({
  auth: 'owner-or-delegate',
  parseBody: parseTerms,
  rule(state, { tx, acceptedAt }) {
    const record = heldName(state, tx.body.name, tx.twin);
    checkTargets(state, tx.body);
    return effect([
      { table: 'names', key: record.name, value: { ...record, ...tx.body, updatedAt: acceptedAt } },
    ]);
  },
});

export const nameRelease = defineTx<NameReleaseBody>({
  auth: 'owner-or-delegate',
  parseBody(value) {
    const b = bodyObject(value, ['name']);
    return { name: readName(b['name']) };
  },
  rule(state, { tx }) {
    const record = heldName(state, tx.body.name, tx.twin);
    return effect([{ table: 'names', key: record.name, value: null }]);
  },
});
