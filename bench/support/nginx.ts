import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
