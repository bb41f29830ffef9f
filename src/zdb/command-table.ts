import type { Call, Handler, Reply } from './command-types.ts';
import {
  commandCheck,
  commandDel,
  commandExists,
  commandGet,
  commandKeytime,
  commandLength,
  commandMget,
  commandSet,
} from './commands-data.ts';
import {
  commandDbsize,
  commandFlush,
  commandNsdel,
  commandNsinfo,
  commandNsjump,
  commandNslist,
  commandNsnew,
  commandNsset,
  commandReload,
  commandSelect,
} from './commands-namespace.ts';
import {
  commandData,
  commandHistory,
  commandIndex,
  commandKeycur,
  commandKscan,
  commandRscan,
  commandScan,
} from './commands-scan.ts';
import {
  commandAsterisk,
  commandAuth,
  commandHooks,
  commandInfo,
  commandPing,
  commandReplication,
  commandStop,
  commandTime,
  commandWait,
} from './commands-system.ts';
import { error } from './resp-reply.ts';

/** 0-db v2.0.7's command set; names match case-insensitively, exactly (0-db also matches prefixes). */
export const COMMANDS: Map<string, Handler> = new Map<string, Handler>([
  ['*', commandAsterisk],
  ['WAIT', (call: Call): Reply => commandWait(call, (n: string): boolean => COMMANDS.has(n))],
  ['MIRROR', commandReplication],
  ['MASTER', commandReplication],
  ['PING', commandPing],
  ['TIME', commandTime],
  ['AUTH', commandAuth],
  ['HOOKS', commandHooks],
  ['INDEX', commandIndex],
  ['DATA', commandData],
  ['SET', commandSet],
  ['SETX', commandSet],
  ['GET', commandGet],
  ['MGET', commandMget],
  ['DEL', commandDel],
  ['EXISTS', commandExists],
  ['CHECK', commandCheck],
  ['LENGTH', commandLength],
  ['KEYTIME', commandKeytime],
  ['SCAN', commandScan],
  ['SCANX', commandScan],
  ['RSCAN', commandRscan],
  ['KSCAN', commandKscan],
  ['HISTORY', commandHistory],
  ['KEYCUR', commandKeycur],
  ['INFO', commandInfo],
  ['STOP', commandStop],
  ['DBSIZE', commandDbsize],
  ['NSNEW', commandNsnew],
  ['NSDEL', commandNsdel],
  ['NSLIST', commandNslist],
  ['NSSET', commandNsset],
  ['NSINFO', commandNsinfo],
  ['NSJUMP', commandNsjump],
  ['SELECT', commandSelect],
  ['RELOAD', commandReload],
  ['FLUSH', commandFlush],
  // Not a 0-db command: RESP3 clients (ioredis 6) open with HELLO 3 and fall back to RESP2
  // only on a NOPROTO answer, which is the truth here (docs/zdb.md, differences).
  ['HELLO', () => error('NOPROTO this server speaks RESP2 only')],
]);

const NOT_SUPPORTED = error('Command not supported');

/** Runs one request; returns the reply and the command's upper-case name (undefined when unknown). */
export function dispatch(call: Call): { reply: Reply; name: string | undefined } {
  const raw = call.args[0]!;
  if (raw.length > 16) return { reply: NOT_SUPPORTED, name: undefined };
  const name = raw.toString('latin1').toUpperCase();
  const handler = COMMANDS.get(name);
  if (!handler) return { reply: NOT_SUPPORTED, name: undefined };
  return { reply: handler(call), name };
}

/**
 * Which request arguments the parser may hand over as the pieces they arrived in: the value
 * of SET and SETX (written to the data file as they are, never joined). Every other
 * argument of every command arrives as one buffer.
 */
export function valueMayStaySplit(command: Buffer, index: number): boolean {
  if (index !== 2 || command.length < 3 || command.length > 4) return false;
  const name = command.toString('latin1').toUpperCase();
  return name === 'SET' || name === 'SETX';
}
