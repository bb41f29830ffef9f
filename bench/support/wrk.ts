import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/*
 * wrk, run and read: requests per second and latency percentiles of one HTTP load run.
 *
 * wrk's own percentiles are corrected for coordinated omission: an answer slower than twice
 * the mean interval between requests also counts as the requests that would have been sent
 * meanwhile, so one stall of a closed loop weighs in proportion to its length. A "raw"
 * script also times each request itself, uncorrected: what a client saw.
 */

const run = promisify(execFile);

/** The done hook's tail: p90 and p99.9, which --latency does not print. */
const TAIL_LUA = `function print_tail(latency)
  io.write(string.format("tail p90=%.3f p99.9=%.3f\\n", latency:percentile(90) / 1000, latency:percentile(99.9) / 1000))
end
done = function(summary, latency, requests) print_tail(latency) end
`;

/**
 * The tail plus each request's own latency, timed in the request and response hooks with
 * the monotonic clock (LuaJIT's ffi). An answer is paired with its thread's last request,
 * so it needs one connection per wrk thread.
 */
const RAW_LUA = `${TAIL_LUA}local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } vdc_timespec;
int clock_gettime(int clock, vdc_timespec *tp);
]]
local ts = ffi.new("vdc_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
local sent = 0
samples = {}
request = function()
  sent = now_us()
  return wrk.format()
end
response = function() samples[#samples + 1] = now_us() - sent end
done = function(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for _, v in ipairs(t:get("samples")) do all[#all + 1] = v end
  end
  table.sort(all)
  local function p(q) return all[math.max(1, math.ceil(#all * q / 100))] / 1000 end
  io.write(string.format("raw p50=%.3f p90=%.3f p99=%.3f p99.9=%.3f\\n", p(50), p(90), p(99), p(99.9)))
  print_tail(latency)
end
`;

export interface WrkScript {
  /** wrk's percentiles only, or also the raw ones (then one connection per thread) */
  raw: boolean;
  /** ms to wait after each answer before the next request (wrk's `delay` hook) */
  paceMs?: number;
}

/** Writes the Lua script for `s` into `dir`; its path, for WrkRun.script. */
export function writeWrkScript(dir: string, name: string, s: WrkScript): string {
  const path = join(dir, `${name}.lua`);
  const pace = s.paceMs === undefined ? '' : `function delay()\n  return ${s.paceMs}\nend\n`;
  writeFileSync(path, pace + (s.raw ? RAW_LUA : TAIL_LUA));
  return path;
}

export interface WrkRun {
  url: string;
  connections: number;
  seconds: number;
  /** from writeWrkScript */
  script: string;
  /** the Host header, where it is not the URL's */
  host?: string | undefined;
  /** a file bind-mounted over /etc/hosts for wrk alone (it sends the URL's host as SNI) */
  hostsFile: string;
  /** the CPU wrk is pinned to */
  cpu?: number | undefined;
}

/** Percentiles in ms. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  'p99.9': number;
}

export interface WrkResult {
  rps: number;
  requests: number;
  /** wrk's (corrected for coordinated omission) */
  latency: Percentiles;
  /** each request's own, with a raw script */
  raw?: Percentiles;
  non2xx: number;
  socketErrors?: string;
}

/** wrk's duration text (`812.00us`, `1.20ms`, `2.00s`) in ms. */
function ms(value: string): number {
  const m = /^([0-9.]+)(us|ms|s)$/.exec(value);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** Runs wrk in a private mount namespace (root) and reads what it printed. */
export async function runWrk(r: WrkRun): Promise<WrkResult> {
  const args = [
    `-t${Math.min(2, r.connections)}`,
    `-c${r.connections}`,
    `-d${r.seconds}s`,
    '--latency',
    '-s',
    r.script,
    ...(r.host ? ['-H', `Host: ${r.host}`] : []),
    r.url,
  ];
  const pin = r.cpu === undefined ? '' : `taskset -c ${r.cpu} `;
  const { stdout } = await run('unshare', [
    '-m',
    'sh',
    '-c',
    `mount --bind ${r.hostsFile} /etc/hosts && exec ${pin}wrk ${args.map((a) => `'${a}'`).join(' ')}`,
  ]);
  const tail = /tail p90=([0-9.]+) p99\.9=([0-9.]+)/.exec(stdout);
  const raw = /raw p50=([0-9.]+) p90=([0-9.]+) p99=([0-9.]+) p99\.9=([0-9.]+)/.exec(stdout);
  const socketErrors = /Socket errors: (.*)/.exec(stdout)?.[1];
  return {
    rps: Number(/Requests\/sec:\s+([0-9.]+)/.exec(stdout)?.[1]),
    requests: Number(/([0-9]+) requests in/.exec(stdout)?.[1]),
    latency: {
      p50: ms(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? ''),
      p90: Number(tail?.[1]),
      p99: ms(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? ''),
      'p99.9': Number(tail?.[2]),
    },
    ...(raw
      ? {
          raw: {
            p50: Number(raw[1]),
            p90: Number(raw[2]),
            p99: Number(raw[3]),
            'p99.9': Number(raw[4]),
          },
        }
      : {}),
    non2xx: Number(/Non-2xx or 3xx responses: ([0-9]+)/.exec(stdout)?.[1] ?? '0'),
    ...(socketErrors ? { socketErrors } : {}),
  };
}
