import { observeDependency as fromView } from '@lota/api/dependencies';
import { adaptationPlan } from '@lota/api/phase-machine';
import { describe, expect, it } from 'vitest';
import {
  type AdaptationObject,
  dependencyView,
  type JobObject,
  jobRelation,
  observePhase,
  observeResource,
  type PodObject,
} from '../src/reconcile/observe.ts';

const observeDependency = (a: AdaptationObject | undefined) => fromView(dependencyView(a));

const job = (status: JobObject['status'], spec: JobObject['spec'] = {}): JobObject => ({
  metadata: { name: 'a-train', namespace: 'ns', uid: 'job-uid' },
  spec,
  status,
});

const owner = [{ apiVersion: 'batch/v1', kind: 'Job', name: 'a-train', uid: 'job-uid', controller: true }];

function pod(
  phase: string,
  terminated?: { exitCode: number; message?: string; finishedAt?: string },
  extra: Partial<PodObject['status']> = {},
): PodObject {
  return {
    metadata: { name: `p-${phase}-${terminated?.finishedAt ?? ''}`, namespace: 'ns', ownerReferences: owner },
    status: {
      phase,
      ...(terminated && { containerStatuses: [{ name: 'trainer', state: { terminated } }] }),
      ...extra,
    },
  };
}

const tm = (outcome: 'Succeeded' | 'Failed', reason: string, message: string) =>
  JSON.stringify({
    version: 1,
    phase: 'train',
    outcome,
    reason,
    message,
    ticket: { uri: 'pvc://m/t', bytes: 1, density: 0.1, sha256: 'x' },
  });

const complete = { conditions: [{ type: 'Complete', status: 'True' }], succeeded: 1 };

describe('observePhase', () => {
  it('sees no Job as not started', () => {
    expect(observePhase(undefined, [])).toEqual({ state: 'NotStarted' });
  });

  it('reads a completed Job with the termination message of its pod', () => {
    const o = observePhase(job(complete), [
      pod('Succeeded', { exitCode: 0, message: tm('Succeeded', 'Completed', 'ok') }),
    ]);
    expect(o).toMatchObject({ state: 'Succeeded', termination: { reason: 'Completed', ticket: { uri: 'pvc://m/t' } } });
  });

  it('refuses a completed Job without a contract termination message', () => {
    const o = observePhase(job(complete), [pod('Succeeded', { exitCode: 0, message: 'some log tail' })]);
    expect(o).toMatchObject({ state: 'Failed', reason: 'InvalidTerminationMessage', permanent: true });
  });

  it('ignores pods of another Job with the same name (an earlier incarnation)', () => {
    const stranger = { ...pod('Succeeded', { exitCode: 0, message: tm('Succeeded', 'Completed', 'ok') }) };
    stranger.metadata.ownerReferences = [{ ...owner[0], uid: 'old' } as (typeof owner)[0]];
    expect(observePhase(job(complete), [stranger])).toMatchObject({ state: 'Lost' });
  });

  it('counts the attempts and failures of earlier Jobs that the Job carries', () => {
    const j = job({ active: 1, failed: 1 });
    j.metadata.annotations = { 'lota.dev/prior-attempts': '2', 'lota.dev/prior-failures': '1' };
    expect(observePhase(j, [pod('Running')])).toEqual({ state: 'Running', failures: 2, attempts: 4 });
  });

  it('takes the trainer reason of a permanent failure, with its exit code', () => {
    const failed = {
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: 'PodFailurePolicy',
          message: 'Container trainer for pod ns/p failed with exit code 11',
        },
      ],
      failed: 1,
    };
    const o = observePhase(job(failed), [
      pod('Failed', { exitCode: 11, message: tm('Failed', 'InvalidDataset', 'line 3: not JSON') }),
    ]);
    expect(o).toEqual({
      state: 'Failed',
      reason: 'InvalidDataset',
      message: 'line 3: not JSON',
      failures: 1,
      attempts: 1,
      permanent: true,
      exitCode: 11,
    });
  });

  it('reports a Job out of retries with the last attempt, log tail included', () => {
    const failed = {
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        },
      ],
      failed: 4,
    };
    const o = observePhase(job(failed), [
      pod('Failed', { exitCode: 1, message: 'old', finishedAt: '2026-01-01T00:00:00Z' }),
      pod('Failed', {
        exitCode: 20,
        message: 'Traceback\nline\nENOSPC: no space left',
        finishedAt: '2026-01-01T00:05:00Z',
      }),
    ]);
    expect(o).toMatchObject({
      state: 'Failed',
      reason: 'BackoffLimitExceeded',
      failures: 4,
      exitCode: 20,
      message: 'Traceback | line | ENOSPC: no space left',
    });
  });

  it('reports a Job past its deadline', () => {
    const failed = {
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: 'DeadlineExceeded',
          message: 'Job was active longer than specified deadline',
        },
      ],
    };
    expect(observePhase(job(failed), [])).toMatchObject({
      state: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Job was active longer than specified deadline',
    });
  });

  it('sees a suspended Job as queued, and a pending pod as waiting for a node', () => {
    expect(observePhase(job({}, { suspend: true }), [])).toMatchObject({ state: 'Queued' });
    const unschedulable = pod('Pending', undefined, {
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes have nvidia.com/gpu' },
      ],
    });
    expect(observePhase(job({ active: 1 }), [unschedulable])).toEqual({
      state: 'Queued',
      message: '0/3 nodes have nvidia.com/gpu',
    });
  });

  it('sees a running pod as running, with retries counted and progress attached', () => {
    const progress = { phase: 'train' as const, step: 3, totalSteps: 10, percent: 30 };
    expect(observePhase(job({ active: 1, failed: 2 }), [pod('Running')], progress)).toEqual({
      state: 'Running',
      failures: 2,
      attempts: 3,
      progress,
    });
  });
});

