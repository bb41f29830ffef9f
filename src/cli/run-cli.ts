import { CommanderError } from 'commander';
import { EXIT_CODES } from '../core/error-codes.ts';
import { asVdcError, exitCodeOf } from '../core/errors.ts';
import type { CliIo } from './cli-io.ts';
import { createProgram } from './program.ts';

/**
 * Runs `vdc` with `argv` (without the node and script paths) and returns the exit code:
 * 0 on success, the code of the error's kind otherwise (docs/cli.md). Errors are printed as
 * `error CODE: message`, or as JSON on stdout when `--json` was given.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end by "throwing" with exit code 0; real usage errors were already printed.
      return err.exitCode === 0 ? 0 : EXIT_CODES.usage;
    }
    const error = asVdcError(err);
    if (argv.includes('--json')) io.out(`${JSON.stringify({ error: error.toJSON() })}\n`);
    io.err(`error ${error.code}: ${error.message}\n`);
    if (error.code === 'INTERNAL' && io.env['VDC_DEBUG'])
      io.err(`${(error.cause as Error)?.stack ?? ''}\n`);
    return exitCodeOf(error);
  }
}
