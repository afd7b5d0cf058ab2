// The Helm chart on a real control plane: `helm install` in namespaced mode into namespaces that enforce the
// restricted Pod Security Standard, the objects it creates as the API server stored them (Deployment and its pod,
// ServiceAccount, Roles, Service), and then the operator run exactly as the chart
// configures it — the Deployment's args and env, the chart's ServiceAccount token and so only the chart's RBAC —
// reconciling examples/lota-adaptation.yaml (shrunk to a tiny model) through its trainer Jobs on the test node to
// Succeeded, with status and Events; the Argo CD health check and kstatus judge the live object along the way.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { healthScript, runArgoHealth, runHealth, runKstatus } from '../../gitops/test/lua.ts';
import { tool } from '../../scripts/toolchain.ts';
import { writeArithmeticChat, writeTinyBaseModel } from '../fixtures/tiny-base.ts';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { type Component, startComponent, waitUntil } from '../harness/component.ts';
import { freePort } from '../harness/ports.ts';
import { createLocalClaim } from '../harness/volumes.ts';
import { waitFor } from '../harness/wait.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const chartDir = join(repoRoot, 'charts/lota-operator');
const { kubeconfigPath, logsDir, pvcRoot } = cluster();

/**
 * kubectl against the shared control plane. Unlike the harness's, it opens stdin only when there is input and
 * handles an early close of it: a kubectl that exits without reading stdin must not surface as an unhandled EPIPE.
 */
function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      inject('kubectlPath'),
      ['--kubeconfig', kubeconfigPath, ...args],
      { maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input);
  });
}

const release = `ship-${process.pid}`;
const fullname = `${release}-lota-operator`;
let systemNs = '';
let workNs = '';
let scratch = '';
let operator: Component | undefined;

async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(tool('LOTA_HELM'), [...args, '--kubeconfig', kubeconfigPath], {
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(scratch, 'helm/cache'),
        HELM_CONFIG_HOME: join(scratch, 'helm/config'),
        HELM_DATA_HOME: join(scratch, 'helm/data'),
      },
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

const getJson = async <T>(args: string[]): Promise<T> => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Deployment {
  spec: {
    replicas: number;
    strategy: { type: string };
    template: {
      spec: {
        serviceAccountName: string;
        securityContext: Record<string, unknown>;
        containers: { image: string; args?: string[]; env: EnvVar[]; securityContext: Record<string, unknown> }[];
      };
    };
  };
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'lota-chart-e2e-'));
  systemNs = await createNamespace(kubectl, 'lota-system');
  workNs = await createNamespace(kubectl, 'team');
  // Both namespaces enforce the restricted Pod Security Standard: the operator's pod and the trainer pods it makes
  // are refused at admission if they fall short of it.
  for (const ns of [systemNs, workNs]) {
    await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  }
  // The chart's crds/ are the same files the global set-up applied; Helm leaves existing CRDs alone.
  await helm([
    'install',
    release,
    chartDir,
    '--namespace',
    systemNs,
    '--set-json',
    `watchNamespaces=${JSON.stringify([workNs])}`,
  ]);
});

afterAll(async () => {
  await operator?.stop(10_000);
  await helm(['uninstall', release, '--namespace', systemNs]).catch(() => undefined);
  await kubectl(['delete', 'namespace', workNs, systemNs, '--wait=false']).catch(() => undefined);
  await kubectl(['delete', 'pv', `${workNs}-models`, `${workNs}-datasets`, '--wait=false']).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * Starts the operator as the installed Deployment's pod would run: its args and env (downward API resolved, ports
 * moved to free ones since this machine runs several operators), and a token of the chart's ServiceAccount, so the
 * API server enforces exactly the chart's RBAC.
 */
async function startFromDeployment(tag: string): Promise<{ component: Component; env: Record<string, string> }> {
  const d = await getJson<Deployment>(['get', 'deployment', fullname, '-n', systemNs]);
  const c = d.spec.template.spec.containers[0];
  if (!c) throw new Error('the Deployment has no container');
  const fieldRefs: Record<string, string> = { 'metadata.namespace': systemNs, 'metadata.name': `${fullname}-${tag}` };
  const env: Record<string, string> = {};
  for (const e of c.env) env[e.name] = e.value ?? fieldRefs[e.valueFrom?.fieldRef?.fieldPath ?? ''] ?? '';
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  env.LOTA_METRICS_PORT = String(metricsPort);
  env.LOTA_HEALTH_PORT = String(healthPort);

  const token = (
    await kubectl(['create', 'token', d.spec.template.spec.serviceAccountName, '-n', systemNs, '--duration=1h'])
  ).trim();
  const admin = parse(readFileSync(kubeconfigPath, 'utf8')) as { clusters: { name: string }[] };
  const saKubeconfig = join(scratch, `operator-${tag}.kubeconfig`);
  writeFileSync(
    saKubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: admin.clusters,
      users: [{ name: 'operator', user: { token } }],
      contexts: [{ name: 'operator', context: { cluster: admin.clusters[0]?.name, user: 'operator' } }],
      'current-context': 'operator',
    }),
  );
  const component = startComponent(
    `chart-operator-${process.pid}-${tag}`,
    join(repoRoot, 'node_modules/.bin/node'),
    [join(repoRoot, 'operator/src/main.ts'), ...(c.args ?? [])],
    { logsDir, cwd: repoRoot, env: { PATH: process.env.PATH ?? '', ...env, KUBECONFIG: saKubeconfig } },
  );
  await waitUntil('operator /readyz', async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok, {
    timeoutMs: 60_000,
    component,
  });
  return { component, env };
}

