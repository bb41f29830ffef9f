/** Public surface of src/grid: the local grid of `vdc up` (and, later, the test harness of namespaces). */
export { type GridStatus, gridDir, gridDown, gridStatus, gridUp } from './local-grid.ts';
