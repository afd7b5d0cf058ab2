import { defineConfig } from 'vitest/config';

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
          exclude: ['**/node_modules/**', '**/*.cluster.test.ts'],
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
    ],
  },
});
