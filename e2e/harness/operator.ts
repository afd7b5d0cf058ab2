// The operator as the e2e suite runs it: `node operator/src/main.ts` as a child process against the shared control
// plane, its JSON log in <logsDir>/operator-<n>.log, metrics and health on ports picked at run time. kill() is the
// SIGKILL of a crashed pod; stop() the SIGTERM of a rolling update.
import { spawnSync } from 'node:child_process';
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

/**
 * Node's compile cache for the operator, filled before the first start as the image fills it at build time
 * (Dockerfile), so that memory and start-up measured here match a deployment: no type stripper loaded.
 */
const compileCache = process.env.NODE_COMPILE_CACHE ?? join(repoRoot, 'node_modules/.cache/lota-operator-compile');
let compileCacheFilled = false;
/** The image's `node` flags (its ENTRYPOINT), so that memory measured here matches a deployment. */
const NODE_FLAGS = ['--optimize-for-size'];
function fillCompileCache(node: string, entry: string): void {
  if (compileCacheFilled) return;
  // Its outcome does not matter here: an entry that cannot even load fails at its start below, with its log.
  spawnSync(node, [...NODE_FLAGS, entry, '--help'], {
    env: { ...process.env, NODE_COMPILE_CACHE: compileCache },
    stdio: 'ignore',
  });
  compileCacheFilled = true;
}

export interface OperatorOptions {
  kubeconfigPath: string;
  logsDir: string;
  namespaces: string[];
  extraArgs?: string[];
}

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  if (process.env.LOTA_E2E_OPERATOR === 'in-cluster') return inClusterOperator(opts);
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const node = join(repoRoot, 'node_modules/.bin/node');
  // LOTA_E2E_OPERATOR_ENTRY runs another build of the operator against the same suite (e.g. a deliberately broken
  // copy, to see the suite catch it).
  const entry = process.env.LOTA_E2E_OPERATOR_ENTRY ?? join(repoRoot, 'operator/src/main.ts');
  fillCompileCache(node, entry);
  const component = startComponent(
    `operator-${++started}`,
    node,
    [
      ...NODE_FLAGS,
      entry,
      `--kubeconfig=${opts.kubeconfigPath}`,
      `--namespaces=${opts.namespaces.join(',')}`,
      `--trainer-image=${TRAINER_IMAGE_REF}`,
      `--metrics-port=${metricsPort}`,
      `--health-port=${healthPort}`,
      '--leader-elect=false',
      '--progress-interval=1',
      ...(opts.extraArgs ?? []),
    ],
    // The operator image's NODE_OPTIONS (see Dockerfile), so memory figures measured here match a deployment;
    // LOTA_E2E_OPERATOR_NODE_OPTIONS adds to them (e.g. `--cpu-prof --cpu-prof-dir=...` to profile a bench run).
    {
      logsDir: opts.logsDir,
      cwd: repoRoot,
      env: {
        ...process.env,
        NODE_COMPILE_CACHE: compileCache,
        NODE_OPTIONS: ['--max-semi-space-size=2', process.env.LOTA_E2E_OPERATOR_NODE_OPTIONS ?? ''].join(' ').trim(),
      },
    },
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

/**
 * LOTA_E2E_OPERATOR=in-cluster (e2e/kind/run.sh): the operator is the Helm release's Deployment in lota-system.
 * "Starting" waits for its rollout and port-forwards its metrics port; kill() force-deletes its pod (grace 0, as a
 * node crash would), stop() ends the port-forward only.
 */
async function inClusterOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const { makeKubectl } = await import('./kubectl.ts');
  const kubectl = makeKubectl(process.env.LOTA_E2E_KUBECTL ?? 'kubectl', opts.kubeconfigPath);
  const ns = process.env.LOTA_E2E_OPERATOR_NAMESPACE ?? 'lota-system';
  const selector = 'app.kubernetes.io/name=lota-operator';
  const deployment = (await kubectl(['get', 'deploy', '-n', ns, '-l', selector, '-o', 'name'])).trim().split('\n')[0];
  if (!deployment) throw new Error(`no operator Deployment (${selector}) in namespace ${ns}`);
  await kubectl(['rollout', 'status', '-n', ns, deployment, '--timeout=180s'], { timeoutMs: 200_000 });
  const metricsPort = await freePort();
  const forward = startComponent(
    `operator-port-forward-${++started}`,
    process.env.LOTA_E2E_KUBECTL ?? 'kubectl',
    ['--kubeconfig', opts.kubeconfigPath, 'port-forward', '-n', ns, deployment, `${metricsPort}:metrics`],
    { logsDir: opts.logsDir },
  );
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  await waitUntil('operator metrics through port-forward', async () => (await fetch(metricsUrl)).ok, {
    timeoutMs: 60_000,
    component: forward,
  });
  return {
    metricsUrl,
    healthUrl: '',
    logFile: forward.logFile,
    component: forward,
    stop: () => forward.stop(),
    kill: async () => {
      await forward.stop();
      await kubectl(['delete', 'pod', '-n', ns, '-l', selector, '--force', '--grace-period=0']);
    },
  };
}
