// PersistentVolumeClaims for tests: a PersistentVolume whose hostPath is a local directory, pre-bound to a claim of
// the same name; the real PV controller binds them, the scheduler sees a bound claim, the local node mounts the
// directory. Returns the local directory (what a test inspects for artifacts).
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Kubectl } from './kubectl.ts';
import { waitFor } from './wait.ts';

export async function createLocalClaim(
  kubectl: Kubectl,
  opts: { namespace: string; claim: string; pvcRoot: string; size?: string },
): Promise<string> {
  const dir = join(opts.pvcRoot, opts.namespace, opts.claim);
  mkdirSync(dir, { recursive: true });
  // Pods run as non-root users on real nodes (the trainer as 65532): the volume must be writable for them.
  chmodSync(dir, 0o777);
  const pvName = `${opts.namespace}-${opts.claim}`;
  const size = opts.size ?? '1Gi';
  const manifests = [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: pvName, labels: { 'lota.dev/e2e-namespace': opts.namespace } },
      spec: {
        capacity: { storage: size },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        hostPath: { path: dir, type: 'Directory' },
        claimRef: { namespace: opts.namespace, name: opts.claim },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: opts.claim, namespace: opts.namespace },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        volumeName: pvName,
        resources: { requests: { storage: size } },
      },
    },
  ];
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }) });
  await waitFor(`claim ${opts.namespace}/${opts.claim} Bound`, async () => {
    const phase = await kubectl(['get', 'pvc', opts.claim, '-n', opts.namespace, '-o', 'jsonpath={.status.phase}']);
    return phase === 'Bound';
  });
  return dir;
}
