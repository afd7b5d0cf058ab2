// A harness control plane with one real node (kubelet + containerd, e2e/kubelet/node.ts), the built images
// imported, the CRDs installed and, optionally, the operator installed by `helm install` of charts/lota-operator
// with the built operator image. The API server listens on the host's address: pods reach it through the
// `kubernetes` Service (kube-proxy), as on any cluster.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tool } from '../../scripts/toolchain.ts';
import { type ControlPlane, startControlPlane } from '../harness/control-plane.ts';
import { installCrds } from '../harness/global-setup.ts';
import { type Kubectl, makeKubectl } from '../harness/kubectl.ts';
import { realNodeUnavailable } from './host.ts';
import { lockRealNode } from './host-lock.ts';
import { type KubeletNode, startKubeletNode } from './node.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const OPERATOR_NAMESPACE = 'lota-system';
export const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted' };

export interface BuiltImage {
  ref: string;
  archive: string;
}

export interface RealCluster {
  cp: ControlPlane;
  node: KubeletNode;
  kubectl: Kubectl;
  images: { operator: BuiltImage; trainer: BuiltImage; flaky: BuiltImage; pause: BuiltImage };
  pvcRoot: string;
  stop(opts?: { keepLogs?: boolean }): Promise<void>;
}

/** The host's first non-loopback IPv4 address outside container bridges: where pods reach the API server. */
export function hostAddress(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (/^(lo|lota|cni|podman|docker|veth|br-)/.test(name)) continue;
    const v4 = addrs?.find((a) => a.family === 'IPv4' && !a.internal);
    if (v4) return v4.address;
  }
  throw new Error('no non-loopback IPv4 address on this host: the real node needs one for the API server');
}

/** An image of scripts/build-images.sh, as recorded in .lota/env (LOTA_<NAME>_IMAGE, LOTA_<NAME>_ARCHIVE). */
function builtImage(name: string): BuiltImage {
  const ref = tool(`LOTA_${name}_IMAGE`);
  const archive = tool(`LOTA_${name}_ARCHIVE`);
  if (!existsSync(archive)) throw new Error(`${archive} is missing: run 'bash scripts/build-images.sh'`);
  return { ref, archive };
}

export async function startRealCluster(opts: { operator?: boolean } = {}): Promise<RealCluster> {
  const unavailable = realNodeUnavailable();
  if (unavailable) throw new Error(`the real-node e2e cannot run here: ${unavailable}`);
  const images = {
    operator: builtImage('OPERATOR'),
    trainer: builtImage('TRAINER'),
    flaky: builtImage('FLAKY_TRAINER'),
    pause: builtImage('PAUSE'),
  };
  const address = hostAddress();
  const lock = await lockRealNode({
    timeoutSeconds: 1200,
    onWait: () => console.log('[kubelet] another real-node run is active on this machine: waiting for it'),
  });
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({ address, kubelets: true });
  } catch (err) {
    await lock.release();
    throw err;
  }
  const kubectl = makeKubectl(cp.kubectlPath, cp.kubeconfigPath);
  let node: KubeletNode | undefined;
  const stop = async (stopOpts: { keepLogs?: boolean } = {}) => {
    try {
      await node?.stop();
      await cp.stop(stopOpts);
    } finally {
      await lock.release();
    }
  };
  try {
    node = await startKubeletNode({
      dir: join(cp.dir, 'node'),
      logsDir: cp.logsDir,
      server: cp.server,
      pki: cp.pki,
      kubectl,
      nodeIp: address,
      binDir: tool('LOTA_K8S_NODE_BIN'),
      images: Object.values(images).map((i) => i.archive),
      pauseImage: images.pause.ref,
    });
    await installCrds(kubectl);
    if (opts.operator ?? true) await helmInstallOperator(cp, kubectl, images);
  } catch (err) {
    await stop({ keepLogs: true });
    throw new Error(`the real node failed to start (logs in ${cp.logsDir}): ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { cp, node, kubectl, images, pvcRoot: join(cp.dir, 'pvc'), stop };
}

async function helmInstallOperator(cp: ControlPlane, kubectl: Kubectl, images: RealCluster['images']): Promise<void> {
  await kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
  await kubectl(['label', 'namespace', OPERATOR_NAMESPACE, ...Object.entries(RESTRICTED).map(([k, v]) => `${k}=${v}`)]);
  const [repository, tag] = images.operator.ref.split(/:(?=[^:/]+$)/) as [string, string];
  const args = ['install', 'lota', join(repoRoot, 'charts/lota-operator'), '--kubeconfig', cp.kubeconfigPath];
  args.push('--namespace', OPERATOR_NAMESPACE, '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`);
  args.push('--set', `trainer.image=${images.trainer.ref}`, '--wait', '--timeout=5m');
  await run(tool('LOTA_HELM'), args, { timeout: 330_000 }).catch((err) => {
    throw new Error(`helm install failed: ${(err as { stderr?: string }).stderr ?? err}`);
  });
}
