// The kube-apiserver stopped and started again while a phase runs (a control-plane upgrade, a crash). It runs on a
// control plane of its own, so that the restart disturbs no other test file.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNamespace } from '../harness/cluster.ts';
import { type ControlPlane, startControlPlane } from '../harness/control-plane.ts';
import { type RunningOperator, startOperator } from '../harness/operator.ts';
import { createLocalClaim } from '../harness/volumes.ts';
import { waitFor } from '../harness/wait.ts';
import { SCRIPTED_TRAINER_IMAGE } from '../node/images-default.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let cp: ControlPlane;
let operator: RunningOperator | undefined;
let failed = false;

beforeAll(async () => {
  cp = await startControlPlane({ node: true });
  const crdDir = join(repoRoot, 'crds');
  const crds = existsSync(crdDir) ? readdirSync(crdDir).filter((f) => /\.ya?ml$/.test(f)) : [];
  await cp.kubectl(['apply', '--server-side', ...crds.flatMap((f) => ['-f', join(crdDir, f)])]);
  await cp.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
});

afterAll(async () => {
  await operator?.stop();
  await cp?.stop({ keepLogs: failed });
  if (failed) console.log(`[cluster] restart test failed: logs kept in ${cp.logsDir}`);
});

interface Obj {
  metadata: { name: string; uid: string; ownerReferences?: { uid: string }[] };
  status?: { phase?: string; active?: number };
}

it('a phase survives a kube-apiserver restart: the run succeeds, no duplicate Job', async ({ onTestFailed }) => {
  onTestFailed(() => {
    failed = true;
  });
  const { kubectl } = cp;
  const ns = await createNamespace(kubectl, 'restart');
  for (const claim of ['models', 'datasets'])
    await createLocalClaim(kubectl, { namespace: ns, claim, pvcRoot: cp.pvcRoot ?? '' });
  operator = await startOperator({ kubeconfigPath: cp.kubeconfigPath, logsDir: cp.logsDir, namespaces: [ns] });
  const get = async (r: string): Promise<Obj> => JSON.parse(await kubectl(['get', '-n', ns, r, '-o', 'json']));
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'lota.dev/v1alpha1',
      kind: 'LotaAdaptation',
      metadata: { name: 'steady', namespace: ns },
      spec: {
        baseModel: { uri: 'pvc://models/base' },
        dataset: { uri: 'pvc://datasets/a.jsonl', format: 'prompt-completion' },
        lota: { sparsity: 0.9 },
        output: { uri: 'pvc://models/runs/steady' },
        trainer: { image: SCRIPTED_TRAINER_IMAGE, env: [{ name: 'SCRIPTED_RUN_MS', value: '8000' }] },
      },
    }),
  });
  const calibrate = await waitFor(
    'steady-calibrate running',
    async () => {
      const j = await get('job/steady-calibrate').catch(() => undefined);
      return j?.status?.active ? j : undefined;
    },
    { timeoutMs: 90_000 },
  );
  await cp.restartApiServer();
  const done = await waitFor(
    'steady Succeeded or Failed',
    async () => {
      const o = await get('lotaadaptation/steady');
      return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
    },
    { timeoutMs: 180_000 },
  );
  expect(done.status?.phase).toBe('Succeeded');
  const jobs = (JSON.parse(await kubectl(['get', 'jobs', '-n', ns, '-o', 'json'])) as { items: Obj[] }).items;
  expect(jobs.map((j) => j.metadata.name).sort()).toEqual(['steady-calibrate', 'steady-train']);
  expect(jobs.find((j) => j.metadata.name === 'steady-calibrate')?.metadata.uid).toBe(calibrate.metadata.uid);
});
