import type { CliIo } from './cli-io.ts';

/*
 * Progress on stderr for anything slow: a line rewritten in place on a terminal, a line
 * every few seconds otherwise; nothing at all for --json or work that ends within a second.
 */

export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

export function progress(io: CliIo, label: string, quiet: boolean): Progress {
  const started = Date.now();
  let last = 0;
  let shown = false;
  const tty = Boolean(process.stderr.isTTY);
  return {
    update(done, total) {
      const now = Date.now();
      if (quiet || now - started < 1000 || now - last < (tty ? 100 : 5000)) return;
      last = now;
      shown = true;
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      io.err(`${tty ? '\r' : ''}${label}: ${done}/${total} (${pct}%)${tty ? '' : '\n'}`);
    },
    done() {
      if (shown && tty) io.err('\n');
    },
  };
}
