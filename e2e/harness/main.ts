// `node e2e/harness/main.ts [--no-node]`: a local control plane (and local node) for hands-on work, until Ctrl-C.
// Prints the kubeconfig path; `export KUBECONFIG=...` and use kubectl, the operator, `lota-trainer` as usual.
import { parseArgs } from 'node:util';
import { startControlPlane } from './control-plane.ts';

const { values } = parseArgs({ options: { 'no-node': { type: 'boolean' }, crds: { type: 'boolean' } } });
const cp = await startControlPlane({ node: !values['no-node'] });
if (values.crds) await cp.kubectl(['apply', '--server-side', '-f', 'crds/']);
console.log(`control plane at ${cp.server}
  export KUBECONFIG=${cp.kubeconfigPath}
  kubectl:   ${cp.kubectlPath}
  logs:      ${cp.logsDir}${cp.pvcRoot ? `\n  pvc root:  ${cp.pvcRoot}` : ''}
Ctrl-C stops everything and removes ${cp.dir}.`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await cp.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
