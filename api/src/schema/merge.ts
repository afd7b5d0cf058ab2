// TicketMerge (lota.dev/v1alpha1): combine tickets (sparse task vectors) or fine-tuned models into one model.
import { Type } from '@sinclair/typebox';
import {
  ArtifactSummary,
  ArtifactUri,
  Conditions,
  Density,
  DTYPES,
  Dtype,
  Inputs,
  MaxShardSize,
  Message,
  ModelRef,
  ObservedGeneration,
  OutputUri,
  Progress,
  Results,
  RunFields,
  Timestamp,
} from './common.ts';
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
  RootObject,
  Str,
  StringEnum,
} from './k8s.ts';
import { specImmutableOnceStarted } from './rules.ts';

export const MERGE_METHODS = ['sum', 'task-arithmetic', 'ties', 'dare-linear', 'dare-ties'] as const;
export const MERGE_OUTPUT_KINDS = ['model', 'ticket'] as const;
export const CONSENSUS_METHODS = ['sum', 'count'] as const;
export const RESCALE_METHODS = ['l1', 'inverse-density', 'none'] as const;

export const TicketSource = Obj(
  {
    name: Type.Optional(
      Str({
        description: 'Label of this input in reports (default: the adaptation name or the URI).',
        maxLength: 63,
        pattern: DNS1123_LABEL,
      }),
    ),
    adaptationRef: Type.Optional(
      Obj(
        { name: ObjectName('Name of a LotaAdaptation in the same namespace.') },
        { description: 'Use the ticket (or, for full/lora, the model) of a LotaAdaptation; waits until it succeeds.' },
      ),
    ),
    uri: Type.Optional(
      ArtifactUri('A ticket file (ticket.safetensors) or a fine-tuned model directory of the same base model.'),
    ),
    weight: Defaulted(
      Num({
        description: 'Scale of this task vector (task-arithmetic, ties, dare-*; sum uses it too).',
        minimum: -100,
        maximum: 100,
      }),
      1,
    ),
  },
  {
    description: 'One input: a LotaAdaptation or a URI.',
    'x-kubernetes-validations': [
      { rule: 'has(self.adaptationRef) != has(self.uri)', message: 'set exactly one of adaptationRef or uri' },
    ],
  },
);

export const MergeParameters = Obj(
  {
    lambda: Defaulted(
      Num({
        description: 'Overall scale of the merged task vector (task-arithmetic, ties, dare-*).',
        minimum: -100,
        maximum: 100,
      }),
      1,
    ),
    density: Type.Optional(
      Num({
        description:
          'Fraction of each task vector kept: by magnitude per tensor (ties) or at random (dare-*). Required for those.',
        minimum: 0,
        exclusiveMinimum: true,
        maximum: 1,
      }),
    ),
    consensus: Defaulted(
      StringEnum(CONSENSUS_METHODS, {
        description: 'Sign election of ties and dare-ties: by summed magnitude (sum) or by vote count (count).',
      }),
      'sum',
    ),
    normalize: Type.Optional(
      Bool({
        description:
          'Divide by the summed weights of the contributing inputs (MergeKit normalize). Default as MergeKit: true for ' +
          'ties, false for task-arithmetic, dare-linear and dare-ties; sum never normalizes.',
      }),
    ),
    rescale: Type.Optional(
      StringEnum(RESCALE_METHODS, {
        description:
          'dare-*: how kept entries are rescaled after the random drop. l1 (default): match the L1 norm of the ' +
          'undropped vector (MergeKit since v0.0.6); inverse-density: multiply by 1/density (the DARE paper, MergeKit ' +
          'before); none: no rescaling.',
      }),
    ),
    seed: Defaulted(Int({ description: 'Seed of the dare-* random drop.', minimum: 0, maximum: 4_294_967_295 }), 0),
  },
  { description: 'Method parameters (MergeKit names).' },
);

export const MergeOutput = Obj(
  {
    uri: OutputUri('Directory for the merged model (or ticket), results.json and interference.json.'),
    kind: Defaulted(
      StringEnum(MERGE_OUTPUT_KINDS, {
        description:
          'model: a full Hugging Face model directory; ticket: only the merged task vector (ticket.safetensors).',
      }),
      'model',
    ),
    dtype: Dtype(
      'Element type of the written weights or ticket values. float32 (default) keeps every δ; bfloat16/float16 ' +
        'round base + δ and may erase small deltas — status.output.survival says how many survive.',
    ),
    maxShardSize: MaxShardSize(),
  },
  { description: 'Where and what the merge writes.' },
);

