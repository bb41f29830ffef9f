import { readFileSync } from 'node:fs';
import { fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import type { NodeType } from './image-path.ts';

/*
 * What an unpacked image holds besides its files: each entry's owner as the tar header
 * gave it. The cache's rootfs is owned by the node (root); the owners are applied only
 * when a container's copy is made, shifted into that container's user-namespace range.
 */

export interface ManifestEntry {
  /** root-relative, '.' for the root itself */
  path: string;
  type: NodeType;
  /** permission bits as applied (files & 0o777; directories may keep setgid and sticky) */
  mode: number;
  /** owner inside the image, < 65536 */
  uid: number;
  gid: number;
}

export const MANIFEST_VERSION = 1;

/** @throws VdcError FILE_WRITE_FAILED */
export function writeManifest(file: string, entries: readonly ManifestEntry[]): void {
  writeFileAtomic(file, JSON.stringify({ version: MANIFEST_VERSION, entries }));
}

function isEntry(e: unknown): e is ManifestEntry {
  if (typeof e !== 'object' || e === null) return false;
  const { path, type, mode, uid, gid } = e as Record<string, unknown>;
  const id = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 65536;
  return (
    typeof path === 'string' &&
    (type === 'directory' || type === 'file' || type === 'symlink') &&
    Number.isInteger(mode) &&
    id(uid) &&
    id(gid)
  );
}

/**
 * Reads a manifest written by writeManifest. It is the node's own file, so a bad one
 * means the cache was damaged, not that an image was hostile.
 * @throws VdcError IMAGE_CACHE_CORRUPT
 */
export function readManifest(file: string): ManifestEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    return fail(
      'IMAGE_CACHE_CORRUPT',
      `cannot read ${file}: remove the image and fetch it again`,
      cause,
    );
  }
  const entries = (parsed as { entries?: unknown })?.entries;
  if (
    (parsed as { version?: unknown })?.version !== MANIFEST_VERSION ||
    !Array.isArray(entries) ||
    !entries.every(isEntry)
  )
    fail(
      'IMAGE_CACHE_CORRUPT',
      `${file} is not a version ${MANIFEST_VERSION} image manifest: remove the image and fetch it again`,
    );
  return entries;
}
