import type { CliIo } from './cli-io.ts';

/** Prints data as one JSON document for scripts (`--json`), or as text for people. */
export function emit(
  io: CliIo,
  json: boolean | undefined,
  data: unknown,
  human: string | (() => string),
): void {
  if (json) io.out(`${JSON.stringify(data, null, 2)}\n`);
  else io.out(`${typeof human === 'string' ? human : human()}\n`);
}
