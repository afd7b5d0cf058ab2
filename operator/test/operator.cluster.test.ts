// The operator against the real control plane (etcd, kube-apiserver, controller-manager with the Job and garbage
// collector controllers, scheduler) and the local node, which runs the real trainer CLI for the trainer image.
// The operator runs in-process here (its reflectors, leader election and status writes all talk to the real API
// server); e2e/ runs it as a process.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { writeTask, writeTinyBaseModel } from '../../e2e/fixtures/tiny-base.ts';
import { cluster, createNamespace } from '../../e2e/harness/cluster.ts';
import { TRAINER_IMAGE_REF } from '../../e2e/harness/operator.ts';
import { createLocalClaim } from '../../e2e/harness/volumes.ts';
import { waitFor } from '../../e2e/harness/wait.ts';
import { parseConfig } from '../src/config.ts';
import { KubeClient } from '../src/kube/client.ts';
import { LeaderElector } from '../src/leader.ts';
import { type RunningOperator, startOperator } from '../src/operator.ts';

const { kubectl, kubeconfigPath, logsDir, pvcRoot } = cluster();
let ns = '';
let operator: RunningOperator;
const log = pino({ level: 'debug' }, pino.destination({ dest: join(logsDir, 'operator-in-process.log'), sync: true }));

interface Obj {
  metadata: { name: string; uid: string; ownerReferences?: { uid: string; kind: string }[] };
  spec: Record<string, unknown> & {
    template?: { spec: { containers: { env: { name: string; value?: string }[] }[] } & Record<string, unknown> };
  };
  status?: Record<string, unknown> & {
    phase?: string;
    conditions?: { type: string; status: string; reason: string }[];
  };
}

const get = async (kind: string, name: string): Promise<Obj> =>
  JSON.parse(await kubectl(['get', kind, name, '-n', ns, '-o', 'json']));
const exists = async (kind: string, name: string) =>
  (await kubectl(['get', kind, name, '-n', ns, '--ignore-not-found', '-o', 'name'])).trim() !== '';
const apply = (obj: object) => kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(obj) });
const cond = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);

