import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { relayBody } from './body-relay.ts';

function sink() {
  const calls: string[] = [];
  const dst = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _e, cb) {
      calls.push(`write ${chunk}`);
      setImmediate(cb);
    },
    final(cb) {
      calls.push('end');
      cb();
    },
  });
  const origEnd = dst.end.bind(dst);
  dst.end = ((chunk?: Buffer) => {
    calls.push(`end(${chunk ?? ''})`);
    return origEnd(chunk);
  }) as typeof dst.end;
  return { dst, calls };
}

test('a body that has ended within the loop turn goes with the head in one end()', async () => {
  const src = new PassThrough();
  const { dst, calls } = sink();
  relayBody(src, dst, (ended) => calls.push(`head ${ended}`));
  src.write('he');
  src.end('llo');
  await new Promise((r) => dst.once('finish', r));
  assert.deepEqual(calls, ['head true', 'end(hello)', 'write hello', 'end']);
});

test('an empty body ends without a write', async () => {
  const src = new PassThrough();
  const { dst, calls } = sink();
  relayBody(src, dst, (ended) => calls.push(`head ${ended}`));
  src.end();
  await new Promise((r) => dst.once('finish', r));
  assert.deepEqual(calls, ['head true', 'end()', 'end']);
});

test('a body still flowing after the loop turn is sent at once, then streamed to its end', async () => {
  const src = new PassThrough();
  const { dst, calls } = sink();
  relayBody(src, dst, (ended) => calls.push(`head ${ended}`));
  src.write('event 1');
  // A loop turn (an immediate queued after the relay's own runs after it).
  await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setImmediate(r));
  // The head and what had come are out before the body ends (server-sent events).
  assert.deepEqual(calls, ['head false', 'write event 1']);
  src.write('event 2');
  src.write('event 3'); // over the sink's highWaterMark: backpressure pauses the source
  src.end();
  await new Promise((r) => dst.once('finish', r));
  assert.deepEqual(calls, [
    'head false',
    'write event 1',
    'write event 2',
    'write event 3',
    'end()',
    'end',
  ]);
});
