import {
  type Call,
  checkAdmin,
  checkArgs,
  ERR_PLAIN_REFUSED,
  type Reply,
} from './command-types.ts';
import { array, bulk, error, integer, OK, PONG, status } from './resp-reply.ts';
import { newChallenge, passwordMatches, securePasswordMatches } from './secure-auth.ts';

/* PING, TIME, AUTH, INFO, STOP, HOOKS, WAIT, MIRROR, MASTER. */

export const ZDB_VERSION = '2.0.7';
export const WAIT_MAX_TIMEOUT_MS = 30 * 60 * 1000;

export const commandPing = (): Reply => PONG;

export function commandTime(): Reply {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const usec = Math.floor((ms % 1000) * 1000);
  return array([bulk(String(sec)), bulk(String(usec))]);
}

export function commandAuth(call: Call): Reply {
  const argc = call.args.length;
  const admin = call.server.settings.adminPassword;
  if (argc === 2) {
    if (admin === undefined) return error('Authentication disabled');
    if (call.server.settings.secure) return error(ERR_PLAIN_REFUSED);
    const bad = checkArgs(call, 2);
    if (bad) return bad;
    if (call.args[1]!.length > 128) return error('Password too long');
    if (!passwordMatches(admin, call.args[1]!)) return error('Access denied');
    call.client.admin = true;
    return OK;
  }
  if (argc !== 3) return error('Unexpected arguments');
  const bad = checkArgs(call, 3);
  if (bad) return bad;
  if (call.args[1]!.toString('latin1').toUpperCase() !== 'SECURE')
    return error('Only SECURE extra method supported');
  if (call.args[2]!.toString('latin1').toUpperCase() === 'CHALLENGE') {
    call.client.nonce = newChallenge();
    return status(call.client.nonce);
  }
  if (admin === undefined) return error('Authentication disabled');
  const nonce = call.client.nonce;
  if (nonce === undefined)
    return error('No CHALLENGE requested, secure authentication not available');
  if (call.args[2]!.length !== 40) return error('Invalid hash length');
  call.client.nonce = undefined;
  if (!securePasswordMatches(nonce, admin, call.args[2]!)) return error('Access denied');
  call.client.admin = true;
  return OK;
}

export function commandInfo(call: Call): Reply {
  const st = call.server.stats;
  const now = Math.floor(Date.now() / 1000);
  const mb = (n: number) => (n / (1024 * 1024)).toFixed(2);
  const lines = [
    '# server',
    'server_name: 0-db (zdb)',
    `server_version: ${ZDB_VERSION}`,
    'server_revision: vdc',
    'engine: vdc zdb (TypeScript)',
    `instance_id: ${call.server.instanceId}`,
    `boot_time: ${st.bootTime}`,
    `uptime: ${now - st.bootTime}`,
    `mode: ${call.server.settings.mode ?? 'mixed'}`,
    '',
    '# clients',
    `clients_lifetime: ${st.clients}`,
    '',
    '# stats',
    `commands_executed: ${st.commandsExecuted}`,
    `commands_failed: ${st.commandsFailed}`,
    `commands_unauthorized: ${st.adminFailed}`,
    `network_rx_bytes: ${st.rxBytes}`,
    `network_rx_mb: ${mb(st.rxBytes)}`,
    `network_tx_bytes: ${st.txBytes}`,
    `network_tx_mb: ${mb(st.txBytes)}`,
  ];
  return bulk(`${lines.join('\n')}\n`);
}

export function commandStop(call: Call): Reply {
  const denied = checkAdmin(call);
  if (denied) return denied;
  setImmediate(() => call.server.stop());
  return status('Stopping');
}

export function commandHooks(call: Call): Reply {
  const denied = checkAdmin(call);
  if (denied) return denied;
  return array(
    call.server.hooks.runs.map((r) =>
      array([
        bulk(r.name),
        array(r.args.map((a) => bulk(a))),
        integer(r.pid),
        integer(r.started),
        integer(r.ended),
        integer(r.status),
      ]),
    ),
  );
}

export function commandWait(call: Call, known: (name: string) => boolean): Reply {
  const argc = call.args.length;
  if (argc !== 2 && argc !== 3) return error('Invalid arguments');
  const name = call.args[1]!.toString('latin1').toUpperCase();
  if (!known(name)) return error('Unknown command to watch');
  let timeoutMs = 5000;
  if (argc === 3) {
    const t = call.args[2]!.toString('latin1');
    if (t.length > 16 || !/^\d+$/.test(t)) return error('Invalid timeout');
    timeoutMs = Number(t);
    if (timeoutMs < 100 || timeoutMs > WAIT_MAX_TIMEOUT_MS) return error('Invalid timeout');
  }
  return { wait: name, timeoutMs };
}

/** Replication is excluded from this implementation (docs/zdb.md): both commands say so plainly. */
export function commandReplication(): Reply {
  return error('Replication (MIRROR/MASTER) is not supported by this server');
}

export function commandAsterisk(): Reply {
  return error('This is not a valid command');
}
