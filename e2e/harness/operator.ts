// The operator as the e2e suite runs it: `node operator/src/main.ts` as a child process against the shared control
// plane, its JSON log in <logsDir>/operator-<n>.log, metrics and health on ports picked at run time. kill() is the
// SIGKILL of a crashed pod; stop() the SIGTERM of a rolling update.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Component, startComponent, waitUntil } from './component.ts';
import { freePort } from './ports.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const TRAINER_IMAGE_REF = 'ghcr.io/lota-operator/lota-trainer:0.1.0';

export interface RunningOperator {
  metricsUrl: string;
  healthUrl: string;
  logFile: string;
  component: Component;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

let started = 0;

export async function startOperator(opts: {
  kubeconfigPath: string;
  logsDir: string;
  namespaces: string[];
  extraArgs?: string[];
}): Promise<RunningOperator> {
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const component = startComponent(
    `operator-${++started}`,
    join(repoRoot, 'node_modules/.bin/node'),
    [
      join(repoRoot, 'operator/src/main.ts'),
      `--kubeconfig=${opts.kubeconfigPath}`,
      `--namespaces=${opts.namespaces.join(',')}`,
      `--trainer-image=${TRAINER_IMAGE_REF}`,
      `--metrics-port=${metricsPort}`,
      `--health-port=${healthPort}`,
      '--leader-elect=false',
      '--progress-interval=1',
      ...(opts.extraArgs ?? []),
    ],
    { logsDir: opts.logsDir, cwd: repoRoot },
  );
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  await waitUntil('operator /readyz', async () => (await fetch(`${healthUrl}/readyz`)).ok, {
    timeoutMs: 60_000,
    component,
  });
  return {
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    healthUrl,
    logFile: component.logFile,
    component,
    stop: () => component.stop(10_000),
    kill: async () => {
      component.process.kill('SIGKILL');
      await component.exited;
    },
  };
}