async function phaseOf(kind: string, name: string, want: string[], timeoutMs = 240_000): Promise<Obj> {
  return waitFor(
    `${kind} ${name} in ${want.join('|')}`,
    async () => {
      const o = await get(kind, name);
      return want.includes(o.status?.phase ?? '') ? o : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

const adaptation = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'lota.dev/v1alpha1',
  kind: 'LotaAdaptation',
  metadata: { name },
  spec: {
    baseModel: { uri: 'pvc://models/base' },
    dataset: { uri: 'pvc://data/a.jsonl', format: 'prompt-completion' },
    lota: { sparsity: 0.9, calibration: { steps: 4 } },
    training: { maxSteps: 6, batchSize: 4 },
    output: { uri: `pvc://models/runs/${name}` },
    ...spec,
  },
});

/**
 * Credentials of a ServiceAccount bound to exactly the rules of operator/deploy/rbac.yaml (the Lease Role in the test
 * namespace), so these tests also prove that the documented RBAC is enough.
 */
async function restrictedKubeConfig(): Promise<KubeConfig> {
  const docs = parseAllDocuments(await readFile(new URL('../deploy/rbac.yaml', import.meta.url), 'utf8')).map((d) =>
    d.toJS(),
  );
  const rulesOf = (kind: string) => docs.find((d) => d.kind === kind)?.rules;
  const subject = [{ kind: 'ServiceAccount', name: 'lota-operator', namespace: ns }];
  const items = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'lota-operator', namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `lota-operator-${ns}` },
      rules: rulesOf('ClusterRole'),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `lota-operator-${ns}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `lota-operator-${ns}` },
      subjects: subject,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'leader', namespace: ns },
      rules: rulesOf('Role'),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'leader', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leader' },
      subjects: subject,
    },
  ];
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
  const token = (await kubectl(['create', 'token', 'lota-operator', '-n', ns, '--duration=2h'])).trim();
  const admin = new KubeConfig();
  admin.loadFromFile(kubeconfigPath);
  const server = admin.getCurrentCluster();
  if (!server) throw new Error('kubeconfig without a cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...server, name: 'test' }],
    users: [{ name: 'lota-operator', token }],
    contexts: [{ name: 'operator', cluster: 'test', user: 'lota-operator' }],
    currentContext: 'operator',
  });
  return kc;
}

beforeAll(async () => {
  ns = await createNamespace(kubectl, 'operator');
  const models = await createLocalClaim(kubectl, { namespace: ns, claim: 'models', pvcRoot });
  const data = await createLocalClaim(kubectl, { namespace: ns, claim: 'data', pvcRoot });
  await writeTinyBaseModel(join(models, 'base'));
  await writeTask(join(data, 'a.jsonl'), 'a');
  await writeTask(join(data, 'b.jsonl'), 'b');
  await mkdir(join(data, 'bad'), { recursive: true });
  await writeFile(join(data, 'bad', 'broken.jsonl'), 'this is not JSON\n');

  const config = parseConfig(
    [
      `--namespaces=${ns}`,
      `--trainer-image=${TRAINER_IMAGE_REF}`,
      '--metrics-port=0',
      '--health-port=0',
      `--lease-namespace=${ns}`,
      '--progress-interval=1',
    ],
    {},
  );
  operator = await startOperator(config, await restrictedKubeConfig(), log, { resyncMs: 2000, defaultMetrics: false });
  await waitFor('operator caches synced', async () => operator.informers.hasSynced());
});

afterAll(async () => {
  await operator?.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await kubectl(['delete', 'clusterrole,clusterrolebinding', `lota-operator-${ns}`, '--ignore-not-found']);
});

describe('LotaAdaptation on a real cluster', () => {
  it('runs calibrate then train as owned, hardened Jobs and succeeds with mask, ticket and results', async () => {
    await apply(adaptation('task-a', {}));
    const calibrate = await waitFor(
      'Job task-a-calibrate',
      async () => (await exists('job', 'task-a-calibrate')) && get('job', 'task-a-calibrate'),
    );
    const owner = await get('lotaadaptation', 'task-a');
    expect(calibrate.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'LotaAdaptation', uid: owner.metadata.uid, controller: true }),
    ]);
    expect(calibrate.spec.podFailurePolicy).toEqual({
      rules: [
        { action: 'FailJob', onExitCodes: { containerName: 'trainer', operator: 'In', values: [10, 11, 12] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      ],
    });
    const pod = calibrate.spec.template?.spec;
    const env = Object.fromEntries((pod?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      LOTA_PHASE: 'calibrate',
      LOTA_NAME: 'task-a',
      LOTA_NAMESPACE: ns,
      LOTA_TICKET_REFS: '{}',
    });
    expect(JSON.parse(env.LOTA_SPEC ?? '')).toMatchObject({ output: { uri: 'pvc://models/runs/task-a' } });
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });

    const done = await phaseOf('lotaadaptation', 'task-a', ['Succeeded', 'Failed']);
    expect(done.status?.message).not.toMatch(/failed/);
    expect(done.status).toMatchObject({
      phase: 'Succeeded',
      observedGeneration: 1,
      mask: { uri: 'pvc://models/runs/task-a/mask.safetensors' },
      ticket: { uri: 'pvc://models/runs/task-a/ticket.safetensors' },
      attempts: { calibrate: 1, train: 1 },
    });
    expect((done.status?.results as { trainLoss?: number } | undefined)?.trainLoss).toBeGreaterThan(0);
    expect(cond(done, 'Succeeded')?.status).toBe('True');
    expect(cond(done, 'Ready')?.status).toBe('True');
    await kubectl(['wait', '--for=condition=Succeeded', 'lotaadaptation/task-a', '-n', ns, '--timeout=10s']);
    expect(await exists('job', 'task-a-train')).toBe(true);

    const events = JSON.parse(await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json'])).items as {
      regarding: { name: string };
      reason: string;
      reportingController: string;
    }[];
    const reasons = events.filter((e) => e.regarding.name === 'task-a').map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Calibrating', 'Training', 'Succeeded']));

    const text = await operator.metrics.registry.metrics();
    expect(text).toContain('lota_jobs_created_total{kind="LotaAdaptation",phase="calibrate"} 1');
    expect(text).toMatch(
      /controller_runtime_reconcile_total\{controller="lotaadaptation",result="(success|requeue_after)"\} [1-9]/,
    );
    expect(text).toContain('lota_ticket_bytes_count 1');
  });

  it('runs a LoTTO successor and a merge only after their tickets exist, passing the ticket URIs', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        adaptation('task-c', { dataset: { uri: 'pvc://data/a.jsonl', format: 'prompt-completion' } }),
        adaptation('task-d', {
          dataset: { uri: 'pvc://data/b.jsonl', format: 'prompt-completion' },
          lota: { sparsity: 0.9, calibration: { steps: 4 }, excludeTicketsOf: ['task-c'] },
        }),
        {
          apiVersion: 'lota.dev/v1alpha1',
          kind: 'TicketMerge',
          metadata: { name: 'merged' },
          spec: {
            baseModel: { uri: 'pvc://models/base' },
            tickets: [{ adaptationRef: { name: 'task-c' } }, { adaptationRef: { name: 'task-d' } }],
            output: { uri: 'pvc://models/merged' },
          },
        },
      ],
    });
    const waiting = await phaseOf('lotaadaptation', 'task-d', ['Pending']);
    expect(cond(waiting, 'Ready')?.reason).toBe('WaitingForTickets');
    expect((await phaseOf('ticketmerge', 'merged', ['WaitingForTickets'])).status?.message).toContain('task-c');
    expect(await exists('job', 'task-d-calibrate')).toBe(false);

    await phaseOf('lotaadaptation', 'task-c', ['Succeeded']);
    const job = await waitFor(
      'Job task-d-calibrate',
      async () => (await exists('job', 'task-d-calibrate')) && get('job', 'task-d-calibrate'),
    );
    const env = Object.fromEntries((job.spec.template?.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(JSON.parse(env.LOTA_TICKET_REFS ?? '')).toEqual({ 'task-c': 'pvc://models/runs/task-c/ticket.safetensors' });

    expect((await phaseOf('lotaadaptation', 'task-d', ['Succeeded', 'Failed'], 300_000)).status?.phase).toBe(
      'Succeeded',
    );
    const merged = await phaseOf('ticketmerge', 'merged', ['Succeeded', 'Failed'], 300_000);
    expect(merged.status?.message).not.toMatch(/failed/);
    expect(merged.status).toMatchObject({
      phase: 'Succeeded',
      output: { uri: expect.stringContaining('pvc://models/merged') },
      tickets: [
        { name: 'task-c', uri: 'pvc://models/runs/task-c/ticket.safetensors' },
        { name: 'task-d', uri: 'pvc://models/runs/task-d/ticket.safetensors' },
      ],
    });
    // LoTTO masks are disjoint: the merged tickets do not overlap.
    expect((merged.status?.interference as { overlappingEntries?: number } | undefined)?.overlappingEntries).toBe(0);
  });

  it('fails at once, without retries, on a permanent trainer error, naming the trainer reason', async () => {
    await apply(
      adaptation('broken', {
        dataset: { uri: 'pvc://data/bad/broken.jsonl', format: 'prompt-completion' },
        backoffLimit: 3,
      }),
    );
    const failed = await phaseOf('lotaadaptation', 'broken', ['Failed', 'Succeeded']);
    expect(failed.status?.phase).toBe('Failed');
    expect(cond(failed, 'Failed')?.reason).toBe('InvalidDataset');
    expect(cond(failed, 'Stalled')?.status).toBe('True');
    expect(failed.status?.message).toContain('exit code 11');
    const job = await get('job', 'broken-calibrate');
    expect(job.status).toMatchObject({ failed: 1 });
    expect(await exists('job', 'broken-train')).toBe(false);
  });

  it('fails a LoTTO cycle at once instead of waiting forever', async () => {
    const lotto = (name: string, other: string) =>
      adaptation(name, { lota: { sparsity: 0.9, calibration: { steps: 4 }, excludeTicketsOf: [other] } });
    await apply({ apiVersion: 'v1', kind: 'List', items: [lotto('cyc-a', 'cyc-b'), lotto('cyc-b', 'cyc-a')] });
    for (const name of ['cyc-a', 'cyc-b']) {
      const failed = await phaseOf('lotaadaptation', name, ['Failed']);
      expect(cond(failed, 'Failed')?.reason).toBe('DependencyCycle');
      expect(failed.status?.message).toContain('excludeTicketsOf forms a cycle');
    }
    expect(await exists('job', 'cyc-a-calibrate')).toBe(false);
  });

  it('fails a run that cannot start within activeDeadlineSeconds, showing it queued meanwhile', async () => {
    // The local node cannot run this image: its pod waits (ErrImageNeverPull) like one stuck on a pull.
    await apply(adaptation('stuck', { trainer: { image: 'registry.invalid/none:1' }, activeDeadlineSeconds: 8 }));
    const queued = await waitFor('stuck queued', async () => {
      const o = await get('lotaadaptation', 'stuck');
      return cond(o, 'Ready')?.reason === 'Queued' ? o : undefined;
    });
    expect(queued.status?.phase).toBe('Calibrating');
    const failed = await phaseOf('lotaadaptation', 'stuck', ['Failed']);
    expect(cond(failed, 'Failed')?.reason).toBe('DeadlineExceeded');
  });

  it('retries a failed pod, suspends and resumes, and leaves no children after deletion', async () => {
    await apply(adaptation('long', { lota: { sparsity: 0.9, calibration: { steps: 100000 } }, backoffLimit: 2 }));
    const first = await waitFor('a running pod of long-calibrate', async () => {
      const pods = JSON.parse(await kubectl(['get', 'pods', '-n', ns, '-l', 'job-name=long-calibrate', '-o', 'json']))
        .items as Obj[];
      return pods.find((p) => p.status?.phase === 'Running');
    });
    // A pod that dies (here: deleted, exit 143 without a DisruptionTarget condition) is a counted failure.
    await kubectl(['delete', 'pod', first.metadata.name, '-n', ns, '--wait=true', '--timeout=60s']);
    const retried = await waitFor('a second attempt', async () => {
      const o = await get('lotaadaptation', 'long');
      return ((o.status?.attempts as { calibrate?: number })?.calibrate ?? 0) >= 2 ? o : undefined;
    });
    expect(retried.status?.phase).toBe('Calibrating');

    // An eviction is a disruption (DisruptionTarget): the Job retries without counting it against backoffLimit.
    const running = await waitFor('a running pod again', async () => {
      const pods = JSON.parse(await kubectl(['get', 'pods', '-n', ns, '-l', 'job-name=long-calibrate', '-o', 'json']))
        .items as Obj[];
      return pods.find((p) => p.status?.phase === 'Running');
    });
    const eviction = {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: running.metadata.name, namespace: ns },
    };
    await kubectl(['create', '--raw', `/api/v1/namespaces/${ns}/pods/${running.metadata.name}/eviction`, '-f', '-'], {
      input: JSON.stringify(eviction),
    });
    await waitFor('a pod after the eviction', async () => {
      const pods = JSON.parse(await kubectl(['get', 'pods', '-n', ns, '-l', 'job-name=long-calibrate', '-o', 'json']))
        .items as Obj[];
      return pods.some((p) => p.metadata.name !== running.metadata.name && p.status?.phase === 'Running');
    });
    expect((await get('job', 'long-calibrate')).status).toMatchObject({ failed: 1 });

    await kubectl(['patch', 'lotaadaptation', 'long', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    const suspended = await phaseOf('lotaadaptation', 'long', ['Suspended']);
    expect(cond(suspended, 'Reconciling')?.status).toBe('False');
    await waitFor('long-calibrate deleted', async () => !(await exists('job', 'long-calibrate')));

    await kubectl(['patch', 'lotaadaptation', 'long', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    await phaseOf('lotaadaptation', 'long', ['Calibrating']);
    const again = await waitFor(
      'long-calibrate recreated',
      async () => (await exists('job', 'long-calibrate')) && get('job', 'long-calibrate'),
    );

    await kubectl(['delete', 'lotaadaptation', 'long', '-n', ns, '--wait=true', '--timeout=60s']);
    await waitFor(
      'the garbage collector removes long-calibrate',
      async () => !(await exists('job', 'long-calibrate')),
      { timeoutMs: 60_000 },
    );
    expect(again.metadata.ownerReferences?.[0]?.kind).toBe('LotaAdaptation');
  });
});

describe('leader election on a real Lease', () => {
  it('lets one replica lead, and hands over at once when the leader releases', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const client = new KubeClient(kc);
    const events: string[] = [];
    const elector = (id: string) =>
      new LeaderElector({
        client,
        namespace: ns,
        name: 'election-test',
        identity: id,
        log,
        retryPeriodMs: 200,
        leaseDurationMs: 15_000,
      });
    const a = elector('a');
    const b = elector('b');
    const runA = a.run(
      () => events.push('a leads'),
      () => events.push('a lost'),
    );
    await waitFor('a leads', async () => a.isLeader());
    const runB = b.run(
      () => events.push('b leads'),
      () => events.push('b lost'),
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.isLeader()).toBe(false);
    const lease = JSON.parse(await kubectl(['get', 'lease', 'election-test', '-n', ns, '-o', 'json']));
    expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15 });

    a.stop();
    expect(await runA).toBe('stopped');
    // Released, so b need not wait out the 15 s lease.
    await waitFor('b leads', async () => b.isLeader(), { timeoutMs: 10_000 });
    b.stop();
    expect(await runB).toBe('stopped');
    expect(events).toEqual(['a leads', 'b leads']);
  });
});
