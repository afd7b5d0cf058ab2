// The control plane both operator benches run on: started without a node, stopped on Ctrl-C or a timeout, with an
// unthrottled client and the API server's own metrics at hand.
import { KubeConfig } from '@kubernetes/client-node';
import { startControlPlane } from '../../e2e/harness/control-plane.ts';
import { KubeClient } from '../../operator/src/kube/client.ts';
import { parseProm, type Sample } from './measure.ts';

export async function startBenchCluster() {
  const cp = await startControlPlane({ node: false });
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void cp.stop().finally(() => process.exit(130)));
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  return {
    cp,
    kubectl: cp.kubectl,
    client: new KubeClient(kc, { qps: 0 }),
    repoRoot: new URL('../..', import.meta.url).pathname,
    /** The API server's /metrics, parsed. */
    apiMetrics: async (): Promise<Sample[]> => parseProm(await cp.kubectl(['get', '--raw', '/metrics'])),
  };
}
