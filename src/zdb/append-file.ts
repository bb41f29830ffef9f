import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  writevSync,
} from 'node:fs';

/*
 * One append-only file with a write-behind buffer: appends are queued in memory and written
 * with one writev at flush(), which the server calls before it sends the replies of a batch
 * of commands (so a pipelined batch costs one write, and nothing is acknowledged before it
 * is in the kernel). `end` is the logical size including queued bytes.
 */
export class AppendFile {
  readonly path: string;
  private fd: number;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private flushedSize: number;

  constructor(path: string, create: boolean) {
    this.path = path;
    this.fd = openSync(path, create ? 'w+' : 'r+', 0o600);
    this.flushedSize = fstatSync(this.fd).size;
  }

  get end(): number {
    return this.flushedSize + this.queuedBytes;
  }

  get flushed(): number {
    return this.flushedSize;
  }

  get dirty(): boolean {
    return this.queuedBytes > 0;
  }

  append(b: Buffer): number {
    const at = this.end;
    this.queued.push(b);
    this.queuedBytes += b.length;
    return at;
  }

  /** Writes what is queued. On failure the file is cut back to its last flushed size and the error is thrown. */
  flush(): void {
    if (this.queuedBytes === 0) return;
    let bufs = this.queued;
    let pos = this.flushedSize;
    try {
      let left = this.queuedBytes;
      while (left > 0) {
        const n = writevSync(this.fd, bufs, pos);
        pos += n;
        left -= n;
        if (left > 0) bufs = dropBytes(bufs, n);
      }
    } catch (err) {
      this.queued = [];
      this.queuedBytes = 0;
      try {
        ftruncateSync(this.fd, this.flushedSize);
      } catch {
        // the disk refused the write; the loader discards any tail a failed cut leaves
      }
      throw err;
    }
    this.flushedSize = pos;
    this.queued = [];
    this.queuedBytes = 0;
  }

  /** Drops everything queued and cuts the file to `size` (used to undo a partly flushed batch). */
  truncate(size: number): void {
    this.queued = [];
    this.queuedBytes = 0;
    ftruncateSync(this.fd, size);
    this.flushedSize = size;
  }

  sync(): void {
    fsyncSync(this.fd);
  }

  read(buf: Buffer, length: number, position: number): number {
    if (this.queuedBytes > 0 && position + length > this.flushedSize) this.flush();
    return readSync(this.fd, buf, 0, length, position);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function dropBytes(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = n;
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
