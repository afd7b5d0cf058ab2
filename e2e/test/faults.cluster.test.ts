// The operator under cluster faults, against the real control plane: each test reproduces one defect found there
// (issue #14) or one fault users meet (operator killed, API server restarted, a Job deleted, a stalled lease). The
// trainer is the scripted test image (e2e/fixtures/scripted-trainer.ts): it keeps the trainer contract's phase
// records, termination messages and /progress without training, so each fault takes seconds.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { parseConfig } from '../../operator/src/config.ts';
import { Reconciler } from '../../operator/src/controller.ts';
import { EventRecorder } from '../../operator/src/events.ts';
import type { Informers } from '../../operator/src/informers.ts';
import { KubeClient } from '../../operator/src/kube/client.ts';
import type { KubeObject } from '../../operator/src/kube/resources.ts';
import { LeaderElector } from '../../operator/src/leader.ts';
import { OperatorMetrics } from '../../operator/src/metrics.ts';
import { startOperator as startInProcess } from '../../operator/src/operator.ts';
import { ProgressPoller } from '../../operator/src/progress.ts';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { type RunningOperator, startOperator, TRAINER_IMAGE_REF } from '../harness/operator.ts';
import { startTcpProxy } from '../harness/tcp-proxy.ts';
import { createLocalClaim } from '../harness/volumes.ts';
import { waitFor } from '../harness/wait.ts';
import { SCRIPTED_TRAINER_IMAGE } from '../node/images-default.ts';

const { kubectl, kubeconfigPath, logsDir, pvcRoot } = cluster();
const namespaces: string[] = [];
const pvs: string[] = [];
const operators: RunningOperator[] = [];

async function namespaceWithClaims(prefix: string): Promise<{ ns: string; models: string }> {
  const ns = await createNamespace(kubectl, prefix);
  namespaces.push(ns);
  const models = await createLocalClaim(kubectl, { namespace: ns, claim: 'models', pvcRoot });
  await createLocalClaim(kubectl, { namespace: ns, claim: 'datasets', pvcRoot });
  pvs.push(`${ns}-models`, `${ns}-datasets`);
  return { ns, models };
}

async function operatorFor(ns: string[], extraArgs: string[] = [], kubeconfig = kubeconfigPath) {
  const op = await startOperator({ kubeconfigPath: kubeconfig, logsDir, namespaces: ns, extraArgs });
  operators.push(op);
  return op;
}

afterAll(async () => {
  for (const op of operators) await op.stop().catch(() => {});
  for (const ns of namespaces) await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  if (pvs.length > 0) await kubectl(['delete', 'pv', ...pvs, '--wait=false', '--ignore-not-found']).catch(() => {});
});

type Env = Record<string, string>;

/** A LotaAdaptation run by the scripted trainer with `env`. */
function scripted(ns: string, name: string, env: Env = {}, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'LotaAdaptation',
    metadata: { name, namespace: ns },
    spec: {
      baseModel: { uri: 'pvc://models/base' },
      dataset: { uri: 'pvc://datasets/a.jsonl', format: 'prompt-completion' },
      lota: { sparsity: 0.9, calibration: { steps: 2 } },
      training: { maxSteps: 2 },
      output: { uri: `pvc://models/runs/${name.slice(0, 40)}` },
      trainer: { image: SCRIPTED_TRAINER_IMAGE, env: Object.entries(env).map(([k, value]) => ({ name: k, value })) },
      ...spec,
    },
  };
}

/** A TicketMerge of `refs`' tickets, run by the scripted trainer. */
function scriptedMerge(ns: string, name: string, refs: string[], env: Env = {}) {
  return {
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'TicketMerge',
    metadata: { name, namespace: ns },
    spec: {
      baseModel: { uri: 'pvc://models/base' },
      tickets: refs.map((r) => ({ adaptationRef: { name: r } })),
      method: 'sum',
      output: { uri: `pvc://models/runs/${name}`, kind: 'model' },
      trainer: { image: SCRIPTED_TRAINER_IMAGE, env: Object.entries(env).map(([k, value]) => ({ name: k, value })) },
    },
  };
}

