import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

const { kubectl } = cluster();
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(kubectl, 'smoke');
});
afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('the control plane', () => {
  it('serves the built-in namespaces through the real kubectl', async () => {
    const names = (await kubectl(['get', 'namespaces', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ');
    expect(names).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-node-lease', ns]));
  });

  it('runs the Job controller: a Job gets a Pod owned by it', async () => {
    await kubectl(['create', 'job', 'hello', '-n', ns, '--image=busybox', '--', 'sh', '-c', 'exit 0']);
    const jobUid = await kubectl(['get', 'job', 'hello', '-n', ns, '-o', 'jsonpath={.metadata.uid}']);
    const owner = await waitFor('a pod of job hello', async () => {
      const out = await kubectl(['get', 'pods', '-n', ns, '-l', 'job-name=hello', '-o', 'json']);
      const pods = JSON.parse(out).items as { metadata: { ownerReferences?: { uid: string; kind: string }[] } }[];
      return pods[0]?.metadata.ownerReferences?.[0];
    });
    expect(owner).toMatchObject({ kind: 'Job', uid: jobUid });
  });
});
