/*
 * The busybox image of the container tests: built by src/grid/busybox-image.ts, which the
 * demo VDC of `vdc up` uses too.
 */
export { type BuiltImage, buildBusyboxImage } from '../../src/grid/index.ts';
