import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { listenOn } from './listen-on.ts';

test('a bind error rejects; a later server error reaches onError, not a crash or nowhere', async (t) => {
  const heard: string[] = [];
  const first = createServer();
  await listenOn(first, { host: '127.0.0.1', port: 0 }, (err) => heard.push(err.message));
  t.after(() => first.close());
  const { port } = first.address() as { port: number };
  const second = createServer();
  await assert.rejects(
    listenOn(second, { host: '127.0.0.1', port }, () => {}),
    (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
  );
  assert.equal(second.listenerCount('error'), 0, 'nothing is left listening for the failed bind');
  // What node emits when accept() fails (EMFILE): without a listener, this would throw.
  first.emit('error', new Error('accept EMFILE'));
  assert.deepEqual(heard, ['accept EMFILE']);
  assert.equal(first.listenerCount('error'), 1, 'only onError: the bind listener is gone');
});
