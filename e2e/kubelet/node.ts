// A real Kubernetes node for the e2e suite: containerd (with runc and the CNI bridge/loopback plugins), the kubelet
// and kube-proxy of the control plane's release, registered to a harness control plane. Everything lives under
// `<dir>`: containerd's root and state, the kubelet's root, pod logs, the CNI configuration and IPAM state. Images
// come from OCI archives (scripts/build-images.sh) imported into containerd's `k8s.io` namespace; nothing is pulled.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { issueCert, type Pki, writeKubeconfig } from '../harness/certs.ts';
import { type Component, startComponent, waitUntil } from '../harness/component.ts';
import type { Kubectl } from '../harness/kubectl.ts';
import { freePort } from '../harness/ports.ts';
import { hostTools } from './host.ts';

const run = promisify(execFile);

export interface KubeletNodeOptions {
  /** Directory of this node (created): containerd, kubelet, CNI state. */
  dir: string;
  logsDir: string;
  /** https://<address>:<port> of the API server; pods reach it through the `kubernetes` Service. */
  server: string;
  pki: Pki;
  kubectl: Kubectl;
  /** The node's IP (the address the API server listens on). */
  nodeIp: string;
  /** kubelet and kube-proxy (e2e/kubelet/build-binaries.sh). */
  binDir: string;
  /** OCI archives to import into containerd. */
  images: string[];
  /** The pod sandbox image (one of `images`). */
  pauseImage: string;
  name?: string;
  startTimeoutMs?: number;
}

export interface KubeletNode {
  name: string;
  /** containerd's socket, for `ctr --address`. */
  containerdSocket: string;
  /** Pod CIDR of the CNI bridge. */
  podCidr: string;
  components: Component[];
  /** Deletes every pod's containers, stops kubelet, kube-proxy (and its rules) and containerd, unmounts. */
  stop(): Promise<void>;
}

