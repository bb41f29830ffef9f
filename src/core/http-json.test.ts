import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { VdcError } from './errors.ts';
import { httpJson } from './http-client.ts';
import { JsonRouter } from './http-json.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;

async function serve(
  t: { after: (fn: () => Promise<void>) => void },
  router: JsonRouter,
): Promise<string> {
  const server = createServer(router.listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('JSON over HTTP', () => {
  test('routes with parameters and round-trips JSON', async (t) => {
    const router = new JsonRouter({ maxBodyBytes: 1024 })
      .on('GET', '/v1/twins/:id', (ctx) => ({
        id: Number(ctx.params['id']),
        q: ctx.query.get('q'),
      }))
      .on('POST', '/v1/echo', (ctx) => ({ got: ctx.body }));
    const base = await serve(t, router);
    assert.deepEqual(await httpJson(`${base}/v1/twins/7?q=x`), { id: 7, q: 'x' });
    assert.deepEqual(await httpJson(`${base}/v1/echo`, { body: { a: [1, 'b'] } }), {
      got: { a: [1, 'b'] },
    });
  });

  test("a handler's VdcError reaches the client with its code", async (t) => {
    const router = new JsonRouter().on('GET', '/boom', () => {
      throw new VdcError('SIGNATURE_INVALID', 'the signature does not verify');
    });
    const base = await serve(t, router);
    await assert.rejects(
      httpJson(`${base}/boom`),
      (err: unknown) =>
        code('SIGNATURE_INVALID')(err) &&
        (err as Error).message === 'the signature does not verify',
    );
  });

  test('refuses unknown endpoints, wrong methods, oversized and malformed bodies', async (t) => {
    let calls = 0;
    const router = new JsonRouter({ maxBodyBytes: 64 }).on('POST', '/in', () => {
      calls++;
      return {};
    });
    const base = await serve(t, router);
    await assert.rejects(httpJson(`${base}/nope`), code('ENDPOINT_NOT_FOUND'));
    await assert.rejects(httpJson(`${base}/in`), code('METHOD_NOT_ALLOWED'));
    await assert.rejects(
      httpJson(`${base}/in`, { body: { pad: 'x'.repeat(100) } }),
      code('INPUT_TOO_LARGE'),
    );
    const dup = await fetch(`${base}/in`, { method: 'POST', body: '{"a":1,"a":2}' });
    assert.equal(dup.status, 400);
    assert.equal(
      ((await dup.json()) as { error: { code: string } }).error.code,
      'JSON_DUPLICATE_KEY',
    );
    assert.equal(calls, 0);
  });

  test('an unreachable server and a silent one give distinct errors', async (t) => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      silent.closeAllConnections();
      silent.close();
    });
    const port = (silent.address() as AddressInfo).port;
    await assert.rejects(
      httpJson(`http://127.0.0.1:${port}/`, { timeoutMs: 200 }),
      code('PEER_TIMEOUT'),
    );
    await assert.rejects(httpJson('http://127.0.0.1:1/'), code('PEER_UNREACHABLE'));
  });
});
