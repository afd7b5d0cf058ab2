// LotaAdaptation (lota.dev/v1alpha1): adapt a base model to one task with LoTA, or with the FFT/LoRA baselines.
import { Type } from '@sinclair/typebox';
import { DEFAULT_TARGETS, TARGET_PATTERN } from '../targets.ts';
import {
  ArtifactSummary,
  ArtifactUri,
  Conditions,
  Density,
  Dtype,
  Inputs,
  MaxShardSize,
  Message,
  ModelRef,
  ObservedGeneration,
  OUTPUT_SHA256,
  OutputUri,
  Progress,
  Results,
  RunFields,
  Timestamp,
} from './common.ts';
import {
  CodeDefaulted,
  Defaulted,
  Int,
  Int32,
  List,
  Num,
  Obj,
  ObjectName,
  RootObject,
  Str,
  StringEnum,
} from './k8s.ts';
import { specImmutableOnceStarted } from './rules.ts';

export const DATASET_FORMATS = ['messages', 'prompt-completion', 'text'] as const;
export const METHODS = ['lota', 'full', 'lora'] as const;
export const OPTIMIZERS = ['adam', 'adamw', 'rmsprop', 'sgd'] as const;
export const LR_SCHEDULES = ['constant', 'linear', 'cosine'] as const;
export const GRAD_CLIP_SCOPES = ['per-tensor', 'global'] as const;
export const MASK_SELECTIONS = ['magnitude', 'random'] as const;

export const Dataset = Obj(
  {
    uri: ArtifactUri('Training data: a JSON Lines file, one example per line, in `format`.'),
    evalUri: Type.Optional(ArtifactUri('Held-out data in the same format; evaluated after training.')),
    format: Defaulted(
      StringEnum(DATASET_FORMATS, {
        description:
          'Line format: messages ({"messages":[{"role","content"}…]}, chat template applied, loss on assistant ' +
          'turns), prompt-completion ({"prompt","completion"}, loss on the completion) or text ({"text"}, loss on all). ' +
          'Every line must be in this format.',
      }),
      'messages',
    ),
    maxSeqLength: Defaulted(
      Int32({ description: 'Tokens per example after truncation (prompt + response).', minimum: 8, maximum: 32768 }),
      512,
    ),
    maxPromptLength: Defaulted(
      Int32({
        description:
          'Prompt tokens kept, truncated from the left (a leading BOS is kept and counted); the prompt is what ' +
          'precedes the first token the loss applies to.',
        minimum: 1,
        maximum: 32768,
      }),
      256,
    ),
    invalidLines: Defaulted(
      StringEnum(['fail', 'skip'], {
        description: 'A line that does not parse or fit the format: fail the run, or skip it and count it.',
      }),
      'fail',
    ),
  },
  {
    description: 'The task data.',
    'x-kubernetes-validations': [
      {
        rule: 'self.maxPromptLength < self.maxSeqLength',
        message: 'maxPromptLength must be smaller than maxSeqLength (room is needed for the response)',
      },
    ],
  },
);

const Targets = (description: string) =>
  Defaulted(
    List(Str({ minLength: 1, maxLength: 256, pattern: TARGET_PATTERN }), {
      description: `${description} Globs over Hugging Face parameter names; * matches any characters, dots included.`,
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
    }),
    [...DEFAULT_TARGETS],
  );

