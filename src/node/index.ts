/** Public surface of src/node: the node agent, its message API and deployment format. See docs/node-api.md. */

export { type CgroupLayout, detectCgroupLayout } from './cgroup-layout.ts';
export { ContainerRuntime, type ContainerRuntimeOptions } from './container-runtime.ts';
export { checkDeployment } from './deployment-checks.ts';
export {
  type Deployment,
  type DeploymentSignature,
  deploymentHash,
  MAX_WORKLOADS,
  newSalt,
  parseDeployment,
  signDeployment,
  type UnsignedDeployment,
  type Workload,
} from './deployment-document.ts';
export {
  DeploymentEngine,
  type DeploymentState,
  type DeploymentView,
  type RuntimeStatus,
  type WorkloadRuntime,
} from './deployment-engine.ts';
export {
  type DeploymentChange,
  DeploymentStore,
  type StoredDeployment,
} from './deployment-store.ts';
export {
  DEFAULT_ENSURE_OPTIONS,
  type EnsureOptions,
  ImageCache,
  type ImageRef,
} from './image-cache.ts';
export { type FetchProgress, MAX_REDIRECTS } from './image-fetch.ts';
export type { ManifestEntry } from './image-manifest.ts';
export { type IdBase, MAX_ID_BASE } from './image-materialize.ts';
export { DEFAULT_TAR_LIMITS, readTar, type TarEntry, type TarLimits } from './image-tar.ts';
export { MAX_IMAGE_ID, type UnpackResult, unpackImage } from './image-unpack.ts';
export {
  DEFAULT_FENCE_AFTER_MS,
  DEFAULT_REPORT_INTERVAL_MS,
  type NodeAgent,
  type NodeAgentOptions,
  startNodeAgent,
} from './node-agent.ts';
export { NODE_METHODS, type NodeMethod, nodeApi } from './node-api.ts';
export { type Capacity, readCapacity } from './node-capacity.ts';
export { readGrantFile, type SignedGrant } from './node-grant.ts';
export { loadNodeIdentity } from './node-key.ts';
export { type NodeRuntimesOptions, nodeRuntimes } from './node-runtimes.ts';
// Sealed secrets and the owner's copy of a deployment (docs/deploy.md).
export {
  MAX_OWNER_COPY_BYTES,
  type OwnerCopy,
  type OwnerCopyTarget,
  openForOwner,
  sealForOwner,
} from './owner-copy.ts';
export {
  MAX_SECRET_BYTES,
  openSecret,
  openWorkloadSecrets,
  type SecretContext,
  type SecretOpener,
  sealSecret,
  sealWorkloadSecrets,
} from './secret-seal.ts';
export { releaseClaimsUnder } from './uid-slots.ts';
export {
  checkWorkloadSpec,
  KIND_RUNTIMES,
  WORKLOAD_KINDS,
  type WorkloadKind,
} from './workload-kinds.ts';
