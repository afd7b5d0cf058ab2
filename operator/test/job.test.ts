import { withAdaptationDefaults, withMergeDefaults } from '@lota/api/defaults';
import type { LotaAdaptationSpec } from '@lota/api/types';
import { describe, expect, it } from 'vitest';
import { claimMounts, desiredJob, type JobInput } from '../src/reconcile/job.ts';
import { jobName } from '../src/reconcile/names.ts';

const spec: LotaAdaptationSpec = {
  baseModel: { uri: 'pvc://models/base' },
  dataset: { uri: 'pvc://datasets/task-b/train.jsonl', format: 'prompt-completion' },
  lota: { excludeTicketsOf: ['instruct-a'] },
  output: { uri: 'pvc://models/runs/instruct-b' },
  resources: {
    gpus: 2,
    requests: { cpu: '4', memory: '16Gi' },
    nodeSelector: { pool: 'gpu' },
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    affinity: { nodeAffinity: {} },
    priorityClassName: 'training',
  },
  trainer: { image: 'ghcr.io/lota/trainer:1', env: [{ name: 'HF_HUB_OFFLINE', value: '1' }], backend: 'wasm' },
  queueName: 'gpu-queue',
  backoffLimit: 4,
};

function input(extra: Partial<JobInput> = {}): JobInput {
  return {
    kind: 'LotaAdaptation',
    apiVersion: 'lota.dev/v1alpha1',
    metadata: { name: 'instruct-b', namespace: 'team-a', uid: 'uid-1' },
    spec,
    resolved: withAdaptationDefaults(spec),
    phase: 'calibrate',
    ticketRefs: { 'instruct-a': 'pvc://tickets/instruct-a/ticket.safetensors' },
    defaultImage: 'lota-trainer:default',
    ...extra,
  };
}