export const Calibration = Obj(
  {
    steps: Type.Optional(Int32({ description: 'Dense calibration steps.', minimum: 1, maximum: 10_000_000 })),
    dataFraction: Type.Optional(
      Num({
        description: 'Fraction of the training data for one dense calibration epoch.',
        minimum: 0,
        exclusiveMinimum: true,
        maximum: 1,
      }),
    ),
    fromModel: Type.Optional(
      ArtifactUri(
        'A model directory fine-tuned densely from this base on this task (e.g. the output of a LotaAdaptation with ' +
          'method full: its status.output.uri). Δ = that model − base, as the LoTA reference computes its mask from ' +
          'its FFT run; no calibration training runs. With excludeTicketsOf, Δ is taken against base + those tickets.',
      ),
    ),
    learningRate: CodeDefaulted(
      Num({
        description:
          'Learning rate of the dense calibration fine-tune. Default 5e-7, the dense (FFT) learning rate of the LoTA ' +
          'reference, not training.learningRate: the reference ranks entries by the task vector of a dense fine-tune ' +
          'at the dense lr, while the sparse phase trains few entries and so takes a larger lr (1e-5 there). A dense ' +
          'run at the sparse lr overshoots and ranks entries by noise. Set it to the lr your FFT baseline uses.',
        minimum: 0,
        exclusiveMinimum: true,
        maximum: 1,
      }),
    ),
  },
  {
    description:
      'Phase 1: the dense fine-tune whose task vector ranks the entries — trained here (steps or dataFraction) or ' +
      'read from an existing fine-tuned model (fromModel).',
    'x-kubernetes-validations': [
      {
        rule: '(has(self.steps) ? 1 : 0) + (has(self.dataFraction) ? 1 : 0) + (has(self.fromModel) ? 1 : 0) == 1',
        message: 'set exactly one of calibration.steps, calibration.dataFraction or calibration.fromModel',
      },
      {
        rule: '!has(self.fromModel) || !has(self.learningRate)',
        message: 'calibration.learningRate applies to a calibration run, not to calibration.fromModel',
      },
    ],
  },
);

export const Lota = Obj(
  {
    sparsity: Defaulted(
      Num({
        description:
          'Fraction of target entries frozen. 0.9 trains the 10% with the largest calibration |Δ| (ties at the threshold stay trainable).',
        minimum: 0,
        exclusiveMinimum: true,
        maximum: 1,
        exclusiveMaximum: true,
      }),
      0.9,
    ),
    maskSelection: Defaulted(
      StringEnum(MASK_SELECTIONS, {
        description:
          'magnitude: global top-k of |Δ| (LoTA); random: a random mask of the same density per tensor (ablation).',
      }),
      'magnitude',
    ),
    calibration: Defaulted(Calibration, { dataFraction: 1 }),
    targets: Targets('Parameters that can be adapted; all others stay frozen.'),
    excludeTicketsOf: Type.Optional(
      List(ObjectName('A LotaAdaptation in the same namespace.'), {
        description:
          'LoTTO: LotaAdaptations (same namespace, method lota) whose trainable entries this one may not use. ' +
          'Waits for them to succeed, then trains from base + their tickets on disjoint entries.',
        maxItems: 16,
        'x-kubernetes-list-type': 'set',
      }),
    ),
  },
  { description: 'Lottery Ticket Adaptation: calibrate, extract a sparse mask, train only the mask from the base.' },
);

export const Lora = Obj(
  {
    rank: Defaulted(Int32({ description: 'Rank r of the A·B update.', minimum: 1, maximum: 1024 }), 8),
    alpha: Defaulted(
      Num({
        description: 'Scale numerator: the update is (alpha / rank)·B·A.',
        minimum: 0,
        exclusiveMinimum: true,
        maximum: 4096,
      }),
      16,
    ),
    targets: Targets('Linear weights that get an adapter.'),
  },
  { description: 'LoRA baseline: low-rank adapters, merged into the weights on output.' },
);

