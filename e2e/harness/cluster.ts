// What a `*.cluster.test.ts` file uses: the shared control plane's kubeconfig, kubectl, and a fresh namespace.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { type Kubectl, makeKubectl } from './kubectl.ts';
import { waitFor } from './wait.ts';

export interface Cluster {
  kubeconfigPath: string;
  kubectl: Kubectl;
  logsDir: string;
  /** Local directory root of PersistentVolumeClaims on the local node (`<pvcRoot>/<claim>`). */
  pvcRoot: string;
  nodeName: string;
}

export function cluster(): Cluster {
  const kubeconfigPath = inject('kubeconfig');
  return {
    kubeconfigPath,
    kubectl: makeKubectl(inject('kubectlPath'), kubeconfigPath),
    logsDir: inject('clusterLogsDir'),
    pvcRoot: inject('pvcRoot'),
    nodeName: inject('nodeName'),
  };
}

/** Creates a namespace named `<prefix>-<random>` and returns its name; tests delete it in afterAll. */
export async function createNamespace(kubectl: Kubectl, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  const labels = Object.entries(inject('namespaceLabels') ?? {}).map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) await kubectl(['label', 'namespace', name, ...labels]);
  // The API server refuses pods in a namespace until the service-account controller has made `default` there.
  await waitFor(`service account default in ${name}`, async () => {
    await kubectl(['get', 'serviceaccount', 'default', '-n', name]);
    return true;
  });
  return name;
}
