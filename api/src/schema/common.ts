// Schema pieces both kinds share: artifact URIs, conditions, scheduling, the trainer container.

import { Type } from '@sinclair/typebox';
import { TRAINER_PHASES } from '../trainer-contract.ts';
import { ARTIFACT_URI_PATTERN, MAX_URI_LENGTH } from '../uri.ts';
import {
  Bool,
  Defaulted,
  DNS1123_LABEL,
  Int,
  Int32,
  List,
  Num,
  Obj,
  ObjectName,
  OpaqueObject,
  Quantity,
  Str,
  StringEnum,
  StringMap,
} from './k8s.ts';

export const GROUP = 'lota.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** CEL: no `..` path segment (the pattern already fixes the scheme and the characters). */
const NO_DOTDOT = "!self.matches('(^|/)[.][.](/|$)')";

export function ArtifactUri(description: string) {
  return Str({
    description: `${description} A pvc://<claim>/<path>, file:///<path>, hf://[datasets/]<org>/<name>[@<revision>][/<path>] or s3://<bucket>/<key> URI.`,
    minLength: 1,
    maxLength: MAX_URI_LENGTH,
    pattern: ARTIFACT_URI_PATTERN,
    'x-kubernetes-validations': [{ rule: NO_DOTDOT, message: "must not contain '..' path segments" }],
  });
}

/** An artifact URI a phase writes to: any scheme but the (read-only) Hub. */
export function OutputUri(description: string) {
  const base = ArtifactUri(description);
  return {
    ...base,
    'x-kubernetes-validations': [
      ...base['x-kubernetes-validations'],
      { rule: "!self.startsWith('hf://')", message: 'hf:// is read-only: write outputs to s3://, pvc:// or file://' },
    ],
  };
}

