// vitest globalSetup of the `cluster` project: ONE control plane (etcd, API server, controller-manager, scheduler)
// for the whole run, with the project's CRDs installed. Tests reach it through `inject('kubeconfig')` (see
// cluster.ts). When a test fails, setup-file.ts leaves a marker and the component logs are kept and pointed to.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startControlPlane } from './control-plane.ts';
import type { Kubectl } from './kubectl.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectlPath: string;
    clusterLogsDir: string;
    /** Local directories of PersistentVolumeClaims on the local node: `<pvcRoot>/<claim>`. */
    pvcRoot: string;
    nodeName: string;
    /** Labels every test namespace gets (the real-node project enforces the `restricted` Pod Security Standard). */
    namespaceLabels: Record<string, string>;
    /** Environment for the test workers of this project (LOTA_E2E_OPERATOR=in-cluster, images, ...). */
    e2eEnv: Record<string, string>;
  }
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const FAILED_MARKER = 'TESTS-FAILED';

/** Applies crds/*.yaml and waits until every CRD is Established. */
export async function installCrds(kubectl: Kubectl): Promise<void> {
  const crdDir = join(repoRoot, 'crds');
  const crds = existsSync(crdDir) ? readdirSync(crdDir).filter((f) => /\.ya?ml$/.test(f)) : [];
  if (crds.length === 0) return;
  await kubectl(['apply', '--server-side', ...crds.flatMap((f) => ['-f', join(crdDir, f)])]);
  await kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.LOTA_E2E_KUBECONFIG;
  if (external) return useExternalCluster(project, external);
  const started = Date.now();
  const cp = await startControlPlane({ node: true });
  try {
    await installCrds(cp.kubectl);
  } catch (err) {
    await cp.stop({ keepLogs: true });
    throw new Error(`installing crds/ failed (logs in ${cp.logsDir}): ${(err as Error).message}`);
  }
  console.log(`[cluster] control plane at ${cp.server} ready in ${Date.now() - started} ms; logs in ${cp.logsDir}`);
  project.provide('kubeconfig', cp.kubeconfigPath);
  project.provide('kubectlPath', cp.kubectlPath);
  project.provide('clusterLogsDir', cp.logsDir);
  project.provide('pvcRoot', cp.pvcRoot ?? '');
  project.provide('nodeName', cp.nodeName ?? '');
  project.provide('namespaceLabels', {});
  project.provide('e2eEnv', {});
  process.env.KUBECONFIG = cp.kubeconfigPath;
  return async () => {
    const failed = existsSync(join(cp.logsDir, FAILED_MARKER));
    const keep = failed || process.env.LOTA_KEEP_CLUSTER_LOGS === '1';
    await cp.stop({ keepLogs: keep });
    if (failed) console.log(`[cluster] a test failed: control-plane logs kept in ${cp.logsDir}`);
    else if (keep) console.log(`[cluster] logs kept (LOTA_KEEP_CLUSTER_LOGS=1) in ${cp.logsDir}`);
  };
}

/**
 * LOTA_E2E_KUBECONFIG: run against a cluster someone else made (e2e/kind/run.sh), with the CRDs and operator that
 * were installed there. No local node: the cluster's own nodes run the real images; PersistentVolumes are hostPath
 * directories under LOTA_E2E_PVC_ROOT, shared with the node(s).
 */
async function useExternalCluster(project: TestProject, kubeconfig: string): Promise<() => Promise<void>> {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const pvcRoot = process.env.LOTA_E2E_PVC_ROOT;
  if (!pvcRoot) throw new Error('LOTA_E2E_KUBECONFIG is set but LOTA_E2E_PVC_ROOT (the hostPath volume root) is not');
  const logsDir = await mkdtemp(join(tmpdir(), 'lota-e2e-logs-'));
  project.provide('kubeconfig', kubeconfig);
  project.provide('kubectlPath', process.env.LOTA_E2E_KUBECTL ?? 'kubectl');
  project.provide('clusterLogsDir', logsDir);
  project.provide('pvcRoot', pvcRoot);
  project.provide('nodeName', '');
  project.provide('namespaceLabels', {});
  project.provide('e2eEnv', {});
  process.env.KUBECONFIG = kubeconfig;
  console.log(`[cluster] using the external cluster of ${kubeconfig}; logs in ${logsDir}`);
  return async () => {};
}
