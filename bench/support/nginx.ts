import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeLoopbackPort } from '../../src/core/free-port.ts';

/* Debian's nginx as a bench baseline: one master with one worker, everything in a folder. */

/**
 * nginx's worker: the master's first child, once forked. The master opens the listening
 * sockets before it forks, so with its worker there nginx serves.
 */
export async function nginxWorker(master: ChildProcess): Promise<number> {
  const pid = master.pid!;
  for (let tries = 0; tries < 200; tries++) {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0];
    if (first) return Number(first);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx (pid ${pid}) started no worker: see its error log`);
}

/**
 * One nginx master with one worker, everything under `dir`; `http` and `stream` are the
 * bodies of those blocks (stream loads its module).
 */
export function startNginx(dir: string, blocks: { http: string; stream?: string }): ChildProcess {
  mkdirSync(dir, { recursive: true });
  const conf = `${blocks.stream ? 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n' : ''}\
daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
${blocks.http}}
${blocks.stream ? `stream {\n${blocks.stream}}\n` : ''}`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  return spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
}

export interface NginxPeers {
  ports: { proxy: number; keepalive: number; stream: number; chain: number };
  /** the master of the proxy, keepalive and stream servers, and its worker */
  master: number;
  worker: number;
  /** the chain's two workers, front first */
  hopWorkers: [number, number];
}

/**
 * The bench's nginx peers of the gateway, in front of the backend's `http` and `https`
 * ports: a reverse proxy (proxy_pass, a new backend connection per request), one with
 * upstream keepalive, `stream` with ssl_preread for passthrough; and two nginx processes
 * in a chain, the hop between them over TLS with kept-alive connections — the shape of ours
 * (gateway → TLS tunnel → tunnel client → backend) without HTTP/2, for what a second
 * process and hop cost on this host. The backend's certificate is `dir`/site.crt.
 * `after` is given each master's stop.
 */
export async function startNginxPeers(
  dir: string,
  backend: { http: number; https: number },
  after: (stop: () => void) => void,
): Promise<NginxPeers> {
  const free: number[] = [];
  for (let i = 0; i < 5; i++) free.push(await freeLoopbackPort());
  const [proxy, keepalive, stream, chain, hop] = free;
  const kept = `proxy_http_version 1.1; proxy_set_header Connection "";`;
  const start = (at: string, blocks: { http: string; stream?: string }) => {
    const master = startNginx(at, blocks);
    after(() => master.kill());
    return master;
  };
  const main = start(dir, {
    http: `  server { listen 127.0.0.1:${proxy}; location / { proxy_pass http://127.0.0.1:${backend.http}; } }
  upstream backend { server 127.0.0.1:${backend.http}; keepalive 64; }
  server { listen 127.0.0.1:${keepalive}; location / { proxy_pass http://backend; ${kept} } }
`,
    stream: `  server { listen 127.0.0.1:${stream}; ssl_preread on; proxy_pass 127.0.0.1:${backend.https}; }
`,
  });
  const back = start(join(dir, 'hop'), {
    http: `  upstream backend { server 127.0.0.1:${backend.http}; keepalive 64; }
  server {
    listen 127.0.0.1:${hop} ssl;
    ssl_certificate ${dir}/site.crt; ssl_certificate_key ${dir}/site.key;
    keepalive_requests 1000000;
    location / { proxy_pass http://backend; ${kept} }
  }
`,
  });
  const front = start(join(dir, 'hop-front'), {
    http: `  upstream hop { server 127.0.0.1:${hop}; keepalive 64; }
  server {
    listen 127.0.0.1:${chain};
    location / {
      proxy_pass https://hop; ${kept}
      proxy_ssl_session_reuse on; proxy_ssl_verify off;
    }
  }
`,
  });
  return {
    ports: { proxy: proxy!, keepalive: keepalive!, stream: stream!, chain: chain! },
    master: main.pid!,
    worker: await nginxWorker(main),
    hopWorkers: [await nginxWorker(front), await nginxWorker(back)],
  };
}