const HttpUrl = (description: string) =>
  Str({ description, minLength: 1, maxLength: 512, pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' });

export const Storage = Obj(
  {
    secretRef: Type.Optional(
      Obj(
        { name: ObjectName('Name of a Secret in the resource’s namespace.') },
        {
          description:
            'Credentials for hf:// and s3:// URIs: a Secret of this namespace whose keys HF_TOKEN, ' +
            'AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (each optional) become the trainer’s ' +
            'environment. Without it the trainer uses the pod’s ambient identity (IRSA / workload identity through ' +
            'trainer.serviceAccountName) and anonymous Hub access.',
        },
      ),
    ),
    hubEndpoint: Type.Optional(
      HttpUrl(
        'Hugging Face Hub endpoint for hf:// URIs (HF_ENDPOINT semantics), e.g. an internal mirror. Default: the ' +
          "operator's --hub-endpoint, else https://huggingface.co.",
      ),
    ),
    s3: Type.Optional(
      Obj(
        {
          endpoint: Type.Optional(
            HttpUrl("S3 endpoint URL for an S3-compatible store. Default: the operator's --s3-endpoint, else AWS."),
          ),
          region: Type.Optional(
            Str({
              description: "Region (default: the operator's --s3-region, else us-east-1).",
              minLength: 1,
              maxLength: 64,
              pattern: '^[a-z0-9-]+$',
            }),
          ),
          forcePathStyle: Type.Optional(
            Bool({
              description:
                "Path-style addressing (http://endpoint/bucket/key), which most S3-compatible stores need. Default: the operator's --s3-force-path-style.",
            }),
          ),
        },
        { description: 'How s3:// URIs are reached.' },
      ),
    ),
    cacheClaimName: Type.Optional(
      ObjectName(
        'PersistentVolumeClaim (ReadWriteMany) of this namespace that caches staged hf:// and s3:// inputs, keyed by ' +
          "content, shared by every run that names it. Default: the operator's --cache-claim; none: each pod " +
          'downloads into its scratch volume.',
      ),
    ),
  },
  { description: 'Access to remote artifacts (hf://, s3://): credentials, endpoints and the shared download cache.' },
);

export const InputStatus = Obj(
  {
    uri: ArtifactUri('The input as the spec names it.'),
    revision: Str({
      description:
        'What it resolved to when the first phase started; every later phase and retry reads exactly this: a Hub ' +
        'commit sha, an S3 ETag (one object) or the sha256 of the listing of keys and ETags (a prefix).',
      maxLength: 128,
    }),
    bytes: Int({ description: 'Bytes staged.', minimum: 0 }),
  },
  { description: 'A remote input (hf://, s3://) and the content it resolved to.' },
);

export const Inputs = () =>
  Type.Optional(
    List(InputStatus, {
      description: 'Remote inputs and what they resolved to (pvc:// and file:// inputs are read in place).',
      maxItems: 64,
      'x-kubernetes-list-type': 'atomic',
    }),
  );

export const ModelRef = Obj(
  {
    uri: ArtifactUri(
      'Directory of a Hugging Face model: config.json, tokenizer files and model*.safetensors (sharded with an index or single).',
    ),
  },
  { description: 'A model in Hugging Face directory layout.' },
);

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

/** metav1.Condition, with the validation Kubernetes itself declares for it. */
export const Condition = Obj(
  {
    type: Str({
      description: 'Type of condition in CamelCase: Ready, Reconciling, Stalled, Succeeded, Failed, Suspended…',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: StringEnum(CONDITION_STATUSES, { description: 'Status of the condition: True, False or Unknown.' }),
    observedGeneration: Type.Optional(
      Int({ description: 'The .metadata.generation the condition was set from.', minimum: 0 }),
    ),
    lastTransitionTime: Str({ description: 'When the status last changed.', format: 'date-time' }),
    reason: Str({
      description: 'Machine-readable CamelCase reason for the last transition.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Str({ description: 'Human-readable details of the last transition.', maxLength: 32768 }),
  },
  { description: 'A standard Kubernetes condition (metav1.Condition).' },
);

export function Conditions() {
  return Type.Optional(
    List(Condition, {
      description:
        'Standard conditions. Ready is True once finished successfully; Reconciling is True while work is in ' +
        'progress; Stalled is True when it failed and will not recover; Succeeded/Failed are terminal and final.',
      maxItems: 16,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    }),
  );
}

const Toleration = Obj(
  {
    key: Type.Optional(Str({ description: 'Taint key the toleration applies to; empty matches all.', maxLength: 316 })),
    operator: Type.Optional(StringEnum(['Exists', 'Equal'], { description: 'Exists or Equal (default Equal).' })),
    value: Type.Optional(Str({ description: 'Taint value to match with Equal.', maxLength: 63 })),
    effect: Type.Optional(
      StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'], { description: 'Taint effect; empty matches all.' }),
    ),
    tolerationSeconds: Type.Optional(
      Int({ description: 'For NoExecute: how long the pod stays bound after the taint appears.', minimum: 0 }),
    ),
  },
  { description: 'A core/v1 Toleration for the trainer pods.' },
);

export const Resources = Obj(
  {
    gpus: Defaulted(
      Int32({ description: 'GPUs per trainer pod, requested as nvidia.com/gpu.', minimum: 0, maximum: 16 }),
      0,
    ),
    requests: Type.Optional(
      StringMap(Quantity(), {
        description: 'Resource requests of the trainer container, e.g. {cpu: "4", memory: 16Gi}.',
        maxProperties: 16,
      }),
    ),
    limits: Type.Optional(
      StringMap(Quantity(), { description: 'Resource limits of the trainer container.', maxProperties: 16 }),
    ),
    nodeSelector: Type.Optional(
      StringMap(Str({ maxLength: 63 }), {
        description: 'Node labels the trainer pods must match.',
        maxProperties: 32,
        'x-kubernetes-map-type': 'atomic',
      }),
    ),
    tolerations: Type.Optional(
      List(Toleration, {
        description: 'Tolerations of the trainer pods.',
        maxItems: 32,
        'x-kubernetes-list-type': 'atomic',
      }),
    ),
    affinity: Type.Optional(
      OpaqueObject({
        description:
          'A core/v1 Affinity for the trainer pods, passed through unchanged (the Job API validates it when the ' +
          'operator creates the Job).',
      }),
    ),
    priorityClassName: Type.Optional(ObjectName('PriorityClass of the trainer pods.')),
  },
  {
    description: 'Where and with what the trainer pods run.',
    'x-kubernetes-validations': [
      {
        rule:
          "(!has(self.limits) || !('nvidia.com/gpu' in self.limits)) && " +
          "(!has(self.requests) || !('nvidia.com/gpu' in self.requests))",
        message: 'request GPUs with resources.gpus, not as nvidia.com/gpu in requests or limits',
      },
    ],
  },
);

const KeyRef = (what: string) =>
  Obj(
    {
      name: ObjectName(`Name of the ${what}.`),
      key: Str({ description: `Key in the ${what}.`, minLength: 1, maxLength: 253 }),
      optional: Type.Optional(Bool({ description: `Whether the ${what} or its key may be missing.` })),
    },
    { description: `A key of a ${what} in the same namespace.` },
  );

const EnvVar = Obj(
  {
    name: Str({
      description: 'Variable name. Names starting with LOTA_ are reserved for the trainer contract.',
      minLength: 1,
      maxLength: 128,
      pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$',
      'x-kubernetes-validations': [
        { rule: "!self.startsWith('LOTA_')", message: 'env names starting with LOTA_ are reserved for the operator' },
      ],
    }),
    value: Type.Optional(Str({ description: 'Literal value.', maxLength: 4096 })),
    valueFrom: Type.Optional(
      Obj(
        {
          secretKeyRef: Type.Optional(KeyRef('Secret')),
          configMapKeyRef: Type.Optional(KeyRef('ConfigMap')),
        },
        {
          description: 'Take the value from a Secret or ConfigMap key.',
          'x-kubernetes-validations': [
            {
              rule: 'has(self.secretKeyRef) != has(self.configMapKeyRef)',
              message: 'exactly one of secretKeyRef or configMapKeyRef is required',
            },
          ],
        },
      ),
    ),
  },
  {
    description: 'An environment variable of the trainer container.',
    'x-kubernetes-validations': [
      { rule: '!(has(self.value) && has(self.valueFrom))', message: 'set value or valueFrom, not both' },
    ],
  },
);

export const TRAINER_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;

export const Trainer = Obj(
  {
    image: Type.Optional(
      Str({
        description: "Trainer image. Empty: the operator's default (its --trainer-image flag / Helm value).",
        minLength: 1,
        maxLength: 512,
      }),
    ),
    imagePullPolicy: Type.Optional(
      StringEnum(['Always', 'IfNotPresent', 'Never'], { description: 'Pull policy of the trainer image.' }),
    ),
    backend: Defaulted(
      StringEnum(TRAINER_BACKENDS, {
        description:
          'TensorFlow.js backend: tensorflow (native libtensorflow), wasm or cpu; auto picks the fastest available.',
      }),
      'auto',
    ),
    env: Type.Optional(
      List(EnvVar, {
        description: 'Extra environment variables of the trainer container.',
        maxItems: 64,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    serviceAccountName: Type.Optional(
      ObjectName('ServiceAccount of the trainer pods (default: the namespace default).'),
    ),
  },
  { description: 'The trainer container.' },
);

/** Fields every runnable kind has, in spec order. */
export function RunFields() {
  return {
    resources: Defaulted(Resources, {}),
    trainer: Defaulted(Trainer, {}),
    queueName: Type.Optional(
      Str({
        description:
          'Kueue LocalQueue for the trainer Jobs (label kueue.x-k8s.io/queue-name); Kueue then admits them by quota.',
        maxLength: 63,
        pattern: DNS1123_LABEL,
      }),
    ),
    backoffLimit: Defaulted(
      Int32({
        description: 'Retries of each phase Job after retryable failures (exit codes other than 10–19).',
        minimum: 0,
        maximum: 20,
      }),
      3,
    ),
    activeDeadlineSeconds: Type.Optional(
      Int({
        description: 'Wall-clock limit for the whole run, from status.startTime; exceeding it fails the resource.',
        minimum: 1,
        maximum: 31_536_000,
      }),
    ),
    ttlSecondsAfterFinished: Type.Optional(
      Int({
        description:
          'Delete the finished phase Jobs (and their pods) this long after the resource finished. The resource, its ' +
          'status and its artifacts stay. Unset: Jobs are kept until the resource is deleted.',
        minimum: 0,
        maximum: 31_536_000,
      }),
    ),
    storage: Type.Optional(Storage),
    suspend: Defaulted(
      Bool({
        description:
          'Suspend the run: the running phase Job is deleted, completed phases are kept; setting it back to false ' +
          'resumes from the first unfinished phase.',
      }),
      false,
    ),
  };
}

export const DTYPES = ['float32', 'float16', 'bfloat16'] as const;

export function Dtype(description: string) {
  return Defaulted(StringEnum(DTYPES, { description }), 'float32');
}

export function MaxShardSize() {
  return Defaulted(
    Quantity({ description: 'Largest safetensors shard of a written model directory, e.g. 2Gi.' }),
    '2Gi',
  );
}

/** The one digest of every output (trainer-image/src/io/digest.ts computes it). */
export const OUTPUT_SHA256 =
  "SHA-256 of the file's bytes; for a directory, SHA-256 of the `sha256sum` lines (`<hex>  <relative path>`) of all its files sorted by path in byte order: `cd dir && find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum`.";

export const ArtifactSummary = Obj(
  {
    uri: ArtifactUri('Where it was written.'),
    bytes: Int({ description: 'Size in bytes.', minimum: 0 }),
    sha256: Str({ description: OUTPUT_SHA256, maxLength: 64 }),
  },
  { description: 'An artifact a phase wrote.' },
);

export const Timestamp = (description: string) => Type.Optional(Str({ description, format: 'date-time' }));

export const Message = () =>
  Type.Optional(Str({ description: 'Human-readable summary of the current state.', maxLength: 32768 }));

export const ObservedGeneration = () =>
  Type.Optional(Int({ description: 'The .metadata.generation this status describes.', minimum: 0 }));

export const Density = (description: string) => Num({ description, minimum: 0, maximum: 1 });

export const NonNegative = (description: string) => Num({ description, minimum: 0 });

export const Progress = Obj(
  {
    phase: StringEnum(TRAINER_PHASES, { description: 'The trainer phase that reports.' }),
    step: Int({ description: 'Steps done in this phase.', minimum: 0 }),
    totalSteps: Int({ description: 'Steps this phase will take.', minimum: 0 }),
    percent: Num({ description: 'step / totalSteps in percent.', minimum: 0, maximum: 100 }),
    loss: Type.Optional(Num({ description: 'Latest training loss.' })),
    tokensPerSecond: Type.Optional(NonNegative('Recent throughput.')),
    etaSeconds: Type.Optional(NonNegative('Estimated seconds until the phase ends.')),
    updateTime: Timestamp('When the operator last read it.'),
  },
  { description: "The running phase's progress, as its trainer reports it." },
);

export const Results = Obj(
  {
    trainLoss: Type.Optional(Num({ description: 'Mean loss of the last training steps.' })),
    evalLoss: Type.Optional(Num({ description: 'Mean loss on dataset.evalUri.' })),
    metrics: Type.Optional(
      StringMap(Num(), { description: 'Task metrics by name, e.g. exactMatch, perplexity.', maxProperties: 32 }),
    ),
    skippedLines: Type.Optional(Int({ description: 'Lines skipped under invalidLines: skip.', minimum: 0 })),
  },
  { description: 'Outcome measures.' },
);
