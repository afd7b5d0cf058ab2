// The contract between the operator (which creates one Job per phase) and the trainer image (which runs it).
// docs/trainer-contract.md explains each item; both sides import these constants instead of repeating them.

/** Phases a trainer process can run. `calibrate` and `train` belong to LotaAdaptation, `merge` to TicketMerge. */
export const TRAINER_PHASES = ['calibrate', 'train', 'merge'] as const;
export type TrainerPhase = (typeof TRAINER_PHASES)[number];

/** Environment the operator sets on every trainer container. */
export const TRAINER_ENV = {
  /** JSON of the resource's `spec`, exactly as stored in the API server. */
  spec: 'LOTA_SPEC',
  /** `LotaAdaptation` or `TicketMerge`. */
  kind: 'LOTA_KIND',
  name: 'LOTA_NAME',
  namespace: 'LOTA_NAMESPACE',
  /** The phase this process runs (one of TRAINER_PHASES). */
  phase: 'LOTA_PHASE',
  /** JSON object: name of a referenced LotaAdaptation → the URI of its ticket (LoTTO exclusions, merge inputs). */
  ticketRefs: 'LOTA_TICKET_REFS',
  /** Directory under which `pvc://<claim>/<path>` URIs are found as `<root>/<claim>/<path>`. */
  pvcRoot: 'LOTA_PVC_ROOT',
  /** Where the termination message is written. */
  terminationLog: 'LOTA_TERMINATION_LOG',
  /** Port of the progress and metrics HTTP endpoint. */
  progressPort: 'LOTA_PROGRESS_PORT',
  /** Address the endpoint binds to: the pod IP (downward API `status.podIP`); unset = all interfaces. */
  podIp: 'LOTA_POD_IP',
  /** Writable scratch directory (the root filesystem is read-only). */
  scratchDir: 'LOTA_SCRATCH_DIR',
  /** Backend override: `tensorflow` (native), `wasm` or `cpu`. Unset: the fastest available. */
  backend: 'LOTA_BACKEND',
  /** Content-keyed cache of staged hf:// and s3:// inputs (a shared volume); unset: `<scratch>/cache`. */
  cacheDir: 'LOTA_CACHE_DIR',
  /** `true`: path-style S3 addressing (http://endpoint/bucket/key), which S3-compatible stores need. */
  s3ForcePathStyle: 'LOTA_S3_FORCE_PATH_STYLE',
} as const;

/**
 * Standard variables the trainer reads for remote artifacts, with the meaning their own tools give them:
 * huggingface_hub (HF_ENDPOINT, HF_TOKEN) and the AWS SDKs (endpoint, region, static or ambient credentials).
 */
export const STORAGE_ENV = {
  hubEndpoint: 'HF_ENDPOINT',
  hubToken: 'HF_TOKEN',
  s3Endpoint: 'AWS_ENDPOINT_URL_S3',
  region: 'AWS_REGION',
  accessKeyId: 'AWS_ACCESS_KEY_ID',
  secretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  sessionToken: 'AWS_SESSION_TOKEN',
} as const;

/** Keys of the Secret named by spec.storage.secretRef that become the trainer's environment (same names). */
export const STORAGE_SECRET_KEYS = [
  STORAGE_ENV.hubToken,
  STORAGE_ENV.accessKeyId,
  STORAGE_ENV.secretAccessKey,
  STORAGE_ENV.sessionToken,
] as const;

/** Where the operator mounts the cache claim (spec.storage.cacheClaimName / --cache-claim). */
export const CACHE_MOUNT_PATH = '/mnt/lota-cache';

export const TRAINER_DEFAULTS = {
  pvcRoot: '/mnt/pvc',
  terminationLog: '/dev/termination-log',
  progressPort: 8080,
  scratchDir: '/scratch',
} as const;

/**
 * Exit codes. 0 succeeds. 10–19 are permanent: retrying cannot help, so the Job's podFailurePolicy fails it at once.
 * 20–29 and any other non-zero code (1 = unexpected error) are retryable and count against `backoffLimit`.
 * Signals (137, 143) from eviction or preemption are disruptions: the pod's DisruptionTarget condition makes the
 * Job ignore them.
 */
export const EXIT = {
  ok: 0,
  internal: 1,
  invalidSpec: 10,
  invalidInput: 11,
  incompatibleArtifact: 12,
  transientIo: 20,
} as const;

