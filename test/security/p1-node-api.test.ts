/*
 * P1, no shell: the node answers exactly the documented message API and nothing else. The
 * set of methods is compared with docs/node-api.md; every other method name (including
 * names an object inherits) and every other envelope kind is refused with its own code;
 * the farm's owner gets node.stats and nothing more.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { JsonValue } from '../../src/core/canonical-json.ts';
import { NODE_METHODS } from '../../src/node/index.ts';
import type { ReceivedMessage } from '../../src/relay/index.ts';
import {
  call,
  contractAndDeployment,
  hasCode,
  nodeState,
  startNodeGrid,
} from '../support/node-fixture.ts';

/** The methods docs/node-api.md documents: the rows of its Methods table. */
function documentedMethods(): string[] {
  const doc = readFileSync(new URL('../../docs/node-api.md', import.meta.url), 'utf8');
  const section = doc.split(/^#{2,3} /m).find((s) => s.startsWith('Methods'));
  assert.ok(section, 'docs/node-api.md has a "Methods" section');
  return [...section.matchAll(/^\| `([a-z.]+)` *\|/gm)].map((m) => m[1]!);
}

const NOT_METHODS = [
  'shell',
  'exec',
  'node.exec',
  'node.shell',
  'node.reboot',
  'node.update',
  'file.read',
  'deployment.exec',
  'deployment.logs',
  'network.join',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'NODE.STATS',
  'node.stats ',
  'deployment.deploy.now',
  '',
];

describe('P1: the node answers its documented API and nothing else', () => {
  test('the methods the node answers are exactly the documented ones', () => {
    assert.deepEqual([...NODE_METHODS].sort(), documentedMethods().sort());
  });

  test('every documented method answers; every other name is refused as unknown', async (t) => {
    const grid = await startNodeGrid(t);
    const { contract, deployment } = await contractAndDeployment(grid);
    const params: Record<string, Record<string, JsonValue> | undefined> = {
      'deployment.deploy': { deployment: deployment as never },
      'deployment.update': { deployment: deployment as never },
      'deployment.delete': { contract },
      'deployment.get': { contract },
      'deployment.changes': { contract },
    };
    const answered: Record<string, string> = {};
    for (const method of NODE_METHODS) {
      try {
        await call(grid.user, grid.agent, method, params[method]);
        answered[method] = 'ok';
      } catch (err) {
        answered[method] = (err as { code: string }).code;
      }
    }
    for (const [method, outcome] of Object.entries(answered))
      assert.notEqual(outcome, 'NODE_API_METHOD_UNKNOWN', `${method} is documented but unknown`);
    assert.equal(answered['deployment.deploy'], 'ok');
    assert.equal(answered['network.config'], 'NODE_NETWORK_NOT_SUPPORTED');

    const before = nodeState(grid);
    for (const method of NOT_METHODS)
      await assert.rejects(
        call(grid.user, grid.agent, method),
        hasCode('NODE_API_METHOD_UNKNOWN'),
        `method ${JSON.stringify(method)} must be refused`,
      );
    for (const body of [
      {},
      { method: 'node.stats', params: {}, run: 'id' },
      { method: 7 },
      'node.stats',
      null,
    ])
      await assert.rejects(
        grid.user.relay.request(grid.agent.twin, body as JsonValue, { timeoutMs: 10_000 }),
        hasCode('NODE_API_REQUEST_INVALID'),
      );
    assert.equal(nodeState(grid), before);
  });

  test("the farmer's twin gets node.stats and is refused everything else", async (t) => {
    const grid = await startNodeGrid(t);
    const { contract, deployment } = await contractAndDeployment(grid);
    await call(grid.user, grid.agent, 'deployment.deploy', { deployment: deployment as never });
    const stats = (await call(grid.farmer, grid.agent, 'node.stats')) as Record<string, unknown>;
    assert.equal(stats['node'], grid.agent.node);
    assert.deepEqual(Object.keys(stats).sort(), [
      'capacity',
      'farm',
      'fenced',
      'head',
      'node',
      'relay',
      'twin',
      'uptime',
    ]);
    const before = nodeState(grid);
    for (const method of NODE_METHODS.filter((m) => m !== 'node.stats'))
      await assert.rejects(
        call(
          grid.farmer,
          grid.agent,
          method,
          method.startsWith('deployment.') && method !== 'deployment.list'
            ? method.endsWith('deploy') || method.endsWith('update')
              ? { deployment: deployment as never }
              : { contract }
            : undefined,
        ),
        hasCode('NODE_API_FARMER_REFUSED'),
        `the farmer must be refused ${method}`,
      );
    assert.equal(nodeState(grid), before);
  });

  test('envelopes of any kind but request are refused with their own code', async (t) => {
    const grid = await startNodeGrid(t);
    const answers: ReceivedMessage[] = [];
    grid.user.relay.onMessage((m) => answers.push(m));
    const sent: string[] = [];
    for (const kind of ['exec', 'shell', 'deployment.deploy', 'note'])
      sent.push((await grid.user.relay.send(grid.agent.twin, kind, { method: 'node.stats' })).id);
    const deadline = Date.now() + 10_000;
    while (answers.length < sent.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(answers.map((a) => a.replyTo).sort(), [...sent].sort());
    for (const a of answers) {
      assert.equal(a.kind, 'response');
      assert.deepEqual((a.body as { error: { code: string } }).error.code, 'NODE_API_KIND_REFUSED');
    }
  });
});