const apply = (obj: object) => kubectl(['apply', '-f', '-'], { input: JSON.stringify(obj) });

interface Obj {
  metadata: { name: string; uid: string; resourceVersion?: string; ownerReferences?: { uid: string }[] };
  spec?: Record<string, unknown>;
  status?: {
    phase?: string;
    message?: string;
    attempts?: Record<string, number>;
    progress?: Record<string, unknown>;
    mask?: unknown;
    conditions?: { type: string; status: string; reason: string; message: string }[];
    active?: number;
    failed?: number;
    succeeded?: number;
    hard?: Record<string, string>;
  };
}

const get = async (ns: string, resource: string): Promise<Obj> =>
  JSON.parse(await kubectl(['get', '-n', ns, resource, '-o', 'json']));
const tryGet = (ns: string, resource: string) => get(ns, resource).catch(() => undefined);
const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

async function jobsOf(ns: string, uid: string): Promise<Obj[]> {
  const list = JSON.parse(await kubectl(['get', 'jobs', '-n', ns, '-o', 'json'])) as { items: Obj[] };
  return list.items.filter((j) => j.metadata.ownerReferences?.some((r) => r.uid === uid));
}

async function events(ns: string, name: string): Promise<{ reason: string; type: string; note?: string }[]> {
  const list = JSON.parse(await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json'])) as {
    items: { reason: string; type: string; note?: string; regarding: { name: string } }[];
  };
  return list.items.filter((e) => e.regarding.name === name);
}

async function finished(ns: string, resource: string, timeoutMs = 120_000): Promise<Obj> {
  return waitFor(
    `${resource} Succeeded or Failed`,
    async () => {
      const o = await get(ns, resource);
      return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
    },
    { timeoutMs },
  );
}

/** Sum of a metric's samples whose labels include `labels`, from a Prometheus text exposition. */
async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

