/** The settings of a zdb server: 0-db v2.0.7's command-line flags and defaults. */
export interface ZdbSettings {
  /** --data: root of the data files (one folder per namespace). */
  dataPath: string;
  /** --index: root of the index files. */
  indexPath: string;
  /** --listen (default `::`). */
  listen: string;
  /** --port (default 9900); 0 picks a free port (tests). */
  port: number;
  /** --socket: a unix socket, which replaces TCP unless `dualnet`. */
  socket?: string | undefined;
  dualnet: boolean;
  /** --mode: absent means each namespace chooses (0-db's "mix" mode). */
  mode?: 'user' | 'seq' | undefined;
  /** --admin: the admin password; without it every client is admin. */
  adminPassword?: string | undefined;
  /** --protect: `default` is read-only unless selected with the admin password. */
  protect: boolean;
  /** --maxsize: size limit of the `default` namespace in bytes (0 = none). */
  maxsize: number;
  /** --datasize: a data file rotates before it would grow past this. */
  datasize: number;
  /** --rotate: seconds after which the data file of an active namespace rotates (0 = never). */
  rotate: number;
  /** --sync: fsync data and index before every reply that follows a write. */
  sync: boolean;
  /** --synctime: fsync at most this many seconds after a write (0 = off). */
  synctime: number;
  /** --secure (VDC): plain passwords are refused; AUTH and SELECT accept only SECURE proofs. */
  secure: boolean;
  /** --hook: program run on events. */
  hook?: string | undefined;
  verbose: boolean;
}

export const DEFAULT_DATASIZE = 256 * 1024 * 1024;
export const MAX_DATASIZE = 0xffffffff - 1;

export function defaultSettings(over: Partial<ZdbSettings> = {}): ZdbSettings {
  return {
    dataPath: './zdb-data',
    indexPath: './zdb-index',
    listen: '::',
    port: 9900,
    dualnet: false,
    protect: false,
    maxsize: 0,
    datasize: DEFAULT_DATASIZE,
    rotate: 0,
    sync: false,
    secure: false,
    synctime: 0,
    verbose: false,
    ...over,
  };
}
