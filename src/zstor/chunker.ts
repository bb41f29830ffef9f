/*
 * Cuts a stream of byte pieces of any sizes into chunks of exactly `size` bytes (the last
 * one shorter, and none for an empty stream). Holds at most one chunk plus one incoming
 * piece, so memory does not grow with the object.
 */

/**
 * With `ring` > 0 the chunks are `ring` buffers used in turn: a chunk's bytes are
 * overwritten `ring` chunks later, so the consumer must be done with each chunk by then.
 * Reusing buffers avoids touching fresh memory for every chunk, which costs more than the
 * copy itself where page faults are expensive (VMs). With 0 every chunk is a new buffer.
 */
export async function* rechunk(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  size: number,
  ring = 0,
): AsyncGenerator<Buffer> {
  const buffers: Buffer[] = [];
  let turn = 0;
  const next = () => {
    if (ring === 0) return Buffer.allocUnsafe(size);
    const at = turn++ % ring;
    buffers[at] ??= Buffer.allocUnsafe(size);
    return buffers[at];
  };
  let buffer = next();
  let filled = 0;
  for await (const piece of source) {
    let at = 0;
    while (at < piece.length) {
      const take = Math.min(size - filled, piece.length - at);
      buffer.set(piece.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === size) {
        yield buffer;
        buffer = next();
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}