export const Training = Obj(
  {
    epochs: Type.Optional(
      Int32({
        description: 'Passes over the training data (default 3 unless maxSteps is set).',
        minimum: 1,
        maximum: 1000,
      }),
    ),
    maxSteps: Type.Optional(
      Int({ description: 'Optimizer steps, instead of epochs.', minimum: 1, maximum: 10_000_000 }),
    ),
    batchSize: Defaulted(Int32({ description: 'Examples per micro-batch.', minimum: 1, maximum: 4096 }), 8),
    gradientAccumulationSteps: Defaulted(
      Int32({
        description: 'Micro-batches per optimizer step (effective batch = batchSize × this).',
        minimum: 1,
        maximum: 1024,
      }),
      4,
    ),
    learningRate: CodeDefaulted(
      Num({
        description: 'Peak learning rate. Default by method: lota 1e-5, full 5e-7, lora 1e-4.',
        minimum: 0,
        exclusiveMinimum: true,
        maximum: 1,
      }),
    ),
    lrSchedule: Defaulted(StringEnum(LR_SCHEDULES, { description: 'Decay after warmup.' }), 'constant'),
    warmupSteps: Defaulted(Int32({ description: 'Linear warmup steps from 0.', minimum: 0, maximum: 1_000_000 }), 0),
    optimizer: Defaulted(
      StringEnum(OPTIMIZERS, { description: 'Update rule. rmsprop (alpha 0.99, eps 1e-8) is the LoTA reference.' }),
      'rmsprop',
    ),
    weightDecay: Defaulted(
      Num({ description: 'Weight decay (decoupled for adamw, L2 otherwise).', minimum: 0, maximum: 1 }),
      0,
    ),
    maxGradNorm: Defaulted(
      Num({ description: 'Gradient-norm clipping threshold; 0 disables clipping.', minimum: 0 }),
      1,
    ),
    gradClipScope: Defaulted(
      StringEnum(GRAD_CLIP_SCOPES, { description: 'Clip each tensor’s gradient norm (reference) or the global norm.' }),
      'per-tensor',
    ),
    seed: Defaulted(
      Int({
        description: 'Seed of data order, random masks and LoRA initialisation.',
        minimum: 0,
        maximum: 4_294_967_295,
      }),
      0,
    ),
  },
  {
    description: 'Optimisation of the training phase (and, unless overridden, of calibration).',
    'x-kubernetes-validations': [
      {
        rule: '!(has(self.epochs) && has(self.maxSteps))',
        message: 'set training.epochs or training.maxSteps, not both',
      },
      {
        rule: '!has(self.maxSteps) || self.warmupSteps < self.maxSteps',
        message: 'training.warmupSteps must be smaller than training.maxSteps',
      },
    ],
  },
);

export const AdaptationOutput = Obj(
  {
    uri: OutputUri('Directory for the artifacts: mask, ticket, model, results (layout in docs/trainer-contract.md).'),
    dtype: Dtype('Element type of written values: ticket values and model weights.'),
    maxShardSize: MaxShardSize(),
  },
  { description: 'Where and how the results are written.' },
);

export const LotaAdaptationSpec = Obj(
  {
    baseModel: ModelRef,
    dataset: Dataset,
    method: Defaulted(
      StringEnum(METHODS, {
        description: 'lota (sparse lottery ticket), full (dense fine-tuning baseline) or lora (low-rank baseline).',
      }),
      'lota',
    ),
    lota: Type.Optional(Lota),
    lora: Type.Optional(Lora),
    training: Defaulted(Training, {}),
    output: AdaptationOutput,
    ...RunFields(),
  },
  {
    description: 'What to adapt, on which data, how, and where the result goes.',
    'x-kubernetes-validations': [
      { rule: "self.method == 'lota' || !has(self.lota)", message: 'spec.lota is only allowed with method lota' },
      { rule: "self.method == 'lora' || !has(self.lora)", message: 'spec.lora is only allowed with method lora' },
      {
        rule: 'self.output.uri != self.baseModel.uri && self.output.uri != self.dataset.uri',
        message: 'output.uri must differ from baseModel.uri and dataset.uri',
      },
      {
        rule:
          '!has(self.lota) || !has(self.lota.calibration) || !has(self.lota.calibration.fromModel) || ' +
          '(self.lota.calibration.fromModel != self.output.uri && self.lota.calibration.fromModel != self.baseModel.uri)',
        message: 'lota.calibration.fromModel must differ from output.uri and baseModel.uri (Δ would be zero)',
      },
    ],
  },
);

export const ADAPTATION_PHASES = ['Pending', 'Calibrating', 'Training', 'Succeeded', 'Failed', 'Suspended'] as const;

export const CALIBRATION_SOURCES = ['dense', 'model', 'random'] as const;

