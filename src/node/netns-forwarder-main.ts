/*
 * The forwarder program of a `gateway` workload (docs/node-gateway.md), started by the node
 * agent through `nsenter --net=/proc/PID/ns/net --setuid U --setgid U`: inside the
 * container's network namespace, as an unprivileged uid, it listens on a unix socket
 * (bound to the file system, not to a network namespace, so the agent outside reaches it)
 * and joins each connection to 127.0.0.1:PORT inside. It imports nothing of ours, so it
 * loads fast and holds no code the agent's keys touch. It exits when its stdin closes: the
 * agent holds the other end, so a forwarder never outlives the agent that started it.
 *
 * The file is TypeScript that is also plain JavaScript (no annotations: the types are
 * inferred), so the agent runs it as JavaScript (`node --input-type=module -e`): node then
 * does not load its TypeScript stripper, which more than doubles a forwarder's private
 * memory (22 MB against 9 MB measured).
 *
 * argv: SOCKET PORT (the last two arguments). Prints `ready` once listening.
 */
import { unlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [socketPath, portText] = process.argv.slice(-2);
const port = Number(portText);
if (!socketPath || !Number.isInteger(port) || port < 1 || port > 65_535) {
  process.stderr.write('usage: netns-forwarder-main.ts SOCKET PORT\n');
  process.exit(2);
}

try {
  unlinkSync(socketPath); // a stale socket of an earlier forwarder
} catch {
  // absent: the usual case
}
// The socket is the forwarder uid's alone (0600); its folder is too (0700, made by the agent).
process.umask(0o177);
const server = createServer({ allowHalfOpen: false }, (outside) => {
  const inside = connect({ host: '127.0.0.1', port });
  outside.pipe(inside).pipe(outside);
  // Either side failing ends both: the tunnel's stream then reports the failure (502).
  const end = () => {
    outside.destroy();
    inside.destroy();
  };
  inside.on('error', end);
  outside.on('error', end);
  inside.on('close', end);
  outside.on('close', end);
});
server.on('error', (err) => {
  process.stderr.write(`forwarder: ${err.message}\n`);
  process.exit(1);
});
server.listen(socketPath, () => process.stdout.write('ready\n'));
const stop = () => {
  server.close();
  try {
    unlinkSync(socketPath);
  } catch {
    // already gone
  }
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