describe('operator faults on the real control plane', () => {
  let ns = '';
  let models = '';
  let op: RunningOperator;
  let quotaNs = '';

  beforeAll(async () => {
    ({ ns, models } = await namespaceWithClaims('faults'));
    quotaNs = (await namespaceWithClaims('quota')).ns;
    op = await operatorFor([ns, quotaNs]);
  });

  it('defect 1: a phase that completed while the operator was down, its pod since deleted, is recovered, not Failed', async () => {
    await apply(scripted(ns, 'podgone', { SCRIPTED_RUN_MS: '3000' }));
    const uid = (await get(ns, 'lotaadaptation/podgone')).metadata.uid;
    await waitFor('podgone-calibrate running', async () => (await tryGet(ns, 'job/podgone-calibrate'))?.status?.active);
    await op.kill();
    await waitFor('podgone-calibrate complete', async () => (await get(ns, 'job/podgone-calibrate')).status?.succeeded);
    // PodGC, a node scale-down or a user's cleanup: the pod and its termination message are gone.
    await kubectl(['delete', 'pods', '-n', ns, '-l', 'job-name=podgone-calibrate', '--wait=true']);
    op = await operatorFor([ns, quotaNs]);
    const done = await finished(ns, 'lotaadaptation/podgone');
    expect(done.status?.message).toBe('LotaAdaptation podgone succeeded: scripted train done');
    expect(done.status?.mask).toMatchObject({ uri: 'pvc://models/runs/podgone/mask.safetensors' });
    expect((await jobsOf(ns, uid)).map((j) => j.metadata.name).sort()).toEqual(['podgone-calibrate', 'podgone-train']);
  });

  it('the operator SIGKILLed in every phase (calibrate, train, merge): one Job per phase, the runs complete', async () => {
    const env = { SCRIPTED_RUN_MS: '4000' };
    await apply({
      apiVersion: 'v1',
      kind: 'List',
      items: [scripted(ns, 'killed', env), scriptedMerge(ns, 'killed-merge', ['killed'], env)],
    });
    const uids: Record<string, string> = {};
    for (const job of ['killed-calibrate', 'killed-train', 'killed-merge-merge']) {
      const running = await waitFor(
        `${job} running`,
        async () => {
          const j = await tryGet(ns, `job/${job}`);
          return j?.status?.active ? j : undefined;
        },
        { timeoutMs: 90_000 },
      );
      uids[job] = running.metadata.uid;
      await op.kill();
      op = await operatorFor([ns, quotaNs]);
    }
    expect((await finished(ns, 'lotaadaptation/killed')).status?.phase).toBe('Succeeded');
    const merge = await finished(ns, 'ticketmerge/killed-merge');
    expect(merge.status?.phase).toBe('Succeeded');
    const adaptation = await get(ns, 'lotaadaptation/killed');
    const jobs = [...(await jobsOf(ns, adaptation.metadata.uid)), ...(await jobsOf(ns, merge.metadata.uid))];
    expect(Object.fromEntries(jobs.map((j) => [j.metadata.name, j.metadata.uid]))).toEqual(uids);
  });

  it('defect 3: a same-named Job the operator does not own fails the run with JobNameConflict, once', async () => {
    const foreign = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'taken-calibrate', namespace: ns },
      spec: {
        suspend: true,
        template: {
          spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] },
        },
      },
    };
    await apply(foreign);
    const before = await metric(op.metricsUrl, 'lota_jobs_created_total');
    await apply(scripted(ns, 'taken'));
    const failed = await waitFor(
      'taken Failed',
      async () => {
        const c = cond(await get(ns, 'lotaadaptation/taken'), 'Failed');
        return c?.status === 'True' ? c : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(failed.reason).toBe('JobNameConflict');
    expect(failed.message).toMatch(/taken-calibrate/);
    const warnings = await waitFor('a JobNameConflict Event', async () => {
      const e = (await events(ns, 'taken')).filter((x) => x.reason === 'JobNameConflict');
      return e.length > 0 ? e : undefined;
    });
    expect(warnings[0]?.type).toBe('Warning');
    expect(await metric(op.metricsUrl, 'lota_jobs_created_total')).toBe(before);
    expect((await get(ns, 'job/taken-calibrate')).metadata.ownerReferences).toBeUndefined();
  });

  it('defect 4: a Job refused by a ResourceQuota shows the API server message in status and an Event, then proceeds', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'no-jobs', namespace: quotaNs },
      spec: { hard: { 'count/jobs.batch': '0' } },
    });
    await waitFor('quota computed', async () => (await get(quotaNs, 'resourcequota/no-jobs')).status?.hard ?? false);
    await apply(scripted(quotaNs, 'quota'));
    const blocked = await waitFor(
      'quota blocked with the reason',
      async () => {
        const c = cond(await get(quotaNs, 'lotaadaptation/quota'), 'Ready');
        return c?.reason === 'JobCreateRefused' ? c : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(blocked.message).toMatch(/exceeded quota/);
    const warning = await waitFor('a JobCreateRefused Event', async () =>
      (await events(quotaNs, 'quota')).find((e) => e.reason === 'JobCreateRefused'),
    );
    expect(warning.note).toMatch(/exceeded quota/);
    await kubectl(['delete', 'resourcequota', 'no-jobs', '-n', quotaNs]);
    expect((await finished(quotaNs, 'lotaadaptation/quota')).status?.phase).toBe('Succeeded');
  });

  it('defect 6 + a 250-character name: the run succeeds and every Event is recorded', async () => {
    const name = `long-${'a'.repeat(245)}`;
    expect(name).toHaveLength(250);
    await apply(scripted(ns, name));
    expect((await finished(ns, `lotaadaptation/${name}`)).status?.phase).toBe('Succeeded');
    const reasons = await waitFor('the Succeeded Event', async () => {
      const r = (await events(ns, name)).map((e) => e.reason);
      return r.includes('Succeeded') ? r : undefined;
    });
    expect(reasons).toContain('Calibrating');
  });

  it('defect 9: a trainer serving hostile /progress JSON is clamped, and suspend still works', async () => {
    const hostile = JSON.stringify({ phase: 'calibrate', step: 7, totalSteps: 2, percent: 250, loss: null });
    await apply(scripted(ns, 'hostile', { SCRIPTED_RUN_MS: 'forever', SCRIPTED_PROGRESS: hostile }));
    const progress = await waitFor(
      'hostile progress in status',
      async () => (await get(ns, 'lotaadaptation/hostile')).status?.progress,
      { timeoutMs: 60_000 },
    );
    expect(progress).toMatchObject({ phase: 'calibrate', step: 2, totalSteps: 2, percent: 100 });
    expect(progress).not.toHaveProperty('loss');
    await kubectl(['patch', 'lotaadaptation', 'hostile', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    await waitFor(
      'hostile Suspended',
      async () => (await get(ns, 'lotaadaptation/hostile')).status?.phase === 'Suspended',
      { timeoutMs: 60_000 },
    );
  });

  it('defect 12: a Job deleted mid-phase is one more counted attempt; the retry budget is summed; no overlap with the Terminating pod', async () => {
    const markers = join(models, 'budget');
    await apply(
      scripted(
        ns,
        'budget',
        {
          SCRIPTED_RUN_MS: 'forever',
          SCRIPTED_FAIL_FIRST: '/mnt/pvc/models/budget/fail',
          SCRIPTED_MARKS: '/mnt/pvc/models/budget/marks',
          SCRIPTED_TERM_DELAY_MS: '5000',
        },
        { backoffLimit: 2 },
      ),
    );
    const first = await waitFor(
      'the first attempt failed and the second runs',
      async () => {
        const j = await tryGet(ns, 'job/budget-calibrate');
        return j?.status?.failed === 1 && j.status.active === 1 ? j : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const template = (first.spec as { template: { spec: { securityContext: Record<string, unknown> } } }).template.spec;
    // Soft assertions: each part of defect 12 reports on its own.
    expect.soft(template.securityContext).toMatchObject({ fsGroup: 65532, fsGroupChangePolicy: 'OnRootMismatch' });
    const marks = () =>
      readFileSync(join(markers, 'marks/calibrate.log'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' '));
    await waitFor('attempts 2 in status, the second running', async () => {
      const attempts = (await get(ns, 'lotaadaptation/budget')).status?.attempts?.calibrate;
      return attempts === 2 && marks().filter((m) => m[0] === 'start').length === 2;
    });
    await kubectl(['delete', 'job', 'budget-calibrate', '-n', ns, '--wait=false']);
    const second = await waitFor(
      'a new calibrate Job runs',
      async () => {
        const j = await tryGet(ns, 'job/budget-calibrate');
        return j && j.metadata.uid !== first.metadata.uid && j.status?.active ? j : undefined;
      },
      { timeoutMs: 60_000 },
    );
    // One failure spent of backoffLimit 2: the new Job may fail once more.
    expect.soft(second.spec?.backoffLimit).toBe(1);
    await waitFor('the third attempt started', async () => marks().filter((m) => m[0] === 'start').length === 3);
    // The second pod (deleted with its Job) had stopped before the third started.
    const starts = marks()
      .filter((m) => m[0] === 'start')
      .map((m) => Number(m[1]));
    const ends = marks()
      .filter((m) => m[0] === 'end')
      .map((m) => Number(m[1]));
    expect.soft(ends.length).toBeGreaterThanOrEqual(2);
    expect.soft(starts[2]).toBeGreaterThanOrEqual(ends[1] ?? Number.POSITIVE_INFINITY);
    const attempts = await waitFor(
      'attempts 3 in status',
      async () => {
        const a = (await get(ns, 'lotaadaptation/budget')).status?.attempts?.calibrate;
        return a === 3 ? a : undefined;
      },
      { timeoutMs: 20_000 },
    ).catch(async () => (await get(ns, 'lotaadaptation/budget')).status?.attempts?.calibrate);
    expect(attempts).toBe(3);
    await kubectl(['delete', 'lotaadaptation', 'budget', '-n', ns, '--wait=false']);
  });

  it('defect 7: Jobs past ttlSecondsAfterFinished stay until the final status is stored', async () => {
    const policy = `deny-succeeded-${ns}`;
    const objects = [
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicy',
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ['lota.dev'],
                apiVersions: ['*'],
                operations: ['UPDATE'],
                resources: ['lotaadaptations/status'],
              },
            ],
          },
          validations: [
            {
              expression:
                "!(object.metadata.name in ['ttl', 'ttl-probe']) || !has(object.status) || !has(object.status.phase) || object.status.phase != 'Succeeded'",
              message: 'test: storing Succeeded is refused',
            },
          ],
        },
      },
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
        },
      },
    ];
    await apply({ apiVersion: 'v1', kind: 'List', items: objects });
    try {
      await apply(scripted(ns, 'ttl-probe', {}, { suspend: true }));
      await waitFor('the policy in force', async () => {
        const out = await kubectl([
          'patch',
          'lotaadaptation',
          'ttl-probe',
          '-n',
          ns,
          '--subresource=status',
          '--type=merge',
          '-p',
          '{"status":{"phase":"Succeeded"}}',
        ]).catch((e: Error) => e.message);
        return out.includes('storing Succeeded is refused');
      });
      const errorsBefore = await metric(op.metricsUrl, 'controller_runtime_reconcile_errors_total', {
        controller: 'lotaadaptation',
      });
      await apply(scripted(ns, 'ttl', {}, { ttlSecondsAfterFinished: 0 }));
      const train = await waitFor(
        'ttl-train complete',
        async () => {
          const j = await tryGet(ns, 'job/ttl-train');
          return j?.status?.succeeded ? j : undefined;
        },
        { timeoutMs: 60_000 },
      );
      await waitFor('two refused status writes', async () => {
        const errors = await metric(op.metricsUrl, 'controller_runtime_reconcile_errors_total', {
          controller: 'lotaadaptation',
        });
        return errors - errorsBefore >= 2;
      });
      expect((await tryGet(ns, 'job/ttl-train'))?.metadata.uid).toBe(train.metadata.uid);
      expect((await get(ns, 'lotaadaptation/ttl')).status?.phase).toBe('Training');
    } finally {
      await kubectl(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy]);
    }
    expect((await finished(ns, 'lotaadaptation/ttl', 60_000)).status?.phase).toBe('Succeeded');
    await waitFor('Jobs of ttl deleted', async () => (await tryGet(ns, 'job/ttl-train')) === undefined);
  });
});