export const CalibrationStatus = Obj(
  {
    source: StringEnum(CALIBRATION_SOURCES, {
      description:
        'dense: a calibration run of this resource; model: Δ read from calibration.fromModel; random: no Δ (random mask).',
    }),
    steps: Type.Optional(Int({ description: 'Dense calibration steps run (source dense).', minimum: 0 })),
    learningRate: Type.Optional(Num({ description: 'Their learning rate (source dense).', minimum: 0 })),
    fromModel: Type.Optional(ArtifactUri('The model Δ was read from (source model).')),
    threshold: Type.Optional(Num({ description: 'The |Δ| threshold of the global top-k.', minimum: 0 })),
  },
  { description: 'What the mask was calibrated from.' },
);

export const MaskStatus = Obj(
  {
    trainable: Int({ description: 'Trainable entries (ties at the threshold included).', minimum: 0 }),
    total: Int({ description: 'Entries of all target tensors.', minimum: 0 }),
    density: Density('trainable / total.'),
    uri: ArtifactUri('The mask file.'),
    calibration: Type.Optional(CalibrationStatus),
  },
  { description: 'The extracted mask.' },
);

export const TicketStatus = Obj(
  {
    uri: ArtifactUri('The ticket file.'),
    bytes: Int({ description: 'Its size in bytes.', minimum: 0 }),
    density: Density('Fraction of target entries the ticket stores.'),
    sha256: Str({ description: OUTPUT_SHA256, maxLength: 64 }),
  },
  { description: 'The sparse task vector θ_LoTA − θ_base.' },
);

export const LotaAdaptationStatus = Obj(
  {
    phase: Type.Optional(StringEnum(ADAPTATION_PHASES, { description: 'Where the adaptation is (docs/api.md).' })),
    conditions: Conditions(),
    observedGeneration: ObservedGeneration(),
    startTime: Timestamp(
      'When the run was accepted (waiting for tickets included); activeDeadlineSeconds counts from here. Cleared while suspended.',
    ),
    completionTime: Timestamp('When it reached Succeeded or Failed.'),
    attempts: Type.Optional(
      Obj(
        {
          calibrate: Type.Optional(Int32({ description: 'Pods started for calibration.', minimum: 0 })),
          train: Type.Optional(Int32({ description: 'Pods started for training.', minimum: 0 })),
        },
        {
          description:
            "Pods started per phase, summed over the phase's Jobs: failed, running and succeeded ones (pods lost to disruptions are not counted).",
        },
      ),
    ),
    failures: Type.Optional(
      Obj(
        {
          calibrate: Type.Optional(Int32({ description: 'Failed calibration pods.', minimum: 0 })),
          train: Type.Optional(Int32({ description: 'Failed training pods.', minimum: 0 })),
        },
        { description: "Failed attempts per phase, summed over the phase's Jobs: what backoffLimit is spent against." },
      ),
    ),
    progress: Type.Optional(Progress),
    inputs: Inputs(),
    mask: Type.Optional(MaskStatus),
    ticket: Type.Optional(TicketStatus),
    output: Type.Optional({
      ...ArtifactSummary,
      description: 'The adapted model directory (method full or lora; a lota run writes a ticket instead).',
    }),
    results: Type.Optional(Results),
    message: Message(),
  },
  { description: 'Observed state, written by the operator.' },
);

export const LotaAdaptation = RootObject(
  'lota.dev/v1alpha1',
  'LotaAdaptation',
  LotaAdaptationSpec,
  LotaAdaptationStatus,
  {
    description:
      'Adapts a base model to a task: with LoTA (calibrate, extract a sparse mask, train it) or a full/LoRA baseline. ' +
      'The result is a lottery ticket (sparse task vector) or a model.',
    'x-kubernetes-validations': [
      {
        rule: '!has(self.spec.lota) || !has(self.spec.lota.excludeTicketsOf) || !(self.metadata.name in self.spec.lota.excludeTicketsOf)',
        message: 'spec.lota.excludeTicketsOf must not name this LotaAdaptation itself',
        fieldPath: '.spec.lota.excludeTicketsOf',
      },
      specImmutableOnceStarted(LotaAdaptationSpec, ['suspend'], 'LotaAdaptation'),
    ],
  },
);
