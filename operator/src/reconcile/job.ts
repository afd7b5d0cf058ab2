// The desired batch/v1 Job of one phase of a LotaAdaptation or TicketMerge: pure, from the resource and the
// phase machine's `start` action. docs/trainer-contract.md is the contract the pod spec implements.

import {
  CACHE_MOUNT_PATH,
  PERMANENT_EXIT_CODES,
  STORAGE_ENV,
  STORAGE_SECRET_KEYS,
  TRAINER_DEFAULTS,
  TRAINER_ENV,
  type TrainerPhase,
} from '@lota/api/trainer-contract';
import type { ResolvedAdaptationSpec, ResolvedMergeSpec } from '@lota/api/types';
import { parseArtifactUri } from '@lota/api/uri';
import type { ObjectMeta } from '../kube/resources.ts';
import { jobName, LABELS, MANAGED_BY } from './names.ts';

export const CONTAINER_NAME = 'trainer';
export const TRAINER_COMMAND = 'lota-trainer';
/** The user the trainer runs as when the image does not say (PSS restricted requires non-root). */
export const TRAINER_UID = 65532;
const SCRATCH_VOLUME = 'scratch';
const CACHE_VOLUME = 'lota-cache';

/** The operator's defaults for remote artifacts (flags / Helm values); spec.storage overrides each. */
export interface StorageDefaults {
  hubEndpoint?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  cacheClaim?: string;
}

/** Where a Job remembers the phase's earlier Jobs, so that attempts and backoffLimit add up across them. */
export const ANNOTATIONS = {
  priorAttempts: 'lota.dev/prior-attempts',
  priorFailures: 'lota.dev/prior-failures',
} as const;

export interface JobInput {
  kind: 'LotaAdaptation' | 'TicketMerge';
  apiVersion: string;
  metadata: Required<Pick<ObjectMeta, 'name' | 'namespace' | 'uid'>>;
  /** The spec as stored (what LOTA_SPEC carries). */
  spec: unknown;
  /** The same spec with defaults applied (what the Job is built from). */
  resolved: ResolvedAdaptationSpec | ResolvedMergeSpec;
  phase: TrainerPhase;
  ticketRefs: Record<string, string>;
  defaultImage: string;
  /** What is left of spec.activeDeadlineSeconds for this Job. */
  remainingSeconds?: number;
  /** Attempts and failures of the phase's earlier Jobs (the phase machine's `start` action). */
  prior?: { attempts: number; failures: number };
  /** Failed attempts this Job may still have: backoffLimit less the failures of earlier Jobs. */
  retryBudget?: number;
  storageDefaults?: StorageDefaults;
}

/**
 * Environment and volume for hf:// and s3:// artifacts: endpoints, the credentials Secret's keys (a Secret of the
 * resource's own namespace: a pod cannot reference another), and the shared cache claim.
 */
export function storagePodParts(resolved: ResolvedAdaptationSpec | ResolvedMergeSpec, defaults: StorageDefaults = {}) {
  const storage = resolved.storage ?? {};
  const env: { name: string; value?: string; valueFrom?: unknown }[] = [];
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) env.push({ name, value });
  };
  set(STORAGE_ENV.hubEndpoint, storage.hubEndpoint ?? defaults.hubEndpoint);
  set(STORAGE_ENV.s3Endpoint, storage.s3?.endpoint ?? defaults.s3Endpoint);
  set(STORAGE_ENV.region, storage.s3?.region ?? defaults.s3Region);
  const pathStyle = storage.s3?.forcePathStyle ?? defaults.s3ForcePathStyle;
  if (pathStyle !== undefined) set(TRAINER_ENV.s3ForcePathStyle, String(pathStyle));
  if (storage.secretRef) {
    for (const key of STORAGE_SECRET_KEYS) {
      env.push({ name: key, valueFrom: { secretKeyRef: { name: storage.secretRef.name, key, optional: true } } });
    }
  }
  const cacheClaim = storage.cacheClaimName ?? defaults.cacheClaim;
  set(TRAINER_ENV.cacheDir, cacheClaim ? CACHE_MOUNT_PATH : `${TRAINER_DEFAULTS.scratchDir}/cache`);
  return {
    env,
    volumeMounts: cacheClaim ? [{ name: CACHE_VOLUME, mountPath: CACHE_MOUNT_PATH }] : [],
    volumes: cacheClaim ? [{ name: CACHE_VOLUME, persistentVolumeClaim: { claimName: cacheClaim } }] : [],
  };
}

/** Every pvc:// claim a phase touches, and whether it must be writable (it holds output.uri). */
export function claimMounts(resolved: ResolvedAdaptationSpec | ResolvedMergeSpec, ticketRefs: Record<string, string>) {
  const uris = [...collectUris(resolved), ...Object.values(ticketRefs)];
  const output = parseArtifactUri(resolved.output.uri);
  const claims = new Map<string, boolean>();
  for (const uri of uris) {
    const parsed = parseArtifactUri(uri);
    if (parsed.scheme !== 'pvc') continue;
    claims.set(
      parsed.claim,
      claims.get(parsed.claim) === true || (output.scheme === 'pvc' && output.claim === parsed.claim),
    );
  }
  return [...claims].sort(([a], [b]) => a.localeCompare(b)).map(([claim, writable]) => ({ claim, writable }));
}

function collectUris(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    // Artifact URIs only (spec.storage holds http(s) endpoints).
    if (/^(pvc|file|hf|s3):\/\//.test(value)) out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectUris(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) collectUris(v, out);
  }
  return out;
}

