import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KeyIndex } from './key-index.ts';
import { FLAG_DELETED } from './record-format.ts';
import type { ZdbSettings } from './settings.ts';
import { loadNamespace } from './store-loader.ts';

/**
 * --dump: the index of every namespace as text lines (0-db prints its index and exits).
 * Loading applies the same crash rules as a start (a torn tail is cut).
 */
export function dumpIndexes(settings: Pick<ZdbSettings, 'indexPath' | 'dataPath'>): string[] {
  const out: string[] = [];
  if (!existsSync(settings.indexPath)) return out;
  for (const name of readdirSync(settings.indexPath).sort()) {
    const index = new KeyIndex();
    const r = loadNamespace(join(settings.indexPath, name), join(settings.dataPath, name), index);
    out.push(
      `namespace ${name}: ${r.entries} entries, ${r.datasize} bytes, mode ${r.mode === 1 ? 'seq' : 'user'}`,
    );
    for (const id of index.ids()) {
      const e = index.entry(id);
      out.push(
        `  ${index.key(id).toString('hex')} len=${e.length} time=${e.timestamp} file=${e.dataId} offset=${e.dataOffset}${e.flags & FLAG_DELETED ? ' deleted' : ''}`,
      );
    }
    for (const w of r.warnings) out.push(`  warning: ${w}`);
  }
  return out;
}
