/** RESP2 reply encoders. Replies are Buffers so binary keys and values pass unchanged. */

export const OK = Buffer.from('+OK\r\n');
export const NIL = Buffer.from('$-1\r\n');
export const PONG = Buffer.from('+PONG\r\n');
const CRLF = Buffer.from('\r\n');

export function status(text: string): Buffer {
  return Buffer.from(`+${text}\r\n`, 'latin1');
}

export function error(text: string): Buffer {
  return Buffer.from(`-${text}\r\n`, 'latin1');
}

export function integer(n: number): Buffer {
  return Buffer.from(`:${n}\r\n`, 'latin1');
}

export function bulk(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return Buffer.concat([Buffer.from(`$${body.length}\r\n`, 'latin1'), body, CRLF]);
}

export function array(items: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(`*${items.length}\r\n`, 'latin1'), ...items]);
}
