// The local node: registers a Node object (cpu, memory, pods, nvidia.com/gpu), keeps its Lease and Ready condition
// fresh like a kubelet, watches the pods bound to it (list, then watch from the list's resourceVersion; relist
// after any error) and runs each one as local processes (pod-run.ts).
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Lease,
  type V1Node,
  type V1NodeCondition,
  type V1Pod,
  type V1PodStatus,
  Watch,
} from '@kubernetes/client-node';
import type { ImageMapping } from './images.ts';
import { IpPool } from './ip-pool.ts';
import { mergeStatus, type NodeContext, PodRun } from './pod-run.ts';

export interface LocalNodeOptions {
  kubeconfigPath: string;
  name?: string;
  /** Pod directories (volumes, container roots) live here. */
  workDir: string;
  /** Container logs and the node's own log. */
  logsDir: string;
  /** Where a PersistentVolumeClaim without a hostPath/local PV is found: <pvcRoot>/<claim>. */
  pvcRoot: string;
  images: ImageMapping[];
  /** Node capacity; defaults: 32 CPUs, 128Gi memory, 110 pods, 4 nvidia.com/gpu. */
  capacity?: Record<string, string>;
  labels?: Record<string, string>;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface LocalNode {
  name: string;
  ipPrefix: string;
  /** Stops the watch and heartbeats and kills every pod's processes (the Node object stays, like a stopped kubelet). */
  stop(): Promise<void>;
}

const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;
const STATUS_MS = 30_000;

export async function startLocalNode(opts: LocalNodeOptions): Promise<LocalNode> {
  const name = opts.name ?? 'lota-local-node';
  const log =
    opts.log ?? ((msg, fields) => console.log(JSON.stringify({ time: new Date().toISOString(), msg, ...fields })));
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const capacity = { cpu: '32', memory: '128Gi', pods: '110', 'nvidia.com/gpu': '4', ...opts.capacity };
  const pool = new IpPool();
  mkdirSync(join(opts.logsDir, 'pods'), { recursive: true });
  mkdirSync(opts.workDir, { recursive: true });
  const server = new URL(kc.getCurrentCluster()?.server ?? 'https://127.0.0.1:6443');
  const caData = kc.getCurrentCluster()?.caData;
  const caFile = kc.getCurrentCluster()?.caFile;

  const ctx: NodeContext = {
    nodeName: name,
    hostIP: '127.0.0.1',
    workDir: opts.workDir,
    logsDir: opts.logsDir,
    pvcRoot: opts.pvcRoot,
    images: opts.images,
    allocatable: capacity,
    baseEnv: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      KUBERNETES_SERVICE_HOST: server.hostname,
      KUBERNETES_SERVICE_PORT: server.port || '443',
    },
    log,
    api: {
      configMap: async (namespace, n) =>
        (await readOrUndefined(() => core.readNamespacedConfigMap({ namespace, name: n })))?.data,
      secret: async (namespace, n) => {
        const s = await readOrUndefined(() => core.readNamespacedSecret({ namespace, name: n }));
        if (!s) return undefined;
        const data = Object.fromEntries(
          Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
        );
        return { ...data, ...s.stringData };
      },
      claimPath: async (namespace, claim) => {
        const pvc = await readOrUndefined(() => core.readNamespacedPersistentVolumeClaim({ namespace, name: claim }));
        if (!pvc) throw new Error(`persistentvolumeclaim ${JSON.stringify(claim)} not found`);
        const volume = pvc.spec?.volumeName;
        if (!volume) return undefined;
        const pv = await core.readPersistentVolume({ name: volume });
        return pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
      },
      serviceAccountToken: async (namespace, account, audience, expirationSeconds) => {
        const req = await core.createNamespacedServiceAccountToken({
          namespace,
          name: account,
          body: { spec: { audiences: audience ? [audience] : [], expirationSeconds: expirationSeconds ?? 3600 } },
        });
        return req.status?.token ?? '';
      },
      caCert: async () => (caData ? Buffer.from(caData, 'base64').toString() : readFileSync(caFile ?? '', 'utf8')),
    },
    async writeStatus(namespace, podName, uid, status: V1PodStatus) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const pod = await readOrUndefined(() => core.readNamespacedPod({ namespace, name: podName }));
        if (!pod || pod.metadata?.uid !== uid) return;
        pod.status = mergeStatus(pod.status, status);
        try {
          await core.replaceNamespacedPodStatus({ namespace, name: podName, body: pod });
          return;
        } catch (err) {
          if (!(err instanceof ApiException) || (err.code !== 409 && err.code !== 404)) throw err;
          if (err.code === 404) return;
        }
      }
      throw new Error(`pod ${namespace}/${podName}: status write kept conflicting`);
    },
    async finalDelete(namespace, podName, uid) {
      try {
        await core.deleteNamespacedPod({
          namespace,
          name: podName,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid } },
        });
      } catch (err) {
        if (!(err instanceof ApiException) || (err.code !== 404 && err.code !== 409)) throw err;
      }
    },
  };

  await register(core, name, capacity, opts.labels ?? {});
  log('node registered', { node: name, capacity, podIPs: `${pool.prefix}0/24` });

  const runs = new Map<string, PodRun>();
  const start = (pod: V1Pod) => {
    const uid = pod.metadata?.uid ?? '';
    const ip = pool.allocate();
    const run = new PodRun(ctx, pod, ip);
    runs.set(uid, run);
    log('pod started', { pod: run.key, podIP: ip });
    void run.done.then(() => {
      pool.release(ip);
      log('pod finished', { pod: run.key });
    });
  };
  const observe = (type: string, pod: V1Pod) => {
    const uid = pod.metadata?.uid ?? '';
    const run = runs.get(uid);
    if (type === 'DELETED') {
      run?.vanish();
      return;
    }
    if (run) {
      run.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      // Finished before this node (re)started, or already reported: only the final delete may be left to do.
      if (pod.metadata?.deletionTimestamp)
        void ctx.finalDelete(pod.metadata.namespace ?? '', pod.metadata.name ?? '', uid);
      return;
    }
    if (pod.metadata?.deletionTimestamp) {
      void ctx.finalDelete(pod.metadata.namespace ?? '', pod.metadata.name ?? '', uid);
      return;
    }
    start(pod);
  };

  let stopped = false;
  let abort: AbortController | undefined;
  const watch = new Watch(kc);
  const fieldSelector = `spec.nodeName=${name}`;
  const listAndWatch = async (): Promise<void> => {
    while (!stopped) {
      try {
        const list = await core.listPodForAllNamespaces({ fieldSelector });
        const seen = new Set<string>();
        for (const pod of list.items) {
          seen.add(pod.metadata?.uid ?? '');
          observe('ADDED', pod);
        }
        for (const [uid, run] of runs) if (!seen.has(uid)) run.vanish();
        const ended = new Promise<void>((resolve) => {
          void watch
            .watch(
              '/api/v1/pods',
              { fieldSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
              (type, obj) => {
                if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') observe(type, obj as V1Pod);
              },
              (err) => {
                if (err && !stopped) log('pod watch ended', { error: String(err) });
                resolve();
              },
            )
            .then(
              (a) => {
                abort = a;
              },
              (err) => {
                log('pod watch failed', { error: String(err) });
                resolve();
              },
            );
        });
        await ended;
      } catch (err) {
        log('pod list failed', { error: String(err) });
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const watching = listAndWatch();

  const renewLease = () =>
    retryOnConflict(async () => {
      const lease: V1Lease = {
        metadata: { name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime(new Date()) },
      };
      const existing = await readOrUndefined(() =>
        coordination.readNamespacedLease({ namespace: 'kube-node-lease', name }),
      );
      if (existing) {
        existing.spec = lease.spec;
        await coordination.replaceNamespacedLease({ namespace: 'kube-node-lease', name, body: existing });
      } else {
        await coordination.createNamespacedLease({ namespace: 'kube-node-lease', body: lease });
      }
    });
  const heartbeat = () =>
    retryOnConflict(async () => {
      const node = await core.readNode({ name });
      node.status = { ...node.status, conditions: conditions(new Date(), node.status?.conditions) };
      await core.replaceNodeStatus({ name, body: node });
    });
  await renewLease();
  const leaseTimer = setInterval(
    () => renewLease().catch((e) => log('lease renewal failed', { error: String(e) })),
    RENEW_MS,
  );
  const statusTimer = setInterval(
    () => heartbeat().catch((e) => log('node status update failed', { error: String(e) })),
    STATUS_MS,
  );

  return {
    name,
    ipPrefix: pool.prefix,
    async stop() {
      stopped = true;
      clearInterval(leaseTimer);
      clearInterval(statusTimer);
      abort?.abort();
      for (const run of runs.values()) run.vanish();
      await Promise.all([...runs.values()].map((r) => r.done));
      await watching;
    },
  };
}

/** A MicroTime (RFC 3339 with exactly six fractional digits): the API server refuses a Date's three. */
function microTime(d: Date): Date {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}

async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

function conditions(now: Date, previous: V1NodeCondition[] | undefined): V1NodeCondition[] {
  const before = new Map((previous ?? []).map((c) => [c.type, c]));
  const make = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: before.get(type)?.status === status ? before.get(type)?.lastTransitionTime : now,
  });
  return [
    make('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'local node'),
    make('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'local node'),
    make('PIDPressure', 'False', 'KubeletHasSufficientPID', 'local node'),
    make('Ready', 'True', 'KubeletReady', 'local node runs pods as processes'),
  ];
}

async function register(
  core: CoreV1Api,
  name: string,
  capacity: Record<string, string>,
  labels: Record<string, string>,
) {
  const now = new Date();
  const status: V1Node['status'] = {
    capacity,
    allocatable: capacity,
    conditions: conditions(now, undefined),
    addresses: [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: hostname() },
    ],
    nodeInfo: {
      machineID: name,
      systemUUID: name,
      bootID: String(process.pid),
      kernelVersion: process.version,
      osImage: 'lota local node',
      containerRuntimeVersion: 'local://processes',
      kubeletVersion: 'v1.34.4',
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
  const metadata = {
    name,
    labels: {
      'kubernetes.io/hostname': name,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'lota.dev/local-node': 'true',
      ...labels,
    },
  };
  if (!(await readOrUndefined(() => core.readNode({ name })))) {
    await core.createNode({ body: { metadata, spec: {}, status } });
  }
  await retryOnConflict(async () => {
    const node = await core.readNode({ name });
    node.status = status;
    await core.replaceNodeStatus({ name, body: node });
  });
}

/** Read-modify-write with the API server's optimistic concurrency: redo `update` on 409 Conflict. */
async function retryOnConflict(update: () => Promise<void>, attempts = 10): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await update();
    } catch (err) {
      if (!(err instanceof ApiException) || err.code !== 409 || i >= attempts) throw err;
    }
  }
}