export const PERMANENT_EXIT_CODES: readonly number[] = [EXIT.invalidSpec, EXIT.invalidInput, EXIT.incompatibleArtifact];

export function isPermanentExit(code: number): boolean {
  return PERMANENT_EXIT_CODES.includes(code);
}

/** Machine-readable reasons; they end up in status conditions and Events. */
export type TrainerReason =
  | 'Completed'
  | 'InvalidSpec'
  | 'InvalidModel'
  | 'InvalidDataset'
  | 'InvalidTicket'
  | 'BaseModelMismatch'
  | 'TransientIOError'
  | 'InternalError'
  /** A remote input or output location does not exist (HTTP 404: bucket, object, repository, revision, file). */
  | 'NotFound'
  /** The store refused the credentials or the access (HTTP 401/403, a gated Hub repository). */
  | 'AccessDenied'
  /** The endpoint did not answer (connection refused, unknown host) after retries. */
  | 'EndpointUnreachable'
  /** A remote input changed after the first phase resolved it, or its bytes disagree with the size/sha256 the source reports. */
  | 'InputChanged';

/**
 * Artifact layout under an adaptation's `output.uri` (a directory). Paths are relative to it.
 * `phases/<phase>.json` is written last, atomically, when a phase finishes: its presence is what makes a phase
 * "done" for resume after suspend or a restarted run.
 */
export const ARTIFACTS = {
  mask: 'mask.safetensors',
  ticket: 'ticket.safetensors',
  model: 'model',
  results: 'results.json',
  interference: 'interference.json',
  phaseRecord: (phase: TrainerPhase) => `phases/${phase}.json`,
} as const;

export interface MaskSummary {
  trainable: number;
  total: number;
  density: number;
  uri: string;
  /** What the mask was calibrated from. */
  calibration?: CalibrationSummary;
}

export interface CalibrationSummary {
  source: 'dense' | 'model' | 'random';
  steps?: number;
  learningRate?: number;
  fromModel?: string;
  threshold?: number;
}

export interface TicketSummary {
  uri: string;
  bytes: number;
  density: number;
  sha256: string;
}

/** A remote input and the content it resolved to at the first phase (status.inputs). */
export interface InputSummary {
  uri: string;
  /** Hub commit sha, S3 ETag of one object, or `sha256:<hex>` of a prefix's listing (keys, sizes, ETags). */
  revision: string;
  bytes: number;
}

export interface OutputSummary {
  uri: string;
  bytes: number;
  sha256: string;
  /** Merge outputs: how many changed entries survive in the written dtype. */
  survival?: SurvivalSummary;
}

export interface SurvivalSummary {
  dtype: 'float32' | 'float16' | 'bfloat16';
  changedEntries: number;
  survivingEntries: number;
  survivingFraction: number;
}

export interface Results {
  trainLoss?: number;
  evalLoss?: number;
  /** Task metrics by name, e.g. `exactMatch`, `perplexity`. */
  metrics?: Record<string, number>;
  /** Lines of the dataset skipped under the `skip` bad-line policy. */
  skippedLines?: number;
}

export interface InterferenceSummary {
  tickets: number;
  /** Entries claimed by two or more tickets. */
  overlappingEntries: number;
  /** overlappingEntries / entries claimed by any ticket. */
  overlapFraction: number;
  /** Overlapping entries whose deltas disagree in sign. */
  signConflicts: number;
  /** Largest pairwise Jaccard overlap, with the pair. */
  maxPairwiseJaccard: number;
  maxPair?: [string, string];
}

/** JSON the trainer writes to the termination log (≤ 4096 bytes, the kubelet's limit) and as phases/<phase>.json. */
export interface TerminationMessage {
  version: 1;
  phase: TrainerPhase;
  outcome: 'Succeeded' | 'Failed';
  reason: TrainerReason;
  message: string;
  results?: Results;
  mask?: MaskSummary;
  ticket?: TicketSummary;
  output?: OutputSummary;
  interference?: InterferenceSummary;
  inputs?: InputSummary[];
}

/** GET /progress on the progress port while a phase runs. */
export interface Progress {
  phase: TrainerPhase;
  step: number;
  totalSteps: number;
  percent: number;
  loss?: number;
  tokensPerSecond?: number;
  etaSeconds?: number;
}

export const TERMINATION_MESSAGE_LIMIT = 4096;
