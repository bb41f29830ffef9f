import {
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readSync,
  statSync,
  truncateSync,
} from 'node:fs';

/*
 * A container's log: the file crun gave the container as stdout and stderr. The container
 * holds it open in append mode, so it cannot be swapped for a new file; rotation copies it
 * to `log.1` and truncates it in place (appends then continue at the new end). A workload
 * thus keeps at most twice LOG_MAX_BYTES on the node's disk, whatever it prints.
 */

export const LOG_MAX_BYTES = 4 * 2 ** 20;

function readTail(path: string, maxBytes: number): Buffer {
  if (!existsSync(path) || maxBytes <= 0) return Buffer.alloc(0);
  const size = statSync(path).size;
  const length = Math.min(size, maxBytes);
  const buf = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** The last `maxBytes` of the log (continuing into the rotated part), as text. */
export function tailLog(path: string, maxBytes: number): string {
  const current = readTail(path, maxBytes);
  const older = readTail(`${path}.1`, maxBytes - current.length);
  const buf = Buffer.concat([older, current]);
  // the cut may land inside a UTF-8 sequence: drop its continuation bytes
  let start = 0;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/** Rotates the log once it is past `max` bytes. */
export function rotateLog(path: string, max = LOG_MAX_BYTES): void {
  if (!existsSync(path) || statSync(path).size <= max) return;
  copyFileSync(path, `${path}.1`);
  truncateSync(path, 0);
}
