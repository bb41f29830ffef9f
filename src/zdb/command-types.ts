import type { Hooks } from './hooks.ts';
import type { Namespace, NamespaceRegistry } from './namespace-registry.ts';
import { error } from './resp-reply.ts';
import type { ZdbSettings } from './settings.ts';

/** One connected client's session state. */
export interface ClientState {
  id: number;
  ns: Namespace | undefined;
  writable: boolean;
  admin: boolean;
  nonce: string | undefined;
}

export interface ServerStats {
  bootTime: number;
  clients: number;
  commandsExecuted: number;
  commandsFailed: number;
  adminFailed: number;
  rxBytes: number;
  txBytes: number;
}

/** What command handlers may use of the server. */
export interface ServerContext {
  settings: ZdbSettings;
  registry: NamespaceRegistry;
  hooks: Hooks;
  stats: ServerStats;
  instanceId: number;
  /** Moves every client of a deleted namespace to the "namespace gone" state. */
  detachClients(ns: Namespace): void;
  stop(): void;
}

export interface WaitRequest {
  wait: string;
  timeoutMs: number;
}

export type Reply = Buffer | WaitRequest;

export interface Call {
  client: ClientState;
  args: Buffer[];
  /**
   * SET/SETX only: the value (args[2], then empty) as the pieces it arrived in, when it
   * spanned several received chunks (resp-parser.ts: stored without being joined).
   */
  valueParts?: readonly Buffer[];
  server: ServerContext;
  /** Set by a handler that appended to a namespace: its reply must not be sent if that write fails. */
  wrote?: Namespace;
}

export type Handler = (call: Call) => Reply;

/** 0-db's argument checks: an exact count (`-Unexpected arguments`), and no empty argument (`-Invalid argument`). */
export function checkArgs(call: Call, expected: number, allowEmpty = false): Buffer | undefined {
  if (call.args.length !== expected) return error('Unexpected arguments');
  if (!allowEmpty) for (const a of call.args) if (a.length === 0) return error('Invalid argument');
  return undefined;
}

export function checkAdmin(call: Call): Buffer | undefined {
  if (call.client.admin) return undefined;
  call.server.stats.adminFailed++;
  return error('Permission denied');
}

export const ERR_FROZEN = 'Namespace is temporarily frozen (read-write disabled)';
export const ERR_LOCKED = 'Namespace is temporarily locked (read-only)';
export const ERR_READONLY = 'Namespace is in read-only mode';
export const ERR_PLAIN_REFUSED =
  'Plain password refused: this server accepts only SECURE authentication';