describe('desiredJob', () => {
  const job = desiredJob(input({ remainingSeconds: 99.2 }));
  const pod = job.spec.template.spec;
  const container = pod.containers[0];
  const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

  it('is named after its owner and phase, owned by it, and labelled for selection and Kueue', () => {
    expect(job.metadata.name).toBe('instruct-b-calibrate');
    expect(job.metadata.namespace).toBe('team-a');
    expect(job.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'lota.dev/v1alpha1',
        kind: 'LotaAdaptation',
        name: 'instruct-b',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(job.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'lota-operator',
      'lota.dev/owner-uid': 'uid-1',
      'lota.dev/phase': 'calibrate',
      'kueue.x-k8s.io/queue-name': 'gpu-queue',
    });
    expect(job.spec.template.metadata.labels).toEqual(job.metadata.labels);
    expect(job.spec.suspend).toBe(true); // Kueue admits it
  });

  it('runs `lota-trainer <phase>` with the contract environment', () => {
    expect(container?.command).toEqual(['lota-trainer', 'calibrate']);
    expect(container?.image).toBe('ghcr.io/lota/trainer:1');
    expect(JSON.parse(String(env.LOTA_SPEC))).toEqual(spec);
    expect(JSON.parse(String(env.LOTA_TICKET_REFS))).toEqual({
      'instruct-a': 'pvc://tickets/instruct-a/ticket.safetensors',
    });
    expect(env).toMatchObject({
      LOTA_KIND: 'LotaAdaptation',
      LOTA_NAME: 'instruct-b',
      LOTA_NAMESPACE: 'team-a',
      LOTA_PHASE: 'calibrate',
      LOTA_PVC_ROOT: '/mnt/pvc',
      LOTA_PROGRESS_PORT: '8080',
      LOTA_SCRATCH_DIR: '/scratch',
      LOTA_BACKEND: 'wasm',
      LOTA_POD_IP: { fieldRef: { fieldPath: 'status.podIP' } },
      HF_HUB_OFFLINE: '1',
    });
    expect(container?.terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  it('mounts every claim, writable only where the output goes', () => {
    expect(claimMounts(input().resolved, input().ticketRefs)).toEqual([
      { claim: 'datasets', writable: false },
      { claim: 'models', writable: true },
      { claim: 'tickets', writable: false },
    ]);
    expect(container?.volumeMounts).toEqual([
      { name: 'scratch', mountPath: '/scratch' },
      { name: 'scratch', mountPath: '/tmp', subPath: 'tmp' },
      { name: 'pvc-0', mountPath: '/mnt/pvc/datasets', readOnly: true },
      { name: 'pvc-1', mountPath: '/mnt/pvc/models', readOnly: false },
      { name: 'pvc-2', mountPath: '/mnt/pvc/tickets', readOnly: true },
    ]);
    expect(pod.volumes[1]).toEqual({ name: 'pvc-0', persistentVolumeClaim: { claimName: 'datasets', readOnly: true } });
  });

  it('passes remote-storage settings: spec.storage over the operator defaults, secret keys by reference, the cache claim', () => {
    const remote: LotaAdaptationSpec = {
      ...spec,
      baseModel: { uri: 'hf://org/base@main' },
      output: { uri: 's3://runs/instruct-b' },
      storage: {
        secretRef: { name: 'store-creds' },
        s3: { endpoint: 'http://s3.internal:7070', forcePathStyle: true },
      },
    };
    const j = desiredJob(
      input({
        spec: remote,
        resolved: withAdaptationDefaults(remote),
        ticketRefs: {},
        storageDefaults: {
          hubEndpoint: 'http://hub.internal',
          s3Endpoint: 'http://ignored',
          cacheClaim: 'model-cache',
        },
      }),
    );
    const c = j.spec.template.spec.containers[0];
    const e = Object.fromEntries((c?.env ?? []).map((x) => [x.name, x.value ?? x.valueFrom]));
    expect(e.HF_ENDPOINT).toBe('http://hub.internal');
    expect(e.AWS_ENDPOINT_URL_S3).toBe('http://s3.internal:7070');
    expect(e.LOTA_S3_FORCE_PATH_STYLE).toBe('true');
    expect(e.LOTA_CACHE_DIR).toBe('/mnt/lota-cache');
    for (const key of ['HF_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      expect(e[key]).toEqual({ secretKeyRef: { name: 'store-creds', key, optional: true } });
    }
    expect(c?.volumeMounts).toContainEqual({ name: 'lota-cache', mountPath: '/mnt/lota-cache' });
    expect(j.spec.template.spec.volumes).toContainEqual({
      name: 'lota-cache',
      persistentVolumeClaim: { claimName: 'model-cache' },
    });
    // Only the dataset's claim is mounted (remote URIs need none); without a cache claim the cache lives in scratch.
    expect(c?.volumeMounts.filter((m) => m.name.startsWith('pvc-')).map((m) => m.mountPath)).toEqual([
      '/mnt/pvc/datasets',
    ]);
    expect(env.LOTA_CACHE_DIR).toBe('/scratch/cache');
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
  });

  it('requests GPUs and passes scheduling through', () => {
    expect(container?.resources).toEqual({
      requests: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '2' },
      limits: { 'nvidia.com/gpu': '2' },
    });
    expect(pod.nodeSelector).toEqual({ pool: 'gpu' });
    expect(pod.tolerations).toEqual(spec.resources?.tolerations);
    expect(pod.affinity).toEqual({ nodeAffinity: {} });
    expect(pod.priorityClassName).toBe('training');
  });

  it('meets Pod Security Standards restricted', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.restartPolicy).toBe('Never');
  });

  it('fails at once on permanent exit codes, ignores disruptions, and bounds retries and time', () => {
    expect(job.spec.podFailurePolicy.rules).toEqual([
      { action: 'FailJob', onExitCodes: { containerName: 'trainer', operator: 'In', values: [10, 11, 12] } },
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
    ]);
    expect(job.spec.backoffLimit).toBe(4);
    expect(job.spec.activeDeadlineSeconds).toBe(100);
    expect(desiredJob(input()).spec.activeDeadlineSeconds).toBeUndefined();
  });

  it('uses the default image and runs at once without a queue', () => {
    const plain: LotaAdaptationSpec = { ...spec, trainer: {}, queueName: undefined };
    const j = desiredJob(input({ spec: plain, resolved: withAdaptationDefaults(plain), phase: 'train' }));
    expect(j.spec.template.spec.containers[0]?.image).toBe('lota-trainer:default');
    expect(j.spec.suspend).toBe(false);
    expect(j.metadata.labels['kueue.x-k8s.io/queue-name']).toBeUndefined();
    expect(j.spec.template.spec.containers[0]?.env.some((e) => e.name === 'LOTA_BACKEND')).toBe(false);
  });

  it('builds merge Jobs with the merged tickets mounted', () => {
    const merge = {
      baseModel: { uri: 'pvc://models/base' },
      tickets: [{ uri: 'pvc://tickets/x.safetensors' }],
      output: { uri: 'pvc://out/m' },
    };
    const j = desiredJob(
      input({ kind: 'TicketMerge', spec: merge, resolved: withMergeDefaults(merge), phase: 'merge', ticketRefs: {} }),
    );
    expect(j.metadata.name).toBe('instruct-b-merge');
    expect(
      j.spec.template.spec.volumes.map((v) =>
        'persistentVolumeClaim' in v ? v.persistentVolumeClaim.claimName : undefined,
      ),
    ).toEqual([undefined, 'models', 'out', 'tickets']);
  });
});

describe('jobName', () => {
  it('keeps short names and shortens long ones deterministically within 63 characters', () => {
    expect(jobName('a', 'train')).toBe('a-train');
    const long = 'x'.repeat(200);
    const n = jobName(long, 'calibrate');
    expect(n.length).toBeLessThanOrEqual(63);
    expect(n).toBe(jobName(long, 'calibrate'));
    expect(n).not.toBe(jobName(`${'x'.repeat(199)}y`, 'calibrate'));
    expect(n.endsWith('-calibrate')).toBe(true);
  });
});