export const TicketMergeSpec = Obj(
  {
    baseModel: ModelRef,
    tickets: List(TicketSource, {
      description: 'The inputs, merged in order.',
      minItems: 1,
      maxItems: 32,
      'x-kubernetes-list-type': 'atomic',
    }),
    method: Defaulted(
      StringEnum(MERGE_METHODS, {
        description:
          'sum: θ_base + Σ w_i·δ_i (LoTA; no normalisation); task-arithmetic: θ_base + λ·Σ w_i·δ_i; ties: trim to ' +
          'density, elect signs, disjoint mean; dare-linear / dare-ties: random drop to density, rescale, then sum or ties.',
      }),
      'sum',
    ),
    parameters: Defaulted(MergeParameters, {}),
    output: MergeOutput,
    ...RunFields(),
  },
  {
    description: 'What to merge, how, and where the result goes.',
    'x-kubernetes-validations': [
      {
        rule: "!(self.method in ['ties', 'dare-linear', 'dare-ties']) || has(self.parameters.density)",
        message: 'parameters.density is required for ties, dare-linear and dare-ties',
      },
      {
        rule: "self.method in ['ties', 'dare-linear', 'dare-ties'] || !has(self.parameters.density)",
        message: 'parameters.density only applies to ties, dare-linear and dare-ties',
      },
      {
        rule: 'self.tickets.all(t, !has(t.uri) || t.uri != self.output.uri) && self.output.uri != self.baseModel.uri',
        message: 'output.uri must differ from baseModel.uri and from every ticket uri',
      },
      {
        rule: 'self.tickets.all(t, !has(t.adaptationRef) || self.tickets.exists_one(u, has(u.adaptationRef) && u.adaptationRef.name == t.adaptationRef.name))',
        message: 'each LotaAdaptation may be referenced once',
      },
    ],
  },
);

export const MERGE_PHASES = ['Pending', 'WaitingForTickets', 'Merging', 'Succeeded', 'Failed', 'Suspended'] as const;

export const Interference = Obj(
  {
    tickets: Int32({ description: 'Inputs compared.', minimum: 0 }),
    overlappingEntries: Int({ description: 'Entries changed by two or more inputs.', minimum: 0 }),
    overlapFraction: Density('overlappingEntries / entries changed by any input.'),
    signConflicts: Int({ description: 'Overlapping entries whose deltas disagree in sign.', minimum: 0 }),
    maxPairwiseJaccard: Density('Largest Jaccard overlap of two inputs’ changed entries.'),
    maxPair: Type.Optional(
      List(Str({ maxLength: 253 }), { description: 'The two inputs with that overlap.', minItems: 2, maxItems: 2 }),
    ),
    reportUri: Type.Optional(ArtifactUri('The full pairwise report (interference.json).')),
  },
  { description: 'How much the inputs collide: the destructive interference LoTA tickets are meant to avoid.' },
);

export const ResolvedTicket = Obj(
  {
    name: Str({ description: 'The input label.', maxLength: 253 }),
    uri: ArtifactUri('What was read.'),
  },
  { description: 'An input as resolved when the merge started.' },
);

export const TicketMergeStatus = Obj(
  {
    phase: Type.Optional(StringEnum(MERGE_PHASES, { description: 'Where the merge is (docs/api.md).' })),
    conditions: Conditions(),
    observedGeneration: ObservedGeneration(),
    startTime: Timestamp(
      'When the run was accepted (waiting for tickets included); activeDeadlineSeconds counts from here. Cleared while suspended.',
    ),
    completionTime: Timestamp('When it reached Succeeded or Failed.'),
    attempts: Type.Optional(
      Obj(
        { merge: Type.Optional(Int32({ description: 'Pods started for the merge.', minimum: 0 })) },
        {
          description:
            "Pods started per phase, summed over the phase's Jobs: failed, running and succeeded ones (pods lost to disruptions are not counted).",
        },
      ),
    ),
    failures: Type.Optional(
      Obj(
        { merge: Type.Optional(Int32({ description: 'Failed merge pods.', minimum: 0 })) },
        { description: "Failed attempts per phase, summed over the phase's Jobs: what backoffLimit is spent against." },
      ),
    ),
    tickets: Type.Optional(
      List(ResolvedTicket, {
        description: 'The inputs as resolved.',
        maxItems: 32,
        'x-kubernetes-list-type': 'atomic',
      }),
    ),
    progress: Type.Optional(Progress),
    interference: Type.Optional(Interference),
    results: Type.Optional(Results),
    inputs: Inputs(),
    output: Type.Optional(
      Obj(
        {
          ...ArtifactSummary.properties,
          survival: Type.Optional(
            Obj(
              {
                dtype: StringEnum(DTYPES, { description: 'Element type of the written values (output.dtype).' }),
                changedEntries: Int({ description: 'Entries the merge changes (in float32).', minimum: 0 }),
                survivingEntries: Int({
                  description: 'Of those, entries whose written value still differs from the base’s.',
                  minimum: 0,
                }),
                survivingFraction: Density('survivingEntries / changedEntries (1 when nothing changed).'),
              },
              {
                description:
                  'Whether the tickets survive the written dtype: base + δ rounded to bfloat16/float16 erases every δ ' +
                  'below half a unit in the last place of its weight (most deltas at fine-tuning learning rates). ' +
                  'float32, the default, keeps them all.',
              },
            ),
          ),
        },
        { description: 'The merged model directory or ticket.' },
      ),
    ),
    message: Message(),
  },
  { description: 'Observed state, written by the operator.' },
);

export const TicketMerge = RootObject('lota.dev/v1alpha1', 'TicketMerge', TicketMergeSpec, TicketMergeStatus, {
  description:
    'Merges lottery tickets (or fine-tuned models) of one base model into a model, with LoTA addition or a ' +
    'MergeKit-style baseline (task arithmetic, TIES, DARE), and reports their interference.',
  'x-kubernetes-validations': [specImmutableOnceStarted(TicketMergeSpec, ['suspend'], 'TicketMerge')],
});
