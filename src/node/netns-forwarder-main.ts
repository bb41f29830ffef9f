/*
 * The forwarder program of a `gateway` workload (docs/node-gateway.md), started by the node
 * agent through `nsenter --net=/proc/PID/ns/net`: inside the container's network
 * namespace it listens on a unix socket, gives it to an unprivileged uid and becomes that
 * uid before it accepts anything. It starts as root (not with nsenter's --setuid) because
 * the node binary may sit where only root can reach it (a checkout under a 0700 temp
 * folder). Then it listens on that unix socket
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
 * argv: SOCKET PORT UID GID (the last four arguments). Prints `ready` once listening as UID.
 */
import { chownSync, unlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [socketPath, portText, uidText, gidText] = process.argv.slice(-4);
const port = Number(portText);
const [uid, gid] = [Number(uidText), Number(gidText)];
const ids = [uid, gid].filter((n) => Number.isInteger(n) && n > 0 && n < 2 ** 32 - 1);
if (!socketPath || !Number.isInteger(port) || port < 1 || port > 65_535 || ids.length !== 2) {
  process.stderr.write('usage: netns-forwarder-main.ts SOCKET PORT UID GID\n');
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
server.listen(socketPath, () => {
  chownSync(socketPath, uid, gid);
  // Nothing is accepted before this: from here on the forwarder is the unprivileged uid.
  if (process.getuid?.() !== uid) {
    if (!process.setgroups || !process.setgid || !process.setuid) {
      process.stderr.write('forwarder: this platform cannot drop privileges\n');
      process.exit(1);
    }
    process.setgroups([]);
    process.setgid(gid);
    process.setuid(uid);
  }
  process.stdout.write('ready\n');
});
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