describe('ttlSecondsAfterFinished of 30 days', () => {
  it('defect 2: leaves the operator idle after success (≤ 1 reconcile per resource per minute)', async () => {
    const { ns } = await namespaceWithClaims('idle');
    const op = await operatorFor([ns]);
    await apply(scripted(ns, 'month', {}, { ttlSecondsAfterFinished: 2_592_000 }));
    expect((await finished(ns, 'lotaadaptation/month')).status?.phase).toBe('Succeeded');
    const reconciles = () =>
      metric(op.metricsUrl, 'controller_runtime_reconcile_total', { controller: 'lotaadaptation' });
    // Let the reconciles the last status write caused settle (a busy loop never does), then count over a window.
    await waitFor(
      'the queue drained',
      async () => {
        const a = await reconciles();
        await new Promise((r) => setTimeout(r, 1000));
        return (await reconciles()) === a;
      },
      { timeoutMs: 10_000 },
    ).catch(() => undefined);
    const start = await reconciles();
    const windowMs = 15_000;
    await new Promise((r) => setTimeout(r, windowMs));
    expect(await reconciles()).toBeLessThanOrEqual(start + 1);
  });
});

describe('namespaces sync independently', () => {
  it('defect 10: a namespace the operator cannot list does not stop the others', async () => {
    const good = await createNamespace(kubectl, 'nsgood');
    const bad = await createNamespace(kubectl, 'nsbad');
    namespaces.push(good, bad);
    const rbac = parseYaml(
      readFileSync(new URL('../../operator/deploy/rbac.yaml', import.meta.url), 'utf8').split('\n---\n')[1] ?? '',
    ) as { rules: unknown[] };
    const items = [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'op', namespace: good } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'op', namespace: good },
        rules: rbac.rules,
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'op', namespace: good },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'op' },
        subjects: [{ kind: 'ServiceAccount', name: 'op', namespace: good }],
      },
    ];
    await apply({ apiVersion: 'v1', kind: 'List', items });
    const token = (await kubectl(['create', 'token', 'op', '-n', good, '--duration=1h'])).trim();
    const admin = new KubeConfig();
    admin.loadFromFile(kubeconfigPath);
    const server = admin.getCurrentCluster();
    if (!server) throw new Error('no cluster in the kubeconfig');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ ...server, name: 'c' }],
      users: [{ name: 'op', token }],
      contexts: [{ name: 'op', cluster: 'c', user: 'op' }],
      currentContext: 'op',
    });
    const config = parseConfig(
      [
        `--namespaces=${good},${bad}`,
        `--trainer-image=${TRAINER_IMAGE_REF}`,
        '--metrics-port=0',
        '--health-port=0',
        '--leader-elect=false',
      ],
      {},
    );
    const log = pino({ level: 'info' }, pino.destination({ dest: join(logsDir, 'operator-nsgood.log'), sync: true }));
    const running = await startInProcess(config, kc, log, { defaultMetrics: false });
    try {
      await apply(scripted(good, 'fine', {}, { suspend: true }));
      await waitFor(
        'the good namespace reconciled',
        async () => (await get(good, 'lotaadaptation/fine')).status?.phase === 'Suspended',
        { timeoutMs: 30_000 },
      );
    } finally {
      await running.stop();
    }
  });
});

