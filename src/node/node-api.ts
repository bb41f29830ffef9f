import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import type { ReceivedMessage } from '../relay/index.ts';
import { MAX_ID } from './deployment-document.ts';
import type { DeploymentEngine } from './deployment-engine.ts';

/*
 * The node's message API, the whole of it (DESIGN §6, promise P1): what a node answers
 * over the relay. There is no shell, no file access, no other door: a request is
 * `{method, params}` in a `request` envelope, the method is looked up in this fixed table
 * (a Map, so no inherited name such as `constructor` ever resolves), and anything else is
 * refused with its own code. The farm's owner is a stranger to the workloads on its nodes:
 * it may read node.stats and nothing else.
 */

export const NODE_METHODS = [
  'deployment.deploy',
  'deployment.update',
  'deployment.delete',
  'deployment.get',
  'deployment.list',
  'deployment.changes',
  'node.stats',
  'node.diagnostics',
  'network.config',
] as const;
export type NodeMethod = (typeof NODE_METHODS)[number];

export interface NodeApiContext {
  engine: DeploymentEngine;
  /** capacity and health, for anyone */
  stats(): JsonValue;
  /** whether a twin owns this node's farm */
  isFarmer(twin: number): boolean;
}

type Params = Record<string, unknown>;
type Handler = (from: number, params: Params) => Promise<JsonValue> | JsonValue;

const CODE = 'NODE_API_REQUEST_INVALID';
/** Bytes of each workload's output node.diagnostics returns; the relay carries 128 KiB. */
const DEFAULT_LOG_TAIL = 4096;
const MAX_LOG_TAIL = 65_536;

function noParams(method: string, p: Params): void {
  assertExactKeys(p, `${method} params`, [], [], CODE);
}

function contractParam(method: string, p: Params): number {
  assertExactKeys(p, `${method} params`, ['contract'], [], CODE);
  assertInteger(p['contract'], `${method} params.contract`, 1, MAX_ID, CODE);
  return p['contract'];
}

function deploymentParam(method: string, p: Params): unknown {
  assertExactKeys(p, `${method} params`, ['deployment'], [], CODE);
  return p['deployment'];
}

function handlers(ctx: NodeApiContext): Map<NodeMethod, Handler> {
  const e = ctx.engine;
  const json = (v: unknown) => v as JsonValue;
  const table: [NodeMethod, Handler][] = [
    [
      'deployment.deploy',
      async (from, p) =>
        json(await e.submit(from, deploymentParam('deployment.deploy', p), 'deploy')),
    ],
    [
      'deployment.update',
      async (from, p) =>
        json(await e.submit(from, deploymentParam('deployment.update', p), 'update')),
    ],
    [
      'deployment.delete',
      async (from, p) => json(await e.delete(from, contractParam('deployment.delete', p))),
    ],
    ['deployment.get', (from, p) => json(e.get(from, contractParam('deployment.get', p)))],
    [
      'deployment.list',
      (from, p) => {
        noParams('deployment.list', p);
        return json(e.list(from));
      },
    ],
    [
      'deployment.changes',
      (from, p) => json(e.changes(from, contractParam('deployment.changes', p))),
    ],
    [
      'node.stats',
      (_from, p) => {
        noParams('node.stats', p);
        return ctx.stats();
      },
    ],
    [
      'node.diagnostics',
      (from, p) => {
        assertExactKeys(p, 'node.diagnostics params', [], ['contract', 'tail'], CODE);
        if (p['contract'] !== undefined)
          assertInteger(p['contract'], 'node.diagnostics params.contract', 1, MAX_ID, CODE);
        if (p['tail'] !== undefined)
          assertInteger(p['tail'], 'node.diagnostics params.tail (bytes)', 0, MAX_LOG_TAIL, CODE);
        const tail = (p['tail'] as number | undefined) ?? DEFAULT_LOG_TAIL;
        const contract = p['contract'] as number | undefined;
        return json({ fenced: e.fenced, deployments: e.diagnostics(from, contract, tail) });
      },
    ],
    [
      'network.config',
      () =>
        fail(
          'NODE_NETWORK_NOT_SUPPORTED',
          'this node has no overlay network runtime yet: network.config is not supported here',
        ),
    ],
  ];
  return new Map(table);
}

/**
 * The request handler the node gives its RelayClient.
 * @throws VdcError NODE_API_REQUEST_INVALID, NODE_API_METHOD_UNKNOWN, NODE_API_FARMER_REFUSED,
 *   or the method's own error
 */
export function nodeApi(ctx: NodeApiContext): (msg: ReceivedMessage) => Promise<JsonValue> {
  const table = handlers(ctx);
  return async (msg) => {
    const body = msg.body;
    assertObject(body, 'request', CODE);
    assertExactKeys(body, 'request', ['method'], ['params'], CODE);
    assertString(body['method'], 'request.method', { max: 64 }, CODE);
    const handler = table.get(body['method'] as NodeMethod);
    if (!handler)
      fail(
        'NODE_API_METHOD_UNKNOWN',
        `this node answers only ${NODE_METHODS.join(', ')}; ${JSON.stringify(body['method'])} is none of them`,
      );
    if (body['method'] !== 'node.stats' && ctx.isFarmer(msg.from))
      fail(
        'NODE_API_FARMER_REFUSED',
        `twin ${msg.from} owns this node's farm: a farmer may read node.stats and nothing else`,
      );
    const params = body['params'] ?? {};
    assertObject(params, 'request.params', CODE);
    return handler(msg.from, params);
  };
}
