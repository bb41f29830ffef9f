/** Public surface of src/grid: the local grid of `vdc up`, and the namespace grid of tests (docs/grid.md). */

export { type BuiltImage, buildBusyboxImage, fileSha256 } from './busybox-image.ts';
export { DEMO_NAME, getThroughGateway } from './demo-vdc.ts';
export { checkGridFolder } from './grid-folder.ts';
export { GRID_DOMAIN } from './grid-gateway.ts';
export { GridNode } from './grid-node.ts';
export { GridTwin } from './grid-twin.ts';
export {
  DEFAULT_NODES,
  type GridStatus,
  type GridUpOptions,
  type GridUpResult,
  gridDir,
  gridDown,
  gridStatus,
  gridUp,
  MAX_NODES,
} from './local-grid.ts';
export {
  type ListeningSocket,
  listeningTcp,
  listLinks,
  listNamespaces,
  namespacePids,
} from './netns.ts';
export {
  type GridNodeSpec,
  type GridTestContext,
  type NetnsGrid,
  type NetnsGridOptions,
  startNetnsGrid,
} from './netns-grid.ts';
export type { NetnsProcess } from './netns-process.ts';
export { type NetnsHost, NetnsRun } from './netns-run.ts';
export { sweepStaleRuns, teardownRun } from './run-teardown.ts';
