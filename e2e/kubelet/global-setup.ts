// vitest globalSetup of the `kubelet` project: the e2e flows on a REAL node (e2e/kubelet/real-cluster.ts): kubelet,
// containerd, runc and kube-proxy, the images of scripts/build-images.sh, the operator from `helm install` of
// charts/lota-operator. Test namespaces are labelled for the `restricted` Pod Security Standard, which the API
// server's PodSecurity admission plugin enforces.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { FAILED_MARKER } from '../harness/global-setup.ts';
import { OPERATOR_NAMESPACE, RESTRICTED, startRealCluster } from './real-cluster.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const real = await startRealCluster();
  const { cp, images } = real;
  console.log(
    `[kubelet] control plane at ${cp.server}, node ${real.node.name} (kubelet + containerd) and the operator's Helm release ready in ${Date.now() - started} ms; logs in ${cp.logsDir}`,
  );
  project.provide('kubeconfig', cp.kubeconfigPath);
  project.provide('kubectlPath', cp.kubectlPath);
  project.provide('clusterLogsDir', cp.logsDir);
  project.provide('pvcRoot', real.pvcRoot);
  project.provide('nodeName', real.node.name);
  project.provide('namespaceLabels', RESTRICTED);
  project.provide('e2eEnv', {
    LOTA_E2E_OPERATOR: 'in-cluster',
    LOTA_E2E_OPERATOR_NAMESPACE: OPERATOR_NAMESPACE,
    LOTA_E2E_KUBECTL: cp.kubectlPath,
    LOTA_E2E_OPERATOR_IMAGE: images.operator.ref,
    LOTA_E2E_TRAINER_IMAGE: images.trainer.ref,
    LOTA_E2E_FLAKY_IMAGE: images.flaky.ref,
  });
  return async () => {
    const failed = existsSync(join(cp.logsDir, FAILED_MARKER));
    const keep = failed || process.env.LOTA_KEEP_CLUSTER_LOGS === '1';
    await real.stop({ keepLogs: keep });
    if (failed) console.log(`[kubelet] a test failed: control-plane and node logs kept in ${cp.logsDir}`);
    else if (keep) console.log(`[kubelet] logs kept (LOTA_KEEP_CLUSTER_LOGS=1) in ${cp.logsDir}`);
  };
}
