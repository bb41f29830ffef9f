/** A daemon's log: one JSON object per line, so machines can read it and people can grep it. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function jsonLogger(
  write: (line: string) => void = (l) => process.stderr.write(l),
  base: Record<string, unknown> = {},
  min: LogLevel = 'info',
): Logger {
  return {
    log(level, msg, fields = {}) {
      if (ORDER[level] < ORDER[min]) return;
      const entry: Record<string, unknown> = {
        time: new Date().toISOString(),
        level,
        msg,
        ...base,
        ...fields,
      };
      const err = entry['err'];
      if (err instanceof Error)
        entry['err'] = { message: err.message, code: (err as { code?: unknown }).code };
      write(`${JSON.stringify(entry)}\n`);
    },
    child(fields) {
      return jsonLogger(write, { ...base, ...fields }, min);
    },
  };
}
