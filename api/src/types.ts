// TypeScript types of lota.dev/v1alpha1, derived from the schemas the CRDs are generated from (api/src/schema).
// `X` is an object as users write it (defaulted fields optional); `ResolvedX` is after defaults (api/src/defaults.ts).
import type { Static } from '@sinclair/typebox';
import type * as A from './schema/adaptation.ts';
import type * as C from './schema/common.ts';
import type { ObjectMeta, Resolved } from './schema/k8s.ts';
import type * as M from './schema/merge.ts';

export {
  ADAPTATION_PHASES,
  DATASET_FORMATS,
  GRAD_CLIP_SCOPES,
  LR_SCHEDULES,
  MASK_SELECTIONS,
  METHODS,
  OPTIMIZERS,
} from './schema/adaptation.ts';
export { API_VERSION, CONDITION_STATUSES, DTYPES, GROUP, TRAINER_BACKENDS, VERSION } from './schema/common.ts';
export type { ObjectMeta, OwnerReference } from './schema/k8s.ts';
export { CONSENSUS_METHODS, MERGE_METHODS, MERGE_OUTPUT_KINDS, MERGE_PHASES } from './schema/merge.ts';

export const ADAPTATION_KIND = 'LotaAdaptation';
export const MERGE_KIND = 'TicketMerge';

export type Condition = Static<typeof C.Condition>;
export type ConditionStatus = Condition['status'];
export type Resources = Static<typeof C.Resources>;
export type TrainerSpec = Static<typeof C.Trainer>;
export type ArtifactSummary = Static<typeof C.ArtifactSummary>;

export type LotaAdaptationSpec = Static<typeof A.LotaAdaptationSpec>;
export type LotaAdaptationStatus = Static<typeof A.LotaAdaptationStatus>;
export type AdaptationPhase = (typeof A.ADAPTATION_PHASES)[number];
export type AdaptationMethod = (typeof A.METHODS)[number];
export type DatasetSpec = Static<typeof A.Dataset>;
export type LotaSpec = Static<typeof A.Lota>;
export type CalibrationSpec = Static<typeof A.Calibration>;
export type LoraSpec = Static<typeof A.Lora>;
export type TrainingSpec = Static<typeof A.Training>;
export type AdaptationProgress = NonNullable<LotaAdaptationStatus['progress']>;
export type MaskStatus = Static<typeof A.MaskStatus>;
export type TicketStatus = Static<typeof A.TicketStatus>;
export type AdaptationResults = Static<typeof C.Results>;

export interface LotaAdaptation {
  apiVersion: 'lota.dev/v1alpha1';
  kind: 'LotaAdaptation';
  metadata: ObjectMeta;
  spec: LotaAdaptationSpec;
  status?: LotaAdaptationStatus;
}

export type TicketMergeSpec = Static<typeof M.TicketMergeSpec>;
export type TicketMergeStatus = Static<typeof M.TicketMergeStatus>;
export type MergePhase = (typeof M.MERGE_PHASES)[number];
export type MergeMethod = (typeof M.MERGE_METHODS)[number];
export type TicketSource = Static<typeof M.TicketSource>;
export type MergeParameters = Static<typeof M.MergeParameters>;
export type InterferenceStatus = Static<typeof M.Interference>;

export interface TicketMerge {
  apiVersion: 'lota.dev/v1alpha1';
  kind: 'TicketMerge';
  metadata: ObjectMeta;
  spec: TicketMergeSpec;
  status?: TicketMergeStatus;
}

// After defaults. The method sections are a discriminated union: `spec.lota` exists exactly when method is lota.
type ResolvedAdaptationBase = Omit<Resolved<typeof A.LotaAdaptationSpec>, 'method' | 'lota' | 'lora'>;
export type ResolvedLotaSpec = Resolved<typeof A.Lota>;
export type ResolvedLoraSpec = Resolved<typeof A.Lora>;
export type ResolvedTrainingSpec = Resolved<typeof A.Training>;
export type ResolvedAdaptationSpec = ResolvedAdaptationBase &
  (
    | { method: 'lota'; lota: ResolvedLotaSpec; lora?: undefined }
    | { method: 'full'; lota?: undefined; lora?: undefined }
    | { method: 'lora'; lora: ResolvedLoraSpec; lota?: undefined }
  );
export type ResolvedMergeSpec = Resolved<typeof M.TicketMergeSpec>;
