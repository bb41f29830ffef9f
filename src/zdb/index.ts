/*
 * zdb: a 0-db (v2.0.7) compatible storage server, and a client for it. See docs/zdb.md.
 */
export { ZdbClient, type ZdbClientOptions, type ZdbReply } from './client.ts';
export { dumpIndexes } from './dump.ts';
export { keepFreedMemory } from './malloc-tuning.ts';
export { secureHash } from './secure-auth.ts';
export { startZdbServer, type ZdbServer } from './server.ts';
export { DEFAULT_DATASIZE, defaultSettings, type ZdbSettings } from './settings.ts';
