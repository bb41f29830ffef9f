import type { Server } from 'node:net';

/**
 * Binds `server` (TCP `{host, port}`, or a unix socket `{path}`) and resolves once it
 * listens; rejects with the bind's own error, for the caller to name in its code. Once
 * bound, the bind's error listener is gone and `onError` hears every later server error —
 * `accept` failing with EMFILE is one — which would otherwise either crash the daemon (no
 * listener: an unheard 'error' throws) or vanish (a stale bind listener swallowing it).
 */
export function listenOn(
  server: Server,
  at: { host: string; port: number } | { path: string },
  onError: (err: Error) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const bound = () => {
      server.off('error', reject);
      server.on('error', onError);
      resolve();
    };
    if ('path' in at) server.listen(at.path, bound);
    else server.listen(at.port, at.host, bound);
  });
}
