/** Public surface of src/node: the node agent, its message API and deployment format. See docs/node-api.md. */
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
  type WorkloadRuntime,
} from './deployment-engine.ts';
export {
  type DeploymentChange,
  DeploymentStore,
  type StoredDeployment,
} from './deployment-store.ts';
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
export { KIND_RUNTIMES, WORKLOAD_KINDS, type WorkloadKind } from './workload-kinds.ts';
