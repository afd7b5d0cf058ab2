// One pod on the local node, from its first sight to its final deletion: volumes, then init containers in order,
// then the app containers as local processes (each in its own process group), restarts per restartPolicy, and the
// status a kubelet would report. Deletion sends SIGTERM to every container, SIGKILL after the grace period, records
// the terminal phase and then deletes the pod object for good.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type {
  V1Container,
  V1ContainerState,
  V1ContainerStatus,
  V1Pod,
  V1PodCondition,
  V1PodStatus,
} from '@kubernetes/client-node';
import { type ConfigSource, containerEnv, expand, type PodFacts } from './env.ts';
import { makeContainerFs } from './filesystem.ts';
import { findImage, type ImageMapping, localArgv } from './images.ts';
import { prepareVolumes, type VolumeApi } from './volumes.ts';

export interface NodeContext {
  nodeName: string;
  hostIP: string;
  workDir: string;
  logsDir: string;
  pvcRoot: string;
  images: ImageMapping[];
  allocatable: Record<string, string>;
  /** Environment every container starts from (PATH, KUBERNETES_SERVICE_*). */
  baseEnv: Record<string, string>;
  api: VolumeApi & ConfigSource;
  /** Reads the pod, applies `status` to it and writes it through the status subresource (retrying conflicts). */
  writeStatus(namespace: string, name: string, uid: string, status: V1PodStatus): Promise<void>;
  /** Deletes the pod object with grace period 0 (the kubelet's last word), if it still has this uid. */
  finalDelete(namespace: string, name: string, uid: string): Promise<void>;
  log(msg: string, fields?: Record<string, unknown>): void;
}

const TERMINATION_MESSAGE_LIMIT = 4096;
const FALLBACK_LOG_LIMIT = 2048;
const OUR_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'];

interface Prepared {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  terminationFile: string;
  logFile: string;
}

interface ContainerRun {
  spec: V1Container;
  init: boolean;
  state: V1ContainerState;
  lastState?: V1ContainerState;
  restartCount: number;
  process?: ChildProcess;
  containerID?: string;
}

