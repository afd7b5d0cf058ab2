import { defineConfig } from 'vitest/config';
import { realNodeUnavailable } from './e2e/kubelet/host.ts';

// The real-node project (kubelet + containerd, real images) runs wherever the host can run containers; where it
// cannot, the reason is printed on every run.
const noRealNode = realNodeUnavailable();
if (noRealNode) console.log(`[kubelet] the real-node e2e project is not run: ${noRealNode}`);

export default defineConfig({
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'api/test/**/*.test.ts',
            'operator/test/**/*.test.ts',
            'trainer-image/test/**/*.test.ts',
            'e2e/test/**/*.test.ts',
            'charts/test/**/*.test.ts',
            'gitops/test/**/*.test.ts',
            'bench/science/test/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', '**/*.cluster.test.ts', '**/*.kubelet.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        // Tests against ONE real control plane (etcd, kube-apiserver, controller-manager, scheduler) started by
        // e2e/harness/global-setup.ts for the whole run; see docs/testing.md.
        test: {
          name: 'cluster',
          include: ['**/*.cluster.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['e2e/harness/global-setup.ts'],
          setupFiles: ['e2e/harness/setup-file.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
      ...(noRealNode
        ? []
        : [
            {
              // The e2e flows again on a real node: kubelet, containerd, runc, the built images, the Helm chart
              // (e2e/kubelet/global-setup.ts; docs/testing.md).
              test: {
                name: 'kubelet',
                include: ['e2e/test/operator.cluster.test.ts', 'e2e/test/*.kubelet.test.ts'],
                exclude: ['**/node_modules/**'],
                globalSetup: ['e2e/kubelet/global-setup.ts'],
                setupFiles: ['e2e/harness/setup-file.ts'],
                testTimeout: 600_000,
                hookTimeout: 300_000,
              },
            },
          ]),
    ],
  },
});
