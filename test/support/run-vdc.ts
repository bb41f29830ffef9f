import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const VDC_BIN = new URL('../../bin/vdc', import.meta.url).pathname;

export interface VdcRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs bin/vdc as a user would: a real process in its own session (so it has no
 * controlling terminal and can never block on a prompt), with `env` over a clean base.
 */
export function runVdc(
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: string | Buffer } = {},
): Promise<VdcRun> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/root',
    };
    for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) env[k] = v;
    const child = spawn(VDC_BIN, args, { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** A fresh $VDC_HOME removed after the test. */
export function tempHome(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-home-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