export class PodRun {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly done: Promise<void>;
  private pod: V1Pod;
  private readonly ctx: NodeContext;
  private readonly dir: string;
  private readonly containers: ContainerRun[];
  private phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' = 'Pending';
  private volumesReady = false;
  private initialized = false;
  private readonly startTime = new Date();
  private terminating = false;
  private vanished = false;
  private killTimer?: NodeJS.Timeout;
  private wake: () => void = () => {};
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(ctx: NodeContext, pod: V1Pod, ip: string) {
    this.ctx = ctx;
    this.pod = pod;
    this.ip = ip;
    this.uid = pod.metadata?.uid ?? '';
    this.namespace = pod.metadata?.namespace ?? 'default';
    this.name = pod.metadata?.name ?? '';
    this.dir = join(ctx.workDir, 'pods', this.uid);
    const waiting = { waiting: { reason: 'PodInitializing' } };
    this.containers = [
      ...(pod.spec?.initContainers ?? []).map((spec) => ({ spec, init: true, state: waiting, restartCount: 0 })),
      ...(pod.spec?.containers ?? []).map((spec) => ({
        spec,
        init: false,
        state: { waiting: { reason: 'ContainerCreating' } },
        restartCount: 0,
      })),
    ];
    this.done = this.run().catch((err) => ctx.log('pod run failed', { pod: this.key, error: String(err) }));
  }

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  /** A newer version of the pod object was observed. */
  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp && !this.terminating) {
      this.terminate(pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30);
    }
  }

  /** The pod object is gone (force-deleted): stop everything at once and report nothing. */
  vanish(): void {
    this.vanished = true;
    this.terminate(0);
  }

  terminate(graceSeconds: number): void {
    this.terminating = true;
    this.wake();
    for (const c of this.containers) if (c.process) signal(c.process, 'SIGTERM');
    this.killTimer = setTimeout(() => {
      for (const c of this.containers) if (c.process) signal(c.process, 'SIGKILL');
    }, Math.max(0, graceSeconds) * 1000);
  }

  private async run(): Promise<void> {
    const restartPolicy = this.pod.spec?.restartPolicy ?? 'Always';
    let prepared: Map<ContainerRun, Prepared> | undefined;
    // Like a kubelet, keep retrying a pod whose volumes or config cannot be made yet (a Secret created later).
    while (!prepared && !this.terminating) {
      try {
        prepared = await this.prepare();
      } catch (err) {
        const message = (err as Error).message;
        this.ctx.log('cannot start pod', { pod: this.key, error: message });
        const reason = /image|program/.test(message) ? 'ErrImageNeverPull' : 'CreateContainerConfigError';
        for (const c of this.containers) c.state = { waiting: { reason, message } };
        this.sync();
        await this.sleep(3000);
      }
    }
    if (prepared) {
      this.volumesReady = true;
      this.sync();
      let initFailed = false;
      for (const c of this.containers.filter((c) => c.init)) {
        const code = await this.runContainer(
          c,
          prepared.get(c) as Prepared,
          restartPolicy === 'Never' ? 'Never' : 'OnFailure',
        );
        if (code !== 0) {
          initFailed = true;
          break;
        }
      }
      if (!initFailed && !this.terminating) {
        this.initialized = true;
        this.phase = 'Running';
        const apps = this.containers.filter((c) => !c.init);
        await Promise.all(apps.map((c) => this.runContainer(c, prepared.get(c) as Prepared, restartPolicy)));
      }
    }
    clearTimeout(this.killTimer);
    const apps = this.containers.filter((c) => !c.init);
    const allSucceeded = apps.every((c) => c.state.terminated?.exitCode === 0);
    this.phase = allSucceeded && this.initialized ? 'Succeeded' : 'Failed';
    for (const c of this.containers) {
      if (c.state.waiting) c.state = { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown' } };
    }
    if (!this.vanished) {
      this.sync();
      await this.writing;
      if (this.pod.metadata?.deletionTimestamp) await this.ctx.finalDelete(this.namespace, this.name, this.uid);
    }
    rmSync(join(this.dir, 'volumes'), { recursive: true, force: true });
  }

  private async prepare(): Promise<Map<ContainerRun, Prepared>> {
    const facts: PodFacts = {
      pod: this.pod,
      podIP: this.ip,
      hostIP: this.ctx.hostIP,
      allocatable: this.ctx.allocatable,
    };
    const volumes = await prepareVolumes(this.pod, this.dir, this.ctx.pvcRoot, facts, this.ctx.api);
    const out = new Map<ContainerRun, Prepared>();
    for (const c of this.containers) {
      const spec = c.spec;
      const image = spec.image ?? '';
      const mapping = findImage(this.ctx.images, image);
      if (!mapping) throw new Error(`image ${JSON.stringify(image)} has no local mapping on node ${this.ctx.nodeName}`);
      const mounts = (spec.volumeMounts ?? []).map((m) => {
        const local = volumes.get(m.name);
        if (!local) throw new Error(`container ${spec.name} mounts unknown volume ${JSON.stringify(m.name)}`);
        return { containerPath: m.mountPath, localPath: m.subPath ? join(local, m.subPath) : local };
      });
      const root = join(this.dir, 'containers', spec.name);
      rmSync(root, { recursive: true, force: true });
      const fs = makeContainerFs(root, mounts, spec.terminationMessagePath ?? '/dev/termination-log');
      const imageEnv = Object.fromEntries(
        Object.entries(mapping.env ?? {}).map(([k, v]) => [
          k,
          v.replace(/\{path:([^}]+)\}/g, (_, p: string) => fs.toLocal(p)),
        ]),
      );
      const base = { ...this.ctx.baseEnv, HOSTNAME: this.name, HOME: root, ...imageEnv };
      const env = await containerEnv(spec, facts, this.ctx.api, base);
      for (const e of spec.env ?? []) if (env[e.name] !== undefined) env[e.name] = fs.rewrite(env[e.name] as string);
      const argv = localArgv(
        mapping,
        spec.command?.map((a) => fs.rewrite(expand(a, env))),
        spec.args?.map((a) => fs.rewrite(expand(a, env))),
      );
      const cwd = spec.workingDir ? fs.rewrite(spec.workingDir) : root;
      const logFile = join(this.ctx.logsDir, 'pods', `${this.namespace}_${this.name}_${spec.name}.log`);
      out.set(c, { argv, env, cwd, terminationFile: fs.terminationFile, logFile });
    }
    return out;
  }

  /** Runs a container until it stops for good under `policy`; returns its last exit code. */
  private async runContainer(c: ContainerRun, p: Prepared, policy: string): Promise<number> {
    for (let backoffMs = 1000; ; backoffMs = Math.min(backoffMs * 2, 10_000)) {
      if (this.terminating) {
        c.state = {
          terminated: {
            exitCode: 137,
            reason: 'ContainerStatusUnknown',
            message: 'the pod was deleted before the container started',
          },
        };
        return 137;
      }
      const code = await this.runOnce(c, p);
      const restart = !this.terminating && (policy === 'Always' || (policy === 'OnFailure' && code !== 0));
      if (!restart) return code;
      this.ctx.log('restarting container', { pod: this.key, container: c.spec.name, exitCode: code });
      await this.sleep(backoffMs);
      if (this.terminating) return code;
      c.lastState = c.state;
      c.restartCount++;
    }
  }

  private runOnce(c: ContainerRun, p: Prepared): Promise<number> {
    closeSync(openSync(p.terminationFile, 'w'));
    const fd = openSync(p.logFile, 'a');
    const logStart = statSync(p.logFile).size;
    const startedAt = new Date();
    const child = spawn(p.argv[0] as string, p.argv.slice(1), {
      cwd: p.cwd,
      env: p.env,
      stdio: ['ignore', fd, fd],
      detached: true, // its own process group, so signals reach `sh -c` children too
    });
    closeSync(fd);
    c.process = child;
    c.containerID = `local://${this.ctx.nodeName}/${child.pid ?? 'none'}`;
    c.state = { running: { startedAt } };
    this.sync();
    return new Promise((resolve) => {
      const finish = (exitCode: number, message: string | undefined) => {
        c.process = undefined;
        const reason = exitCode === 0 ? 'Completed' : 'Error';
        c.state = {
          terminated: { exitCode, reason, message, startedAt, finishedAt: new Date(), containerID: c.containerID },
        };
        this.ctx.log('container exited', { pod: this.key, container: c.spec.name, exitCode });
        this.sync();
        resolve(exitCode);
      };
      child.on('error', (err) => finish(128, `cannot start ${p.argv[0]}: ${err.message}`));
      child.on('exit', (code, sig) => {
        const exitCode = code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0);
        let message = readPrefix(p.terminationFile, TERMINATION_MESSAGE_LIMIT);
        if (!message && exitCode !== 0 && c.spec.terminationMessagePolicy === 'FallbackToLogsOnError') {
          message = readTail(p.logFile, logStart, FALLBACK_LOG_LIMIT);
        }
        finish(exitCode, message || undefined);
      });
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Schedules a status write of the current local state; writes never overlap and coalesce. */
  private sync(): void {
    if (this.vanished) return;
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing.then(async () => {
      this.dirty = false;
      try {
        await this.ctx.writeStatus(this.namespace, this.name, this.uid, this.status());
      } catch (err) {
        this.ctx.log('status write failed', { pod: this.key, error: String(err) });
      }
    });
  }

  private status(): V1PodStatus {
    const now = new Date();
    const apps = this.containers.filter((c) => !c.init);
    const terminal = this.phase === 'Succeeded' || this.phase === 'Failed';
    const allRunning = apps.every((c) => c.state.running);
    const cond = (type: string, ok: boolean, reason?: string): V1PodCondition => ({
      type,
      status: ok ? 'True' : 'False',
      lastTransitionTime: now,
      ...(reason && !ok ? { reason } : {}),
    });
    const conditions = [
      cond('PodReadyToStartContainers', this.volumesReady && !terminal),
      cond(
        'Initialized',
        this.initialized || (this.volumesReady && apps.length === this.containers.length),
        'ContainersNotInitialized',
      ),
      cond('ContainersReady', allRunning && !terminal, terminal ? 'PodCompleted' : 'ContainersNotReady'),
      cond('Ready', allRunning && !terminal, terminal ? 'PodCompleted' : 'ContainersNotReady'),
    ];
    const statusOf = (c: ContainerRun): V1ContainerStatus => ({
      name: c.spec.name,
      image: c.spec.image ?? '',
      imageID: `local://${c.spec.image ?? ''}`,
      containerID: c.containerID,
      ready: Boolean(c.state.running) && !c.init,
      started: Boolean(c.state.running),
      restartCount: c.restartCount,
      state: c.state,
      ...(c.lastState ? { lastState: c.lastState } : {}),
    });
    return {
      phase: this.phase,
      conditions,
      hostIP: this.ctx.hostIP,
      hostIPs: [{ ip: this.ctx.hostIP }],
      podIP: this.ip,
      podIPs: [{ ip: this.ip }],
      startTime: this.startTime,
      initContainerStatuses: this.containers.filter((c) => c.init).map(statusOf),
      containerStatuses: apps.map(statusOf),
    };
  }
}

/** Merges our view into the server's status, keeping conditions others own (PodScheduled, DisruptionTarget). */
export function mergeStatus(server: V1PodStatus | undefined, ours: V1PodStatus): V1PodStatus {
  const previous = new Map((server?.conditions ?? []).map((c) => [c.type, c]));
  const conditions = [
    ...(server?.conditions ?? []).filter((c) => !OUR_CONDITIONS.includes(c.type)),
    ...(ours.conditions ?? []).map((c) => {
      const before = previous.get(c.type);
      return before && before.status === c.status ? { ...c, lastTransitionTime: before.lastTransitionTime } : c;
    }),
  ];
  return { ...server, ...ours, qosClass: server?.qosClass, conditions };
}

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    child.kill(sig);
  }
}

function readPrefix(file: string, limit: number): string {
  try {
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(limit);
    const n = readSync(fd, buf, 0, limit, 0);
    closeSync(fd);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  }
}

function readTail(file: string, from: number, limit: number): string {
  try {
    const size = statSync(file).size;
    const start = Math.max(from, size - limit);
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    closeSync(fd);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  }
}
