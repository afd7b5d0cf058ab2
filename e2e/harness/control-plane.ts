// A real Kubernetes control plane on loopback for tests: etcd, kube-apiserver and, optionally, the
// kube-controller-manager (Jobs, garbage collection, service accounts, PV binding, node lifecycle) and the
// kube-scheduler. Every port is picked at run time, certificates are made fresh, and everything lives in one
// temporary directory that stop() removes (the logs stay when asked to, for a failed run).

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageMapping } from '../node/images.ts';
import { defaultImages } from '../node/images-default.ts';
import type { LocalNodeOptions } from '../node/node.ts';
import { binDir } from './binaries.ts';
import { makePki, type Pki, writeKubeconfig } from './certs.ts';
import { type Component, startComponent, waitUntil } from './component.ts';
import { type Kubectl, makeKubectl } from './kubectl.ts';
import { freePort } from './ports.ts';

export interface ControlPlaneOptions {
  /** Start kube-controller-manager (default true). */
  controllerManager?: boolean;
  /** Start kube-scheduler (default true). */
  scheduler?: boolean;
  /** Where component logs go (default: `<run dir>/logs`). */
  logsDir?: string;
  /**
   * Start a local node (e2e/node) that runs the pods scheduled to it as local processes (default false). Its
   * PersistentVolumeClaims without a hostPath PV live under `<dir>/pvc/<claim>`.
   */
  node?: boolean | { images?: ImageMapping[]; capacity?: Record<string, string> };
  /** Milliseconds to wait for each component to become healthy (default 120 s: the machine may be busy). */
  startTimeoutMs?: number;
  /**
   * The address the API server listens on and advertises (default 127.0.0.1). A real node's pods reach the API
   * server through the `kubernetes` Service, whose endpoint is this address: it must not be loopback then.
   */
  address?: string;
  /**
   * For a real kubelet (e2e/kubelet): the Node authorizer before RBAC, so kubelets with `system:node:<name>`
   * certificates may register, and the API server's client certificate for the kubelet API (logs, exec).
   */
  kubelets?: boolean;
}