describe('helm install of charts/lota-operator', () => {
  it('is a deployed release whose objects the API server accepted', async () => {
    const status = JSON.parse(await helm(['status', release, '--namespace', systemNs, '-o', 'json'])) as {
      info: { status: string };
    };
    expect(status.info.status).toBe('deployed');
    await kubectl(['get', 'serviceaccount', fullname, '-n', systemNs]);
    await kubectl(['get', 'service', `${fullname}-metrics`, '-n', systemNs]);
    // Namespaced mode: the operator's Role and RoleBinding live in the watched namespace only.
    await kubectl(['get', 'role,rolebinding', fullname, '-n', workNs]);
    await expect(kubectl(['get', 'clusterrole', fullname])).rejects.toThrow(/NotFound/);
  });

  it('creates the operator Deployment the chart describes', async () => {
    const d = await getJson<Deployment>(['get', 'deployment', fullname, '-n', systemNs]);
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy.type).toBe('Recreate');
    expect(pod.serviceAccountName).toBe(fullname);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(c?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c?.image).toBe('ghcr.io/lota-operator/lota-operator:0.1.0');
    const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({
      LOTA_WATCH_NAMESPACES: workNs,
      LOTA_LEADER_ELECT: 'false',
      POD_NAMESPACE: 'metadata.namespace',
    });
    // Its pod passes Pod Security admission (restricted) and lands on the node; the image itself is not on this
    // machine (no container engine), so the pod waits there and the next test runs the operator from its config.
    const operatorPod = await waitFor('a pod of the operator Deployment', async () => {
      const pods = await getJson<{ items: { metadata: { name: string }; spec: { nodeName?: string } }[] }>([
        'get',
        'pods',
        '-n',
        systemNs,
        '-l',
        `app.kubernetes.io/instance=${release}`,
      ]);
      return pods.items[0];
    });
    expect(operatorPod.metadata.name).toMatch(new RegExp(`^${fullname}-`));
    // …where Pod Security admission does refuse a pod that is not restricted (so the check above means something).
    await expect(
      kubectl(['run', 'plain', '-n', systemNs, '--image=busybox', '--restart=Never', '--dry-run=server']),
    ).rejects.toThrow(/violates PodSecurity "restricted/);
  });

  it('runs the operator from that configuration, and it reconciles an example to Succeeded under the chart RBAC', async () => {
    operator = (await startFromDeployment('0')).component;

    // The example adaptation in the watched namespace, its claims on the test node holding a tiny model and data,
    // shrunk to what two cores train in seconds (as the operator's e2e suite does); names and URIs stay.
    const models = await createLocalClaim(kubectl, { namespace: workNs, claim: 'models', pvcRoot });
    const datasets = await createLocalClaim(kubectl, { namespace: workNs, claim: 'datasets', pvcRoot });
    await writeTinyBaseModel(join(models, 'base'));
    await writeArithmeticChat(join(datasets, 'gsm8k/train.jsonl'));
    await writeArithmeticChat(join(datasets, 'gsm8k/test.jsonl'), 8, 1);
    const example = parse(readFileSync(join(repoRoot, 'examples/lota-adaptation.yaml'), 'utf8')) as {
      metadata: { name: string; namespace?: string };
      spec: Record<string, Record<string, unknown> | undefined>;
    };
    example.metadata.namespace = workNs;
    const spec = example.spec;
    spec.lota = { ...spec.lota, calibration: { steps: 2 } };
    spec.training = { ...spec.training, epochs: undefined, maxSteps: 3, batchSize: 4 };
    spec.dataset = { ...spec.dataset, maxSeqLength: 64, maxPromptLength: 16 };
    delete spec.resources;
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(example) });
    const name = example.metadata.name;

    const job = await waitFor(
      `the operator's calibrate Job for ${name}`,
      async () => {
        const jobs = await getJson<{ items: { metadata: { name: string; ownerReferences?: { name: string }[] } }[] }>([
          'get',
          'jobs',
          '-n',
          workNs,
        ]);
        return jobs.items.find((j) => j.metadata.ownerReferences?.[0]?.name === name);
      },
      { timeoutMs: 60_000 },
    );
    expect(job.metadata.name).toBe(`${name}-calibrate`);

    // The GitOps health judges on the live object, as the API server serves it: mid-run, then finished.
    const judge = (obj: unknown) => ({
      lua: runHealth(tool('LOTA_LUA'), healthScript('LotaAdaptation'), obj).status,
      argo: runArgoHealth(healthScript('LotaAdaptation'), [obj])[0]?.status,
      kstatus: runKstatus([obj])[0],
    });
    const running = await waitFor(`a status of ${name} written by the operator`, async () => {
      const obj = await getJson<{ status?: { phase?: string } }>(['get', 'lotaadaptation', name, '-n', workNs]);
      return obj.status?.phase ? obj : undefined;
    });
    expect(['Calibrating', 'Training']).toContain(running.status?.phase);
    expect(judge(running)).toEqual({ lua: 'Progressing', argo: 'Progressing', kstatus: 'InProgress' });

    await kubectl(['wait', '-n', workNs, '--for=condition=Succeeded', `lotaadaptation/${name}`, '--timeout=240s'], {
      timeoutMs: 270_000,
    }).catch(async (err) => {
      const status = await kubectl(['get', '-n', workNs, `lotaadaptation/${name}`, '-o', 'jsonpath={.status}']);
      throw new Error(`${name} did not succeed: ${(err as Error).message}\nstatus: ${status}`);
    });
    const done = await getJson<{
      metadata: { generation: number };
      status: { phase: string; observedGeneration: number; ticket?: { uri: string; bytes: number } };
    }>(['get', 'lotaadaptation', name, '-n', workNs]);
    expect(done.status.phase).toBe('Succeeded');
    expect(done.status.observedGeneration).toBe(done.metadata.generation);
    expect(done.status.ticket?.uri).toBe('pvc://models/runs/gsm8k-lota/ticket.safetensors');
    expect(statSync(join(models, 'runs/gsm8k-lota/ticket.safetensors')).size).toBe(done.status.ticket?.bytes);
    expect(judge(done)).toEqual({ lua: 'Healthy', argo: 'Healthy', kstatus: 'Current' });

    const events = await getJson<{ items: { regarding?: { name: string }; reason: string }[] }>([
      'get',
      'events.events.k8s.io',
      '-n',
      workNs,
    ]);
    const reasons = events.items.filter((e) => e.regarding?.name === name).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Calibrating', 'Training', 'Succeeded']));

    // Nothing in the operator's log says it was refused anything.
    const log = readFileSync(operator.logFile, 'utf8');
    expect(log).not.toMatch(/forbidden/i);
  });

  it('with replicaCount=2, the operator elects itself leader on the Lease the chart lets it use', async () => {
    await operator?.stop(10_000);
    operator = undefined;
    await helm(['upgrade', release, chartDir, '--namespace', systemNs, '--reuse-values', '--set', 'replicaCount=2']);
    const started = await startFromDeployment('1');
    operator = started.component;
    expect(started.env.LOTA_LEADER_ELECT).toBe('true');
    const lease = await waitFor(`Lease ${fullname} held by the operator`, async () => {
      const l = await getJson<{ spec: { holderIdentity?: string } }>(['get', 'lease', fullname, '-n', systemNs]);
      return l.spec.holderIdentity?.startsWith(`${fullname}-1_`) ? l : undefined;
    });
    expect(lease.spec.holderIdentity).toMatch(new RegExp(`^${fullname}-1_`));
    expect(readFileSync(operator.logFile, 'utf8')).not.toMatch(/forbidden/i);
  });
});
