import { readFileSync, statSync } from 'node:fs';
import { fail } from '../core/assert.ts';

/** What a command may touch of the outside world; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<Buffer>;
  stdinIsTty: boolean;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  },
  stdinIsTty: Boolean(process.stdin.isTTY),
  env: process.env,
};

export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/**
 * A command's input file, or stdin for `-`, bounded in size.
 * @throws VdcError FILE_NOT_FOUND, FILE_UNREADABLE, INPUT_TOO_LARGE
 */
export async function readInput(
  io: CliIo,
  path: string,
  maxBytes = MAX_INPUT_BYTES,
): Promise<Buffer> {
  let data: Buffer;
  if (path === '-') {
    data = await io.readStdin();
  } else {
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) fail('FILE_UNREADABLE', `${path} is not a regular file`);
      size = st.size;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
        fail('FILE_NOT_FOUND', `${path} does not exist`, cause);
      throw cause;
    }
    if (size > maxBytes)
      fail('INPUT_TOO_LARGE', `${path} is ${size} bytes; at most ${maxBytes} are accepted`);
    try {
      data = readFileSync(path);
    } catch (cause) {
      fail('FILE_UNREADABLE', `cannot read ${path}: ${(cause as Error).message}`, cause);
    }
  }
  if (data.length > maxBytes)
    fail('INPUT_TOO_LARGE', `input is ${data.length} bytes; at most ${maxBytes} are accepted`);
  return data;
}
