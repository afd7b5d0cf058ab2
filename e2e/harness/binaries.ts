import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { tool } from '../../scripts/toolchain.ts';

export const CONTROL_PLANE_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
];

/** The directory holding the binaries built by e2e/controlplane/build-binaries.sh (LOTA_K8S_BIN). */
export function binDir(): string {
  const dir = tool('LOTA_K8S_BIN');
  for (const name of CONTROL_PLANE_BINARIES) {
    try {
      accessSync(join(dir, name), constants.X_OK);
    } catch {
      throw new Error(`${join(dir, name)} is missing or not executable: run 'bash e2e/controlplane/build-binaries.sh'`);
    }
  }
  return dir;
}