describe('status conflicts', () => {
  it('defect 11: a transition refused with 409 records no Event and no metric', async () => {
    const ns = await createNamespace(kubectl, 'conflict');
    namespaces.push(ns);
    const cycle = (name: string, other: string) => ({
      ...scripted(ns, name),
      spec: { ...scripted(ns, name).spec, lota: { sparsity: 0.9, excludeTicketsOf: [other] } },
    });
    await apply({ apiVersion: 'v1', kind: 'List', items: [cycle('c1', 'c2'), cycle('c2', 'c1')] });
    // What a lagging watch shows: the objects before their first status.
    const snapshot = new Map<string, KubeObject>([
      [`${ns}/c1`, (await get(ns, 'lotaadaptation/c1')) as unknown as KubeObject],
      [`${ns}/c2`, (await get(ns, 'lotaadaptation/c2')) as unknown as KubeObject],
    ]);
    const cache = {
      get: (kind: string, key: string) => (kind === 'LotaAdaptation' ? snapshot.get(key) : undefined),
      list: () => [],
      byIndex: () => [],
      assume: () => {},
      hasSynced: () => true,
    } as unknown as Informers;
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const client = new KubeClient(kc);
    const log = pino({ level: 'silent' });
    const metrics = new OperatorMetrics({ defaults: false });
    const reconciler = new Reconciler({
      client,
      informers: cache,
      events: new EventRecorder(client, 'conflict-test', log),
      metrics,
      progress: new ProgressPoller(),
      log,
      defaultImage: TRAINER_IMAGE_REF,
    });
    await reconciler.reconcile('LotaAdaptation', `${ns}/c1`);
    expect((await get(ns, 'lotaadaptation/c1')).status?.phase).toBe('Failed');
    // The same stale view again: its status write is refused (409), as another replica's would be.
    await reconciler.reconcile('LotaAdaptation', `${ns}/c1`).catch(() => undefined);
    const failures = await metrics.failures.get();
    expect(failures.values.filter((v) => v.labels.reason === 'DependencyCycle').map((v) => v.value)).toEqual([1]);
    const warnings = await waitFor('the DependencyCycle Event', async () => {
      const e = (await events(ns, 'c1')).filter((x) => x.reason === 'DependencyCycle');
      return e.length > 0 ? e : undefined;
    });
    expect(warnings).toHaveLength(1);
  });
});

