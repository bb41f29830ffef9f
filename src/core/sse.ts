import type { ServerResponse } from 'node:http';
import { fail } from './assert.ts';

/*
 * Server-sent events (WHATWG HTML §9.2), the part VDC uses: named events with one-line JSON
 * data. The reader is bounded (an event larger than `maxEventBytes` ends the stream with an
 * error) so a hostile server cannot make a follower buffer without limit.
 */

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Starts an event stream on `res`. */
export function openEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  res.flushHeaders();
}

/** Writes one event; `data` must be a single line (JSON.stringify output is). */
export function writeEvent(res: ServerResponse, event: string, data: string, id?: string): boolean {
  if (data.includes('\n') || event.includes('\n'))
    fail('INTERNAL', 'server-sent event data must be one line');
  return res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`);
}

/** Reads events from a byte stream (e.g. a fetch body) until it ends. */
export async function* readEvents(
  body: AsyncIterable<Uint8Array>,
  maxEventBytes = 1024 * 1024,
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let buffer = '';
  let current: { event: string; data: string[]; id?: string } = { event: 'message', data: [] };
  let eventBytes = 0;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    if (buffer.length > maxEventBytes)
      fail('PEER_PROTOCOL', `a server-sent event exceeds ${maxEventBytes} bytes`);
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (current.data.length > 0) {
          const ev: SseEvent = { event: current.event, data: current.data.join('\n') };
          if (current.id !== undefined) ev.id = current.id;
          yield ev;
        }
        current = { event: 'message', data: [] };
        eventBytes = 0;
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') current.event = value;
        else if (field === 'data') {
          // Bound the event, not only the line: many short data lines make one large event.
          eventBytes += Buffer.byteLength(value) + 1;
          if (eventBytes > maxEventBytes)
            fail('PEER_PROTOCOL', `a server-sent event exceeds ${maxEventBytes} bytes`);
          current.data.push(value);
        } else if (field === 'id') current.id = value;
      }
      nl = buffer.indexOf('\n');
    }
  }
}
