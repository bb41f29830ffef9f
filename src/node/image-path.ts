import { fail } from '../core/assert.ts';
import type { ErrorCode } from '../core/error-codes.ts';

/*
 * The path rules of an image: an entry's path must name a place inside the image's root
 * without help from `..` or a leading `/`, and a symlink must resolve inside the root —
 * the latter checked both per link (lexically) and over the finished tree (through the
 * other links, since `a -> b/..` with `b -> ..` escapes though each alone does not).
 */

/** The longest file-name component Linux takes (NAME_MAX). */
const NAME_MAX = 255;
/** Symlinks the kernel follows in one lookup before ELOOP (MAXSYMLINKS). */
const MAX_HOPS = 40;
/** Steps the whole-tree check may take, so a tree of long link chains cannot stall a node. */
export const MAX_RESOLVE_STEPS = 10_000_000;

export type NodeType = 'directory' | 'file' | 'symlink';

export interface TreeNode {
  type: NodeType;
  /** a symlink's target as stored */
  target?: string;
}

/** Root-relative `a/b/c` of `parts`; '' for the root itself. */
export function joinParts(parts: readonly string[]): string {
  return parts.join('/');
}

/**
 * An archive path as components below the root ([] for the root, `./` in most tarballs).
 * @throws VdcError IMAGE_PATH_INVALID, and `absolute`/`traversal` (the codes of the caller)
 */
export function archivePath(
  raw: string,
  what: string,
  absolute: ErrorCode = 'IMAGE_PATH_ABSOLUTE',
  traversal: ErrorCode = 'IMAGE_PATH_TRAVERSAL',
): string[] {
  const shown = JSON.stringify(raw);
  if (raw === '' || raw.includes('\0'))
    fail('IMAGE_PATH_INVALID', `${what} ${shown} is empty or holds a NUL byte`);
  if (raw.startsWith('/'))
    fail(absolute, `${what} ${shown} is absolute: image paths must be relative to the root`);
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..')
      fail(traversal, `${what} ${shown} has a '..' component: image paths may not climb`);
    if (Buffer.byteLength(part) > NAME_MAX)
      fail('IMAGE_PATH_INVALID', `${what} ${shown} has a component longer than ${NAME_MAX} bytes`);
    parts.push(part);
  }
  return parts;
}

/**
 * Refuses a symlink at `linkParts` whose target, read lexically from the link's folder
 * (an absolute target from the image root), climbs above the root.
 * @throws VdcError IMAGE_PATH_INVALID, IMAGE_SYMLINK_ESCAPES
 */
export function checkSymlinkTarget(linkParts: readonly string[], target: string): void {
  const link = JSON.stringify(joinParts(linkParts));
  if (target === '' || target.includes('\0'))
    fail('IMAGE_PATH_INVALID', `symlink ${link} has an empty target or one with a NUL byte`);
  let depth = target.startsWith('/') ? 0 : linkParts.length - 1;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    depth += part === '..' ? -1 : 1;
    if (depth < 0)
      fail(
        'IMAGE_SYMLINK_ESCAPES',
        `symlink ${link} -> ${JSON.stringify(target)} points outside the image root`,
      );
  }
}

/**
 * Resolves the symlink at `linkPath` the way the kernel would inside the root, following
 * the tree's other symlinks; false when a step climbs above the root. Missing components
 * and components that are files are taken lexically, which climbs no higher than the
 * kernel would. `budget.steps` is shared by all links of one tree.
 */
function staysInside(
  tree: ReadonlyMap<string, TreeNode>,
  linkPath: string,
  target: string,
  budget: { steps: number },
): boolean {
  const stack = linkPath.split('/').slice(0, -1);
  if (target.startsWith('/')) stack.length = 0;
  const pending = target.split('/').reverse();
  let hops = 0;
  while (pending.length > 0) {
    if (--budget.steps < 0)
      fail(
        'IMAGE_TAR_LIMIT_EXCEEDED',
        `the image's symlinks take more than ${MAX_RESOLVE_STEPS} steps to check: simplify them`,
      );
    const part = pending.pop() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return false;
      stack.pop();
      continue;
    }
    stack.push(part);
    const node = tree.get(joinParts(stack));
    if (node?.type !== 'symlink') continue;
    // The kernel gives up with ELOOP here; a lookup that fails escapes nowhere.
    if (++hops > MAX_HOPS) return true;
    stack.pop();
    const next = node.target ?? '';
    if (next.startsWith('/')) stack.length = 0;
    pending.push(...next.split('/').reverse());
  }
  return true;
}

/**
 * Checks every symlink of a finished tree, resolved through the others.
 * @throws VdcError IMAGE_SYMLINK_ESCAPES naming the first that escapes, IMAGE_TAR_LIMIT_EXCEEDED
 */
export function checkTreeSymlinks(tree: ReadonlyMap<string, TreeNode>): void {
  const budget = { steps: MAX_RESOLVE_STEPS };
  for (const [path, node] of tree) {
    if (node.type !== 'symlink') continue;
    const target = node.target ?? '';
    if (!staysInside(tree, path, target, budget))
      fail(
        'IMAGE_SYMLINK_ESCAPES',
        `symlink ${JSON.stringify(path)} -> ${JSON.stringify(target)} resolves outside the ` +
          `image root through the image's other symlinks`,
      );
  }
}