describe('two replicas', () => {
  it('defect 8: a leader whose renewals hang stops leading within its renew deadline', async () => {
    const ns = await createNamespace(kubectl, 'lease');
    namespaces.push(ns);
    const admin = new KubeConfig();
    admin.loadFromFile(kubeconfigPath);
    const server = admin.getCurrentCluster();
    if (!server) throw new Error('no cluster in the kubeconfig');
    const target = new URL(server.server);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ ...server, server: `https://${target.hostname}:${proxy.port}` }],
      users: admin.users,
      contexts: admin.contexts,
      currentContext: admin.currentContext,
    });
    const renewDeadlineMs = 4000;
    // Timers wake by libuv's cached loop time, which lags performance.now(): a timer set for the deadline can run a
    // little before it by the elector's clock. This clock runs 2% slow so that every wake-up is early.
    const lagging = () => performance.now() * 0.98;
    let steppedDown = false;
    const elector = new LeaderElector({
      client: new KubeClient(kc),
      namespace: ns,
      name: 'hung',
      identity: 'hung',
      log: pino({ level: 'silent' }),
      leaseDurationMs: 15_000,
      renewDeadlineMs,
      retryPeriodMs: 1000,
      clock: lagging,
    });
    const run = elector.run(
      () => {},
      () => {
        steppedDown = true;
      },
    );
    try {
      await waitFor('leading', async () => elector.isLeader());
      proxy.stall();
      // Others take over 15 s after the last renewal they saw; this one must have stopped well before, and said so
      // (the operator's lota_leader gauge and its exit hang on that call, not on isLeader()).
      await waitFor('stopped leading', async () => !elector.isLeader(), { timeoutMs: renewDeadlineMs + 3000 });
      await waitFor('stepped down', async () => steppedDown, { timeoutMs: 1000 });
    } finally {
      elector.stop();
      proxy.resume();
      await run;
      await proxy.close();
    }
  });

  it("two replicas, the active one's renewals stalled through a proxy: never both lead, it stops reconciling first", async () => {
    const { ns } = await namespaceWithClaims('leader');
    const kc = parseYaml(readFileSync(kubeconfigPath, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    const cluster0 = kc.clusters[0];
    if (!cluster0) throw new Error('no cluster in the kubeconfig');
    const target = new URL(cluster0.cluster.server);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    cluster0.cluster.server = `https://${target.hostname}:${proxy.port}`;
    const proxied = join(logsDir, `kubeconfig-proxied-${ns}`);
    writeFileSync(proxied, toYaml(kc));
    const args = ['--leader-elect=true', `--lease-namespace=${ns}`, '--log-level=debug'];
    try {
      const a = await operatorFor([ns], [...args, '--identity=replica-a'], proxied);
      await waitFor('a leads', async () => (await metric(a.metricsUrl, 'lota_leader')) === 1);
      const b = await operatorFor([ns], [...args, '--identity=replica-b']);
      await apply(scripted(ns, 'steady', { SCRIPTED_RUN_MS: 'forever' }));
      await waitFor('steady reconciled by a', async () => (await get(ns, 'lotaadaptation/steady')).status?.progress, {
        timeoutMs: 60_000,
      });
      proxy.stall();
      await waitFor('b leads', async () => (await metric(b.metricsUrl, 'lota_leader')) === 1, { timeoutMs: 60_000 });
      // At the instant b leads, a must have stopped: exited, or no longer leading by its own metrics.
      const aLeads =
        a.component.process.exitCode === null ? await metric(a.metricsUrl, 'lota_leader').catch(() => 0) : 0;
      proxy.resume();
      expect(aLeads).toBe(0);
      await waitFor('a exits', async () => a.component.process.exitCode !== null, { timeoutMs: 60_000 });
      const lines = (file: string) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { time: number; msg: string });
      const aLog = lines(a.logFile);
      const bLeads = lines(b.logFile).find((l) => l.msg === 'became leader')?.time ?? 0;
      const aLastReconcile = Math.max(...aLog.filter((l) => l.msg === 'reconciled').map((l) => l.time));
      expect(bLeads).toBeGreaterThan(0);
      expect(aLastReconcile).toBeLessThan(bLeads);
    } finally {
      await proxy.close();
    }
  });
});