export function desiredJob(input: JobInput) {
  const { resolved, phase, metadata } = input;
  const name = jobName(metadata.name, phase);
  const labels: Record<string, string> = {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.name]: 'lota-trainer',
    [LABELS.ownerKind]: input.kind,
    [LABELS.ownerUid]: metadata.uid,
    [LABELS.phase]: phase,
  };
  if (resolved.queueName) labels[LABELS.kueueQueue] = resolved.queueName;

  const claims = claimMounts(resolved, input.ticketRefs);
  const res = resolved.resources;
  const limits = quantities(res.limits);
  const requests = quantities(res.requests);
  if (res.gpus > 0) {
    limits['nvidia.com/gpu'] = String(res.gpus);
    requests['nvidia.com/gpu'] = String(res.gpus);
  }
  const trainer = resolved.trainer;
  const contractEnv: { name: string; value?: string; valueFrom?: unknown }[] = [
    { name: TRAINER_ENV.spec, value: JSON.stringify(input.spec) },
    { name: TRAINER_ENV.kind, value: input.kind },
    { name: TRAINER_ENV.name, value: metadata.name },
    { name: TRAINER_ENV.namespace, value: metadata.namespace },
    { name: TRAINER_ENV.phase, value: phase },
    { name: TRAINER_ENV.ticketRefs, value: JSON.stringify(input.ticketRefs) },
    { name: TRAINER_ENV.pvcRoot, value: TRAINER_DEFAULTS.pvcRoot },
    { name: TRAINER_ENV.terminationLog, value: TRAINER_DEFAULTS.terminationLog },
    { name: TRAINER_ENV.progressPort, value: String(TRAINER_DEFAULTS.progressPort) },
    { name: TRAINER_ENV.podIp, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: TRAINER_ENV.scratchDir, value: TRAINER_DEFAULTS.scratchDir },
    { name: 'TMPDIR', value: '/tmp' },
  ];
  if (trainer.backend !== 'auto') contractEnv.push({ name: TRAINER_ENV.backend, value: trainer.backend });
  const storage = storagePodParts(resolved, input.storageDefaults);

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: metadata.namespace,
      labels,
      ...(input.prior &&
        (input.prior.attempts > 0 || input.prior.failures > 0) && {
          annotations: {
            [ANNOTATIONS.priorAttempts]: String(input.prior.attempts),
            [ANNOTATIONS.priorFailures]: String(input.prior.failures),
          },
        }),
      ownerReferences: [
        {
          apiVersion: input.apiVersion,
          kind: input.kind,
          name: metadata.name,
          uid: metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      // Kueue admits a queued Job by unsuspending it; without a queue the Job runs at once.
      suspend: resolved.queueName !== undefined,
      backoffLimit: Math.max(0, Math.min(resolved.backoffLimit, input.retryBudget ?? resolved.backoffLimit)),
      ...(input.remainingSeconds !== undefined && {
        activeDeadlineSeconds: Math.max(1, Math.ceil(input.remainingSeconds)),
      }),
      completions: 1,
      parallelism: 1,
      podFailurePolicy: {
        rules: [
          {
            action: 'FailJob',
            onExitCodes: { containerName: CONTAINER_NAME, operator: 'In', values: [...PERMANENT_EXIT_CODES] },
          },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(trainer.serviceAccountName && { serviceAccountName: trainer.serviceAccountName }),
          // The trainer reads files, not the Kubernetes API.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: TRAINER_UID,
            runAsGroup: TRAINER_UID,
            fsGroup: TRAINER_UID,
            // Change ownership only when the volume's root does not already match, not on every pod start (a
            // recursive chown of a claim full of checkpoints takes minutes).
            fsGroupChangePolicy: 'OnRootMismatch',
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(res.nodeSelector && { nodeSelector: res.nodeSelector }),
          ...(res.tolerations && { tolerations: res.tolerations }),
          ...(res.affinity && { affinity: res.affinity }),
          ...(res.priorityClassName && { priorityClassName: res.priorityClassName }),
          containers: [
            {
              name: CONTAINER_NAME,
              image: trainer.image ?? input.defaultImage,
              ...(trainer.imagePullPolicy && { imagePullPolicy: trainer.imagePullPolicy }),
              command: [TRAINER_COMMAND, phase],
              env: [...contractEnv, ...storage.env, ...(trainer.env ?? [])],
              ports: [{ name: 'progress', containerPort: TRAINER_DEFAULTS.progressPort, protocol: 'TCP' }],
              resources: {
                ...(Object.keys(requests).length > 0 && { requests }),
                ...(Object.keys(limits).length > 0 && { limits }),
              },
              terminationMessagePath: TRAINER_DEFAULTS.terminationLog,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              securityContext: {
                allowPrivilegeEscalation: false,
                privileged: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [
                { name: SCRATCH_VOLUME, mountPath: TRAINER_DEFAULTS.scratchDir },
                { name: SCRATCH_VOLUME, mountPath: '/tmp', subPath: 'tmp' },
                ...claims.map((c, i) => ({
                  name: `pvc-${i}`,
                  mountPath: `${TRAINER_DEFAULTS.pvcRoot}/${c.claim}`,
                  readOnly: !c.writable,
                })),
                ...storage.volumeMounts,
              ],
            },
          ],
          volumes: [
            { name: SCRATCH_VOLUME, emptyDir: {} },
            ...claims.map((c, i) => ({
              name: `pvc-${i}`,
              persistentVolumeClaim: { claimName: c.claim, readOnly: !c.writable },
            })),
            ...storage.volumes,
          ],
        },
      },
    },
  };
}

export type DesiredJob = ReturnType<typeof desiredJob>;

function quantities(map: Record<string, string | number> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, String(v)]));
}