export async function startKubeletNode(opts: KubeletNodeOptions): Promise<KubeletNode> {
  const tools = hostTools();
  const timeoutMs = opts.startTimeoutMs ?? 180_000;
  const name = opts.name ?? 'lota-kubelet-node';
  const dir = opts.dir;
  const p = (...parts: string[]) => join(dir, ...parts);
  for (const d of ['containerd', 'cni/net.d', 'kubelet', 'kubelet-pki', 'proxy']) {
    await mkdir(p(d), { recursive: true });
  }
  const components: Component[] = [];
  // A random /24 and bridge name per node, so two runs on one machine do not share a bridge.
  const [a, b] = randomBytes(2);
  const podCidr = `10.${200 + ((a ?? 0) % 50)}.${b ?? 0}.0/24`;
  const bridge = `lota${randomBytes(3).toString('hex')}`;
  const socket = p('containerd', 'containerd.sock');
  const ctr = (args: string[]) => run(tools.ctr, ['--address', socket, '--namespace', 'k8s.io', ...args]);

  let kubeletStarted = false;
  const netnsBefore = new Set(netnsNow());
  // The kubelet sets these kernel tunables to its defaults at start (KernelTunableModify); this machine is shared
  // with other work, so they go back to what they were when the node stops.
  const tunables = Object.fromEntries(KUBELET_SYSCTLS.map((k) => [k, readSysctl(k)]));
  const stop = async () => {
    if (kubeletStarted) {
      // Let the kubelet tear its pods down properly (CNI DEL, network namespaces, mounts); cordoned first, so
      // that controllers (the operator's Deployment) do not put new pods on it meanwhile.
      await opts.kubectl(['cordon', name]).catch(() => {});
      await opts
        .kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=0', '--force', '--wait=false'])
        .catch(() => {});
      await waitUntil('the node to run no container', async () => (await running(ctr)).length === 0, {
        timeoutMs: 60_000,
      }).catch(() => {});
    }
    for (const c of [...components].reverse().filter((c) => c.name !== 'containerd')) await c.stop(10_000);
    const proxy = join(opts.binDir, 'kube-proxy');
    await run(proxy, ['--cleanup'], { timeout: 30_000 }).catch(() => {});
    // Containers outlive containerd (each has its shim): kill what is left while containerd still answers.
    for (const id of await running(ctr).catch(() => [] as string[])) {
      await ctr(['tasks', 'kill', '--signal', 'SIGKILL', id]).catch(() => {});
    }
    await waitUntil('leftover containers to exit', async () => (await running(ctr)).length === 0, {
      timeoutMs: 20_000,
    }).catch(() => {});
    for (const id of await tasks(ctr).catch(() => [] as string[])) await ctr(['tasks', 'delete', id]).catch(() => {});
    await components.find((c) => c.name === 'containerd')?.stop(10_000);
    await unmountUnder(dir);
    for (const [key, value] of Object.entries(tunables)) {
      if (value !== undefined && readSysctl(key) !== value) writeSysctl(key, value);
    }
    await run('ip', ['link', 'delete', bridge]).catch(() => {});
    await removeKubeletIptables();
    // Network namespaces of sandboxes the kubelet did not get to tear down (one real node per host: host-lock.ts).
    for (const ns of netnsNow()) {
      if (netnsBefore.has(ns)) continue;
      await run('umount', [join(NETNS_DIR, ns)]).catch(() => {});
      await rm(join(NETNS_DIR, ns), { force: true }).catch(() => {});
    }
  };

  try {
    // ---- containerd -------------------------------------------------------------------------------------------
    const config = `version = 2
root = "${p('containerd', 'root')}"
state = "${p('containerd', 'state')}"
[grpc]
  address = "${socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${p('containerd', 'opt')}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${opts.pauseImage}"
  enable_selinux = false
  # No CAP_SYS_RESOURCE in this sandbox: an OOM score below containerd's own (the pause container's -998) makes
  # runc fail with "can't get final child's PID from pipe: EOF". Keep every score at or above containerd's.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "${tools.runc}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${tools.cniBinDir}"
    conf_dir = "${p('cni', 'net.d')}"
`;
    await writeFile(p('containerd', 'config.toml'), config);
    const cni = {
      cniVersion: '0.4.0',
      name: 'lota-e2e',
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: p('cni', 'ipam'),
            ranges: [[{ subnet: podCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    };
    await writeFile(p('cni', 'net.d', '10-lota.conflist'), JSON.stringify(cni, null, 2));
    const containerd = startComponent('containerd', tools.containerd, ['--config', p('containerd', 'config.toml')], {
      logsDir: opts.logsDir,
    });
    components.push(containerd);
    const answers = async () => {
      if (!existsSync(socket)) return false;
      await ctr(['version']);
      return true;
    };
    await waitUntil('containerd', answers, {
      timeoutMs,
      component: containerd,
    });
    for (const archive of opts.images) {
      await ctr(['images', 'import', archive]).catch((err) => {
        throw new Error(`importing ${archive} into containerd failed: ${(err as { stderr?: string }).stderr ?? err}`);
      });
    }

    // ---- credentials: system:node:<name> in system:nodes, system:kube-proxy ----------------------------------
    const nodeKubeconfig = p('kubelet.kubeconfig');
    const proxyKubeconfig = p('kube-proxy.kubeconfig');
    await issueCert(opts.pki, {
      subj: `/O=system:nodes/CN=system:node:${name}`,
      key: p('kubelet-client.key'),
      cert: p('kubelet-client.crt'),
      ext: ['extendedKeyUsage=clientAuth'],
    });
    await issueCert(opts.pki, {
      subj: '/CN=system:kube-proxy',
      key: p('kube-proxy.key'),
      cert: p('kube-proxy.crt'),
      ext: ['extendedKeyUsage=clientAuth'],
    });
    const cluster = { server: opts.server, caCert: opts.pki.caCert };
    await writeKubeconfig(nodeKubeconfig, {
      ...cluster,
      clientCert: p('kubelet-client.crt'),
      clientKey: p('kubelet-client.key'),
    });
    await writeKubeconfig(proxyKubeconfig, {
      ...cluster,
      clientCert: p('kube-proxy.crt'),
      clientKey: p('kube-proxy.key'),
    });

    // ---- kubelet ----------------------------------------------------------------------------------------------
    const [kubeletPort, healthzPort, proxyHealthz, proxyMetrics] = await Promise.all(
      Array.from({ length: 4 }, () => freePort()),
    );
    const kubeletConfig = {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: opts.nodeIp,
      port: kubeletPort,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: opts.pki.caCert },
      },
      authorization: { mode: 'Webhook' },
      cgroupDriver: 'cgroupfs',
      // Its own OOM score stays that of the test run (lowering it needs CAP_SYS_RESOURCE).
      oomScoreAdj: 0,
      containerRuntimeEndpoint: `unix://${socket}`,
      failSwapOn: false,
      clusterDomain: 'cluster.local',
      resolvConf: '/etc/resolv.conf',
      podLogsDir: join(opts.logsDir, 'pods'),
      // The machine is shared and its disk fills with other work: no eviction, no image garbage collection.
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '0%', 'imagefs.available': '0%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      // Status reports often enough for a test to see phase changes quickly.
      nodeStatusUpdateFrequency: '10s',
      syncFrequency: '10s',
      serializeImagePulls: false,
      rotateCertificates: false,
      serverTLSBootstrap: false,
    };
    await writeFile(p('kubelet-config.json'), JSON.stringify(kubeletConfig, null, 2));
    const kubelet = startComponent(
      'kubelet',
      join(opts.binDir, 'kubelet'),
      [
        `--config=${p('kubelet-config.json')}`,
        `--kubeconfig=${nodeKubeconfig}`,
        `--root-dir=${p('kubelet')}`,
        `--cert-dir=${p('kubelet-pki')}`,
        `--hostname-override=${name}`,
        `--node-ip=${opts.nodeIp}`,
        '--v=2',
      ],
      { logsDir: opts.logsDir },
    );
    components.push(kubelet);
    kubeletStarted = true;

    // ---- kube-proxy: the `kubernetes` Service (and any other) through iptables -----------------------------
    const proxyConfig = {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: proxyKubeconfig },
      mode: 'iptables',
      clusterCIDR: podCidr,
      hostnameOverride: name,
      bindAddress: opts.nodeIp,
      healthzBindAddress: `127.0.0.1:${proxyHealthz}`,
      metricsBindAddress: `127.0.0.1:${proxyMetrics}`,
      // Leave the host's conntrack sysctls alone (shared machine).
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      iptables: { localhostNodePorts: false },
      oomScoreAdj: 0,
    };
    await writeFile(p('proxy', 'config.json'), JSON.stringify(proxyConfig, null, 2));
    const proxy = startComponent(
      'kube-proxy',
      join(opts.binDir, 'kube-proxy'),
      [`--config=${p('proxy', 'config.json')}`, '--v=2'],
      { logsDir: opts.logsDir },
    );
    components.push(proxy);

    await waitUntil(
      `node ${name} Ready`,
      async () =>
        (await opts.kubectl([
          'get',
          'node',
          name,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ])) === 'True',
      { timeoutMs, component: kubelet },
    );
    await waitUntil('kube-proxy healthy', async () => (await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`)).ok, {
      timeoutMs,
      component: proxy,
    });
    return { name, containerdSocket: socket, podCidr, components, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The kubelet's own iptables chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY), which kube-proxy --cleanup leaves. */
async function removeKubeletIptables(): Promise<void> {
  const ipt = (args: string[]) => run('iptables', ['-w', ...args]).catch(() => {});
  await ipt(['-D', 'INPUT', '-j', 'KUBE-FIREWALL']);
  await ipt(['-D', 'OUTPUT', '-j', 'KUBE-FIREWALL']);
  for (const table of ['filter', 'nat', 'mangle']) {
    for (const chain of ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT']) {
      await ipt(['-t', table, '-F', chain]);
      await ipt(['-t', table, '-X', chain]);
    }
  }
}

const NETNS_DIR = '/run/netns';

/** containerd's pod network namespaces (`cni-<uuid>`). */
function netnsNow(): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((n) => n.startsWith('cni-'));
  } catch {
    return [];
  }
}

const KUBELET_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${key}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function writeSysctl(key: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${key}`, value);
  } catch {}
}

async function tasks(ctr: (args: string[]) => Promise<{ stdout: string }>): Promise<string[]> {
  const { stdout } = await ctr(['tasks', 'list', '--quiet']);
  return stdout.split('\n').filter(Boolean);
}

/** Tasks whose process still runs (`ctr tasks list` keeps exited ones, STOPPED, until they are deleted). */
async function running(ctr: (args: string[]) => Promise<{ stdout: string }>): Promise<string[]> {
  const { stdout } = await ctr(['tasks', 'list']);
  return stdout
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 3 && cols[2] !== 'STOPPED')
    .map((cols) => cols[0] as string);
}

/** Unmounts everything mounted under `dir` (the kubelet's tmpfs volumes, container root file systems), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((x, y) => y.length - x.length);
  for (const m of mounts) await run('umount', ['--lazy', m]).catch(() => {});
}
