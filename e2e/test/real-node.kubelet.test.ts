// What only a real node can show (the `kubelet` project, e2e/kubelet/): the operator and the trainer run from the
// built images as non-root users with read-only root file systems, under the `restricted` Pod Security Standard —
// asserted from the pod specs and from inside the containers.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyBaseModel } from '../fixtures/tiny-base.ts';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { createLocalClaim } from '../harness/volumes.ts';
import { waitFor } from '../harness/wait.ts';

const { kubectl, pvcRoot } = cluster();
const operatorNs = process.env.LOTA_E2E_OPERATOR_NAMESPACE ?? 'lota-system';
let ns = '';

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    securityContext?: Record<string, unknown>;
    containers: {
      name: string;
      image: string;
      command?: string[];
      args?: string[];
      securityContext?: Record<string, unknown>;
    }[];
    [key: string]: unknown;
  };
  status?: { phase?: string; containerStatuses?: { state?: { terminated?: { exitCode: number } } }[] };
}

beforeAll(async () => {
  ns = await createNamespace(kubectl, 'realnode');
  const models = await createLocalClaim(kubectl, { namespace: ns, claim: 'models', pvcRoot });
  await createLocalClaim(kubectl, { namespace: ns, claim: 'datasets', pvcRoot });
  await writeTinyBaseModel(join(models, 'base'));
});
afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await kubectl(['delete', 'pv', `${ns}-models`, `${ns}-datasets`, '--wait=false']);
});

async function exec(namespace: string, pod: string, script: string): Promise<string> {
  return kubectl(['exec', '-n', namespace, pod, '--', 'sh', '-c', script]);
}

describe('on a real node (kubelet + containerd + runc)', () => {
  it('the namespaces enforce the restricted Pod Security Standard: a root pod is refused', async () => {
    const labels = JSON.parse(await kubectl(['get', 'namespace', ns, '-o', 'jsonpath={.metadata.labels}']));
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const root = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'root', namespace: ns },
      spec: {
        containers: [{ name: 'c', image: process.env.LOTA_E2E_TRAINER_IMAGE, securityContext: { runAsUser: 0 } }],
      },
    };
    await expect(kubectl(['apply', '-f', '-'], { input: JSON.stringify(root) })).rejects.toThrow(
      /violates PodSecurity "restricted/,
    );
  });

  it('the operator (helm install, built image) runs as non-root with a read-only root file system', async () => {
    const pods = JSON.parse(
      await kubectl(['get', 'pods', '-n', operatorNs, '-l', 'app.kubernetes.io/name=lota-operator', '-o', 'json']),
    ) as { items: Pod[] };
    const pod = pods.items.find((p) => p.status?.phase === 'Running');
    expect(pod, 'a running operator pod').toBeDefined();
    const container = pod?.spec.containers[0];
    expect(container?.image).toBe(process.env.LOTA_E2E_OPERATOR_IMAGE);
    expect(pod?.spec.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(container?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    const name = pod?.metadata.name as string;
    expect((await exec(operatorNs, name, 'id -u')).trim()).not.toBe('0');
    await expect(exec(operatorNs, name, 'echo x > /probe')).rejects.toThrow(/Read-only file system/);
  });

  it("the trainer image under the operator's pod spec: non-root, read-only root, writable /tmp and output volume", async () => {
    // A run that fails at once (no such dataset) gives a Job pod made by the operator without training anything.
    const spec = {
      baseModel: { uri: 'pvc://models/base' },
      dataset: { uri: 'pvc://datasets/none/train.jsonl', format: 'prompt-completion' },
      method: 'lota',
      lota: { sparsity: 0.9, calibration: { steps: 1 } },
      training: { maxSteps: 1, batchSize: 1 },
      output: { uri: 'pvc://models/runs/probe' },
    };
    const manifest = {
      apiVersion: 'lota.dev/v1alpha1',
      kind: 'LotaAdaptation',
      metadata: { name: 'probe', namespace: ns },
      spec,
    };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    const jobPod = await waitFor(
      'the probe Job pod terminated',
      async () => {
        const pods = JSON.parse(await kubectl(['get', 'pods', '-n', ns, '-l', 'job-name', '-o', 'json'])) as {
          items: Pod[];
        };
        return pods.items.find((p) => p.status?.containerStatuses?.[0]?.state?.terminated);
      },
      { timeoutMs: 180_000 },
    );
    // The trainer itself ran in the image and classified the error as permanent (exit 11, the contract's code).
    expect(jobPod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(11);
    const container = jobPod.spec.containers[0];
    expect(container?.image).toBe(process.env.LOTA_E2E_TRAINER_IMAGE);
    expect(container?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });

    // The same pod spec with a shell instead of the trainer: what the trainer may and may not write.
    const probe = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'trainer-probe', namespace: ns },
      spec: {
        ...jobPod.spec,
        nodeName: undefined,
        restartPolicy: 'Never',
        containers: [
          {
            ...container,
            command: ['sh', '-c'],
            args: [
              'id -u; touch /probe 2>&1; touch /tmp/probe && echo tmp-writable; touch /mnt/pvc/models/probe && echo pvc-writable',
            ],
          },
        ],
      },
    };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(probe) });
    await waitFor('trainer-probe finished', async () => {
      const phase = await kubectl(['get', 'pod', 'trainer-probe', '-n', ns, '-o', 'jsonpath={.status.phase}']);
      return phase === 'Succeeded' || phase === 'Failed';
    });
    const lines = (await kubectl(['logs', '-n', ns, 'trainer-probe'])).trim().split('\n');
    expect(lines[0]).toBe('65532');
    expect(lines[1]).toMatch(/\/probe.*Read-only file system/);
    expect(lines.slice(2)).toEqual(['tmp-writable', 'pvc-writable']);
  });
});
