/*
 * Keeps freed buffer memory in the process instead of handing it back to the kernel.
 *
 * Node allocates every Buffer above its small pool (socket reads, cipher and hash outputs,
 * reply frames) with malloc, and V8 frees them only at its next GC, in bulk. glibc serves
 * blocks from 128 KiB up with mmap and gives them back at once on free, and trims the top
 * of its heap beyond 128 KiB of free space: so the next allocation takes fresh pages from
 * the kernel, and on a VM each first touch of a page is a costly fault. Measured on the
 * bench VM (docs/zstor.md, "Speed"): a zstor put spent about a third of its CPU in page
 * faults and in Node's copies into fresh memory.
 *
 * glibc raises both limits by itself when a block it had mmapped is freed (mallopt(3),
 * "dynamic mmap threshold": the threshold becomes that block's size, the trim threshold
 * twice that). Allocating and freeing one 16 MiB block at start does exactly that, and
 * ArrayBuffer.transfer(0) frees it at once rather than at some later GC. The same effect as
 * MALLOC_MMAP_THRESHOLD_=16777216 MALLOC_TRIM_THRESHOLD_=33554432 in the environment, set
 * from inside. Elsewhere (musl, other allocators) it is one harmless allocation. The cost:
 * up to 32 MiB of freed memory stays with the process.
 */

/** Below glibc's 32 MiB cap for the dynamic threshold on 64-bit systems. */
const BLOCK_BYTES = 16 * 1024 * 1024;
let tuned = false;

/** Raises glibc's mmap and trim thresholds for this process (once; later calls do nothing). */
export function keepFreedMemory(): void {
  if (tuned) return;
  tuned = true;
  new ArrayBuffer(BLOCK_BYTES).transfer(0);
}
