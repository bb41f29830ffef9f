import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The folder holding a user's keystore and config: `$VDC_HOME`, default `~/.vdc`. */
export function vdcHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env['VDC_HOME'];
  return home ? resolve(home) : join(homedir(), '.vdc');
}
