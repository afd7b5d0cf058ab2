// setupFiles entry of the `cluster` project: points child processes at the shared control plane and, when a test
// fails, names the log directory and tells the global teardown to keep it.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, inject } from 'vitest';

const logsDir = inject('clusterLogsDir');
process.env.KUBECONFIG = inject('kubeconfig');
// The project's own settings for the harness (e.g. the real-node project's in-cluster operator and images).
Object.assign(process.env, inject('e2eEnv'));

beforeEach(({ task, onTestFailed }) => {
  onTestFailed(() => {
    appendFileSync(join(logsDir, 'TESTS-FAILED'), `${task.file?.name ?? ''} > ${task.name}\n`);
    console.error(`[cluster] "${task.name}" failed; control-plane and node logs: ${logsDir}`);
  });
});