describe('observeDependency', () => {
  const adaptation = (status: object) => ({ metadata: { name: 'a', namespace: 'ns' }, status });
  it('maps an adaptation to missing, pending, succeeded (ticket or model) or failed', () => {
    expect(observeDependency(undefined)).toEqual({ state: 'Missing' });
    expect(observeDependency(adaptation({ phase: 'Training' }))).toEqual({ state: 'Pending', phase: 'Training' });
    expect(observeDependency(adaptation({ phase: 'Succeeded', ticket: { uri: 'pvc://m/t' } }))).toEqual({
      state: 'Succeeded',
      ticketUri: 'pvc://m/t',
    });
    expect(observeDependency(adaptation({ phase: 'Succeeded', output: { uri: 'pvc://m/model' } }))).toEqual({
      state: 'Succeeded',
      modelUri: 'pvc://m/model',
    });
    expect(
      observeDependency(
        adaptation({
          phase: 'Failed',
          message: 'bad',
          conditions: [{ type: 'Failed', status: 'True', reason: 'InvalidSpec', message: 'bad' }],
        }),
      ),
    ).toEqual({ state: 'Failed', reason: 'InvalidSpec', message: 'bad' });
  });
});

describe('observeResource', () => {
  const plan = adaptationPlan({ name: 'a', generation: 1 }, { method: 'full' });
  const base = {
    owner: { kind: 'LotaAdaptation', name: 'a', uid: 'a-uid' },
    plan,
    now: new Date(0),
    progress: () => undefined,
    dependency: () => undefined,
  };

  it('waits while a pod of an earlier attempt still stops, and starts once it is gone', () => {
    const stopping = {
      ...pod('Running'),
      metadata: { name: 'old', namespace: 'ns', labels: { 'lota.dev/phase': 'train' } },
    };
    expect(observeResource({ ...base, jobs: {}, pods: [stopping] }).phases.train).toEqual({
      state: 'Queued',
      message: 'pod old of an earlier attempt is still stopping',
    });
    expect(observeResource({ ...base, jobs: {}, pods: [] }).phases.train).toEqual({ state: 'NotStarted' });
  });

  it("tells its own Job from a previous incarnation's and from a stranger's", () => {
    const ref = (uid: string, name = 'a', kind = 'LotaAdaptation') => ({
      metadata: {
        name: 'a-train',
        ownerReferences: [{ apiVersion: 'lota.dev/v1alpha1', kind, name, uid, controller: true }],
      },
    });
    expect(jobRelation(ref('a-uid'), base.owner)).toBe('ours');
    expect(jobRelation(ref('old-uid'), base.owner)).toBe('stale');
    expect(jobRelation(ref('x', 'other', 'Deployment'), base.owner)).toBe('foreign');
    expect(jobRelation({ metadata: { name: 'a-train' } }, base.owner)).toBe('foreign');
  });
});
