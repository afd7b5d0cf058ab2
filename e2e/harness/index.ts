export { type Cluster, cluster, createNamespace } from './cluster.ts';
export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './control-plane.ts';
export { type Kubectl, KubectlError, makeKubectl } from './kubectl.ts';
export { createLocalClaim } from './volumes.ts';
export { waitFor } from './wait.ts';
