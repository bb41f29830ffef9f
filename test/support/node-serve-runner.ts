/*
 * Test-only: runs `vdc node …` through nodeCommand in a process of its own, the way
 * src/cli/main.ts runs the whole CLI, for tests that need a real node agent process before
 * the command is wired into bin/vdc. Exit codes and error lines follow run-cli.ts.
 */
import { Command, CommanderError } from 'commander';
import { processIo } from '../../src/cli/cli-io.ts';
import { nodeCommand } from '../../src/cli/node-command.ts';
import { asVdcError, exitCodeOf } from '../../src/core/errors.ts';

const program = new Command('vdc').exitOverride();
program.addCommand(nodeCommand(processIo));
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else {
    const error = asVdcError(err);
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
    process.exitCode = exitCodeOf(error);
  }
}