export interface ControlPlane {
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  kubectl: Kubectl;
  kubectlPath: string;
  binDir: string;
  logsDir: string;
  /** The run directory: certificates, etcd data, kubeconfig. */
  dir: string;
  components: Component[];
  /** Name of the local node, when started. */
  nodeName?: string;
  /** Root of local PVC directories (`<pvcRoot>/<claim>`), when the node is started. */
  pvcRoot?: string;
  /** The CA and certificates of this control plane (a real kubelet gets its client certificate from the CA). */
  pki: Pki;
  /** Stops every component (reverse start order) and removes the run directory; `keepLogs` keeps `logsDir`. */
  stop(opts?: { keepLogs?: boolean }): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_IP = '10.96.0.1';

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), 'lota-cp-'));
  const logsDir = opts.logsDir ?? join(dir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const components: Component[] = [];
  const stop = async (stopOpts: { keepLogs?: boolean } = {}) => {
    for (const c of [...components].reverse()) await c.stop();
    const logsInside = logsDir.startsWith(`${dir}/`);
    if (stopOpts.keepLogs && logsInside) {
      const entries = (await readdir(dir)).filter((e) => join(dir, e) !== logsDir);
      await Promise.all(entries.map((e) => rm(join(dir, e), { recursive: true, force: true })));
      return;
    }
    await rm(dir, { recursive: true, force: true });
    if (!stopOpts.keepLogs) await rm(logsDir, { recursive: true, force: true });
  };
  try {
    const address = opts.address ?? '127.0.0.1';
    const pki = await makePki(dir, { serviceIp: SERVICE_IP, extraIps: address === '127.0.0.1' ? [] : [address] });
    const [etcdClient, etcdPeer, apiPort, cmPort, schedPort] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const etcd = startComponent(
      'etcd',
      join(bin, 'etcd'),
      [
        `--data-dir=${join(dir, 'etcd')}`,
        '--name=lota-e2e',
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=lota-e2e=${peerUrl}`,
        // A throwaway store: skipping fsync is what envtest does too, and it spares the shared disk.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      { logsDir },
    );
    components.push(etcd);
    await waitUntil('etcd /health', async () => (await fetch(`${etcdUrl}/health`)).ok, {
      timeoutMs,
      component: etcd,
    });

    const server = `https://${address}:${apiPort}`;
    const apiserver = startComponent(
      'kube-apiserver',
      join(bin, 'kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${address}`,
        `--advertise-address=${address}`,
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCert}`,
        ...(opts.kubelets
          ? [
              '--authorization-mode=Node,RBAC',
              `--kubelet-client-certificate=${pki.adminCert}`,
              `--kubelet-client-key=${pki.adminKey}`,
              // The node's name does not resolve: reach the kubelet at the node's InternalIP.
              '--kubelet-preferred-address-types=InternalIP',
            ]
          : ['--authorization-mode=RBAC']),
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        '--allow-privileged=true',
        '--profiling=false',
      ],
      { logsDir },
    );
    components.push(apiserver);

    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeKubeconfig(kubeconfigPath, {
      server,
      caCert: pki.caCert,
      clientCert: pki.adminCert,
      clientKey: pki.adminKey,
    });
    const tls = {
      ca: await readFile(pki.caCert),
      cert: await readFile(pki.adminCert),
      key: await readFile(pki.adminKey),
    };
    await waitUntil('kube-apiserver /readyz', () => httpsOk(`${server}/readyz`, tls), {
      timeoutMs,
      component: apiserver,
    });

    const delegated = [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
    ];
    const waits: Promise<void>[] = [];
    if (opts.controllerManager ?? true) {
      const cm = startComponent(
        'kube-controller-manager',
        join(bin, 'kube-controller-manager'),
        [
          ...delegated,
          `--secure-port=${cmPort}`,
          `--service-account-private-key-file=${pki.serviceAccountKey}`,
          `--root-ca-file=${pki.caCert}`,
          `--cluster-signing-cert-file=${pki.caCert}`,
          `--cluster-signing-key-file=${pki.caKey}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
        ],
        { logsDir },
      );
      components.push(cm);
      waits.push(
        waitUntil('kube-controller-manager /healthz', () => httpsOk(`https://127.0.0.1:${cmPort}/healthz`, {}), {
          timeoutMs,
          component: cm,
        }),
      );
    }
    if (opts.scheduler ?? true) {
      const scheduler = startComponent(
        'kube-scheduler',
        join(bin, 'kube-scheduler'),
        [...delegated, `--secure-port=${schedPort}`],
        { logsDir },
      );
      components.push(scheduler);
      waits.push(
        waitUntil('kube-scheduler /healthz', () => httpsOk(`https://127.0.0.1:${schedPort}/healthz`, {}), {
          timeoutMs,
          component: scheduler,
        }),
      );
    }
    await Promise.all(waits);

    const kubectlPath = join(bin, 'kubectl');
    const kubectl = makeKubectl(kubectlPath, kubeconfigPath);
    if (opts.controllerManager ?? true) {
      // Pods cannot be created in a namespace until the service-account controller made its `default` account.
      await waitUntil(
        'the default service account',
        async () => {
          await kubectl(['get', 'serviceaccount', 'default', '-n', 'default']);
          return true;
        },
        { timeoutMs },
      );
    }
    let nodeName: string | undefined;
    let pvcRoot: string | undefined;
    if (opts.node) {
      const nodeOpts = opts.node === true ? {} : opts.node;
      nodeName = 'lota-local-node';
      pvcRoot = join(dir, 'pvc');
      const config: LocalNodeOptions = {
        kubeconfigPath,
        name: nodeName,
        workDir: join(dir, 'node'),
        logsDir,
        pvcRoot,
        images: nodeOpts.images ?? defaultImages(),
        ...(nodeOpts.capacity ? { capacity: nodeOpts.capacity } : {}),
      };
      const configFile = join(dir, 'node.json');
      await writeFile(configFile, JSON.stringify(config, null, 2));
      const node = startComponent(
        'local-node',
        join(repoRoot, 'node_modules/.bin/node'),
        [join(repoRoot, 'e2e/node/main.ts'), configFile],
        { logsDir },
      );
      components.push(node);
      await waitUntil(
        `node ${nodeName} Ready`,
        async () =>
          (await kubectl([
            'get',
            'node',
            nodeName as string,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ])) === 'True',
        { timeoutMs, component: node },
      );
    }
    return {
      kubeconfigPath,
      server,
      kubectl,
      kubectlPath,
      binDir: bin,
      logsDir,
      dir,
      components,
      nodeName,
      pvcRoot,
      pki,
      stop,
    };
  } catch (err) {
    await stop({ keepLogs: true });
    throw new Error(`control plane failed to start (logs in ${logsDir}): ${(err as Error).message}`, { cause: err });
  }
}

/** GET over TLS; with no `ca` the serving certificate is not verified (components' self-signed health ports). */
function httpsOk(url: string, tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { ...tls, rejectUnauthorized: tls.ca !== undefined, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
