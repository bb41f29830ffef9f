import { crc32 } from 'node:zlib';

/*
 * The in-memory index of one namespace: key -> where its latest version lives. Kept in
 * typed arrays and one key arena instead of a Map of objects, so a key costs about 30 bytes
 * of fields, 4-8 bytes of hash slot, and the key itself (0-db: 42 bytes + key). Entries are
 * never removed: a delete only flags the entry, as in 0-db, so seq ids stay reserved and the
 * history chain stays reachable.
 */

export interface IndexEntry {
  slot: number;
  flags: number;
  dataId: number;
  dataOffset: number;
  length: number;
  crc: number;
  timestamp: number;
  idxId: number;
  idxOffset: number;
}

const EMPTY = 0;

function grow<T extends Uint8Array | Uint16Array | Uint32Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}

export class KeyIndex {
  private slots = new Int32Array(1024);
  private mask = 1023;
  private count = 0;
  private capacity = 0;
  private arena = Buffer.allocUnsafe(0);
  private arenaUsed = 0;
  private keyOff = new Uint32Array(0);
  private keyLen = new Uint8Array(0);
  private flagsA = new Uint8Array(0);
  private dataIdA = new Uint16Array(0);
  private dataOffA = new Uint32Array(0);
  private lengthA = new Uint32Array(0);
  private crcA = new Uint32Array(0);
  private tsA = new Uint32Array(0);
  private idxIdA = new Uint16Array(0);
  private idxOffA = new Uint32Array(0);

  get size(): number {
    return this.count;
  }

  /** Bytes held by the index structures (for INFO and the benchmark). */
  memoryBytes(): number {
    return (
      this.slots.byteLength +
      this.arena.length +
      this.capacity * (4 + 1 + 1 + 2 + 4 + 4 + 4 + 4 + 2 + 4)
    );
  }

  private ensureCapacity(): void {
    if (this.count < this.capacity) return;
    // Grow by 1.5x (not 2x) so the slack stays small at millions of keys.
    const next = Math.max(1024, Math.ceil(this.capacity * 1.5));
    this.keyOff = grow(this.keyOff, next);
    this.keyLen = grow(this.keyLen, next);
    this.flagsA = grow(this.flagsA, next);
    this.dataIdA = grow(this.dataIdA, next);
    this.dataOffA = grow(this.dataOffA, next);
    this.lengthA = grow(this.lengthA, next);
    this.crcA = grow(this.crcA, next);
    this.tsA = grow(this.tsA, next);
    this.idxIdA = grow(this.idxIdA, next);
    this.idxOffA = grow(this.idxOffA, next);
    this.capacity = next;
  }

  private appendKey(key: Buffer): number {
    if (this.arenaUsed + key.length > this.arena.length) {
      const next = Buffer.allocUnsafe(
        Math.max(64 * 1024, Math.ceil((this.arenaUsed + key.length) * 1.5)),
      );
      this.arena.copy(next, 0, 0, this.arenaUsed);
      this.arena = next;
    }
    const at = this.arenaUsed;
    key.copy(this.arena, at);
    this.arenaUsed += key.length;
    return at;
  }

  private hashAt(id: number): number {
    const off = this.keyOff[id]!;
    return crc32(this.arena.subarray(off, off + this.keyLen[id]!));
  }

  private rehash(): void {
    const size = this.slots.length * 2;
    const slots = new Int32Array(size);
    const mask = size - 1;
    for (let id = 0; id < this.count; id++) {
      let i = this.hashAt(id) & mask;
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = id + 1;
    }
    this.slots = slots;
    this.mask = mask;
  }

  private keyEquals(id: number, key: Buffer): boolean {
    const len = this.keyLen[id]!;
    if (len !== key.length) return false;
    const off = this.keyOff[id]!;
    const arena = this.arena;
    for (let i = 0; i < len; i++) if (arena[off + i] !== key[i]) return false;
    return true;
  }

  /** The entry id for `key`, or -1. */
  find(key: Buffer): number {
    let i = crc32(key) & this.mask;
    for (;;) {
      const s = this.slots[i]!;
      if (s === EMPTY) return -1;
      if (this.keyEquals(s - 1, key)) return s - 1;
      i = (i + 1) & this.mask;
    }
  }

  get(key: Buffer): IndexEntry | undefined {
    const id = this.find(key);
    return id < 0 ? undefined : this.entry(id);
  }

  entry(id: number): IndexEntry {
    return {
      slot: id,
      flags: this.flagsA[id]!,
      dataId: this.dataIdA[id]!,
      dataOffset: this.dataOffA[id]!,
      length: this.lengthA[id]!,
      crc: this.crcA[id]!,
      timestamp: this.tsA[id]!,
      idxId: this.idxIdA[id]!,
      idxOffset: this.idxOffA[id]!,
    };
  }

  key(id: number): Buffer {
    const off = this.keyOff[id]!;
    return Buffer.from(this.arena.subarray(off, off + this.keyLen[id]!));
  }

  /**
   * Inserts or replaces the entry of `key`. `known` skips the lookup when the caller has
   * just done it (the entry id, or -1 for absent).
   */
  set(key: Buffer, e: Omit<IndexEntry, 'slot'>, known?: number): number {
    let id = known ?? this.find(key);
    if (id < 0) {
      if ((this.count + 1) * 4 > this.slots.length * 3) this.rehash();
      this.ensureCapacity();
      id = this.count++;
      this.keyOff[id] = this.appendKey(key);
      this.keyLen[id] = key.length;
      let i = crc32(key) & this.mask;
      while (this.slots[i] !== EMPTY) i = (i + 1) & this.mask;
      this.slots[i] = id + 1;
    }
    this.flagsA[id] = e.flags;
    this.dataIdA[id] = e.dataId;
    this.dataOffA[id] = e.dataOffset;
    this.lengthA[id] = e.length;
    this.crcA[id] = e.crc;
    this.tsA[id] = e.timestamp;
    this.idxIdA[id] = e.idxId;
    this.idxOffA[id] = e.idxOffset;
    return id;
  }

  /** Ids of every entry, in insertion order (for KSCAN). */
  *ids(): Generator<number> {
    for (let id = 0; id < this.count; id++) yield id;
  }
}
