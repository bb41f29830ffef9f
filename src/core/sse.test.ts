import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from './errors.ts';
import { readEvents, type SseEvent } from './sse.ts';

async function collect(chunks: string[], max?: number): Promise<SseEvent[]> {
  async function* source() {
    for (const c of chunks) yield Buffer.from(c);
  }
  const out: SseEvent[] = [];
  for await (const ev of readEvents(source(), max)) out.push(ev);
  return out;
}

describe('server-sent events', () => {
  test('reads named events split across chunks, skipping comments', async () => {
    const events = await collect([
      ': hello\n\nid: 3\nevent: le',
      'af\ndata: {"seq":3}\n\r\nevent: head\ndata: {"size":4}\n\n',
      'data: partial',
    ]);
    assert.deepEqual(events, [
      { event: 'leaf', data: '{"seq":3}', id: '3' },
      { event: 'head', data: '{"size":4}' },
    ]);
  });

  test('refuses an event larger than the bound', async () => {
    await assert.rejects(
      collect([`data: ${'x'.repeat(2000)}`], 1000),
      (err: unknown) => err instanceof VdcError && err.code === 'PEER_PROTOCOL',
    );
  });
});
