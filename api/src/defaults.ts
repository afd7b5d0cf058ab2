// Defaults. Static ones live in the schema (`default:`), so the API server applies the very same values when an
// object is created; applyDefaults() applies them here, with the API server's algorithm, for objects that never
// pass an API server (`lota run`).
// Defaults that depend on other fields (which the API server cannot express) are filled below, and only here:
// the trainer calls these functions on LOTA_SPEC, so operator and trainer agree.
import * as A from './schema/adaptation.ts';
import { applyDefaults } from './schema/defaulting.ts';
import * as M from './schema/merge.ts';
import type {
  AdaptationMethod,
  LotaAdaptationSpec,
  ResolvedAdaptationSpec,
  ResolvedMergeSpec,
  TicketMergeSpec,
} from './types.ts';

/** Learning rates of the LoTA reference scripts (Mistral-7B) and a common LoRA choice. */
export const DEFAULT_LEARNING_RATE: Record<AdaptationMethod, number> = { lota: 1e-5, full: 5e-7, lora: 1e-4 };
export const DEFAULT_EPOCHS = 3;
/** Calibration is a dense fine-tune: the reference's dense (FFT) lr, not the sparse phase's (schema description). */
export const DEFAULT_CALIBRATION_LEARNING_RATE = DEFAULT_LEARNING_RATE.full;

export function withAdaptationDefaults(spec: LotaAdaptationSpec): ResolvedAdaptationSpec {
  const s = applyDefaults(A.LotaAdaptationSpec, structuredClone(spec));
  const method = s.method ?? 'lota';
  if (method === 'lota') s.lota = applyDefaults(A.Lota, s.lota ?? {});
  if (method === 'lora') s.lora = applyDefaults(A.Lora, s.lora ?? {});
  const training = s.training ?? {};
  training.learningRate ??= DEFAULT_LEARNING_RATE[method];
  if (training.epochs === undefined && training.maxSteps === undefined) training.epochs = DEFAULT_EPOCHS;
  s.training = training;
  const calibration = s.lota?.calibration;
  if (calibration && calibration.fromModel === undefined)
    calibration.learningRate ??= DEFAULT_CALIBRATION_LEARNING_RATE;
  return s as ResolvedAdaptationSpec;
}

export function withMergeDefaults(spec: TicketMergeSpec): ResolvedMergeSpec {
  return applyDefaults(M.TicketMergeSpec, structuredClone(spec)) as ResolvedMergeSpec;
}
