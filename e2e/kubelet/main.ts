// `node e2e/kubelet/main.ts [--no-operator]`: the real-node cluster of the `kubelet` e2e project for hands-on work
// (control plane, kubelet + containerd node, images, CRDs, the operator's Helm release), until Ctrl-C.
import { parseArgs } from 'node:util';
import { startRealCluster } from './real-cluster.ts';

const { values } = parseArgs({ options: { 'no-operator': { type: 'boolean' } } });
const real = await startRealCluster({ operator: !values['no-operator'] });
console.log(`control plane at ${real.cp.server}, node ${real.node.name}
  export KUBECONFIG=${real.cp.kubeconfigPath}
  kubectl:     ${real.cp.kubectlPath}
  containerd:  ctr --address ${real.node.containerdSocket} -n k8s.io
  logs:        ${real.cp.logsDir}
  pvc root:    ${real.pvcRoot}
Ctrl-C stops everything and removes ${real.cp.dir}.`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await real.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
