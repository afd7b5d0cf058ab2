// Invalid objects, each with the field the API server names and the message it gives. Shared by
// admission.cluster.test.ts (the real kube-apiserver) and validate.test.ts (the clusterless validator), so both
// enforce the same rules with the same words.
import type { LotaAdaptation, TicketMerge } from '../src/types.ts';

export function adaptation(name = 'task-a'): LotaAdaptation {
  return {
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'LotaAdaptation',
    metadata: { name },
    spec: {
      baseModel: { uri: 'pvc://models/base' },
      dataset: { uri: 'pvc://datasets/a/train.jsonl' },
      output: { uri: 'pvc://models/runs/a' },
    },
  };
}

export function merge(): TicketMerge {
  return {
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'TicketMerge',
    metadata: { name: 'ab' },
    spec: {
      baseModel: { uri: 'pvc://models/base' },
      tickets: [{ adaptationRef: { name: 'task-a' } }, { uri: 'pvc://models/runs/b/ticket.safetensors' }],
      output: { uri: 'pvc://models/runs/ab' },
    },
  };
}

export type Case = [name: string, make: () => object, field: string, message: string];

const A = (edit: (a: LotaAdaptation) => void) => () => {
  const a = adaptation();
  edit(a);
  return a;
};
const M = (edit: (m: TicketMerge) => void) => () => {
  const m = merge();
  edit(m);
  return m;
};
const lota = (a: LotaAdaptation) => {
  a.spec.lota ??= {};
  return a.spec.lota;
};

// [what, object, the field the server names, the message it gives]
export const schemaCases: Case[] = [
  ['sparsity 1 (open interval)', A((a) => (lota(a).sparsity = 1)), 'spec.lota.sparsity', 'should be less than 1'],
  ['sparsity 0', A((a) => (lota(a).sparsity = 0)), 'spec.lota.sparsity', 'should be greater than 0'],
  [
    'unknown method',
    A((a) => (a.spec.method = 'qlora' as never)),
    'spec.method',
    'supported values: "lota", "full", "lora"',
  ],
  ['unknown URI scheme', A((a) => (a.spec.baseModel.uri = 'gs://bucket/base')), 'spec.baseModel.uri', 'should match'],
  ['hf:// without an org', A((a) => (a.spec.baseModel.uri = 'hf://gpt2')), 'spec.baseModel.uri', 'should match'],
  [
    's3:// with an invalid bucket',
    A((a) => (a.spec.dataset.uri = 's3://Data_1/x.jsonl')),
    'spec.dataset.uri',
    'should match',
  ],
  [
    'hub endpoint that is not an http(s) URL',
    A((a) => (a.spec.storage = { hubEndpoint: 'ftp://mirror' })),
    'spec.storage.hubEndpoint',
    'should match',
  ],
  [
    'secretRef without a name',
    A((a) => (a.spec.storage = { secretRef: {} as { name: string } })),
    'spec.storage.secretRef.name',
    'Required value',
  ],
  [
    'file:// URI with a host',
    A((a) => (a.spec.dataset.uri = 'file://fileserver/data.jsonl')),
    'spec.dataset.uri',
    'should match',
  ],
  ['missing output', A((a) => delete (a.spec as Partial<typeof a.spec>).output), 'spec.output', 'Required value'],
  [
    'unknown optimizer',
    A((a) => (a.spec.training = { optimizer: 'adagrad' as never })),
    'spec.training.optimizer',
    'Unsupported value: "adagrad"',
  ],
  [
    'LoRA rank 0',
    A((a) => {
      a.spec.method = 'lora';
      a.spec.lora = { rank: 0 };
    }),
    'spec.lora.rank',
    'should be greater than or equal to 1',
  ],
  [
    'excludeTicketsOf naming something that is not an object name',
    A((a) => (lota(a).excludeTicketsOf = ['other-ns/task-b'])),
    'spec.lota.excludeTicketsOf[0]',
    'should match',
  ],
  [
    'target glob with regex syntax',
    A((a) => (lota(a).targets = ['model.(q|k)_proj.weight'])),
    'spec.lota.targets[0]',
    'should match',
  ],
  [
    'the same name twice in excludeTicketsOf (a set)',
    A((a) => (lota(a).excludeTicketsOf = ['task-b', 'task-b'])),
    'spec.lota.excludeTicketsOf[1]',
    'Duplicate value: "task-b"',
  ],
  ['merge with no tickets', M((m) => (m.spec.tickets = [])), 'spec.tickets', 'should have at least 1 items'],
];

export const celCases: Case[] = [
  [
    'output to the Hub',
    A((a) => (a.spec.output.uri = 'hf://org/out')),
    'spec.output.uri',
    'hf:// is read-only: write outputs to s3://, pvc:// or file://',
  ],
  [
    'merge output to the Hub',
    M((m) => (m.spec.output.uri = 'hf://org/merged@main')),
    'spec.output.uri',
    'hf:// is read-only',
  ],
  [
    "'..' in a URI",
    A((a) => (a.spec.dataset.uri = 'pvc://datasets/a/../../secrets/x')),
    'spec.dataset.uri',
    "must not contain '..' path segments",
  ],
  [
    'calibration with both steps and dataFraction',
    A((a) => (lota(a).calibration = { steps: 10, dataFraction: 0.5 })),
    'spec.lota.calibration',
    'set exactly one of calibration.steps, calibration.dataFraction or calibration.fromModel',
  ],
  [
    'calibration with neither',
    A((a) => (lota(a).calibration = { learningRate: 1e-4 })),
    'spec.lota.calibration',
    'set exactly one of calibration.steps, calibration.dataFraction or calibration.fromModel',
  ],
  [
    'calibration with steps and fromModel',
    A((a) => (lota(a).calibration = { steps: 10, fromModel: 'pvc://models/runs/fft' })),
    'spec.lota.calibration',
    'set exactly one of calibration.steps, calibration.dataFraction or calibration.fromModel',
  ],
  [
    'calibration fromModel with a learning rate',
    A((a) => (lota(a).calibration = { fromModel: 'pvc://models/runs/fft', learningRate: 1e-4 })),
    'spec.lota.calibration',
    'calibration.learningRate applies to a calibration run, not to calibration.fromModel',
  ],
  [
    'calibration fromModel is the base model',
    A((a) => (lota(a).calibration = { fromModel: 'pvc://models/base' })),
    'spec',
    'lota.calibration.fromModel must differ from output.uri and baseModel.uri',
  ],
  [
    'excludeTicketsOf naming itself',
    A((a) => (lota(a).excludeTicketsOf = ['other', 'task-a'])),
    'spec.lota.excludeTicketsOf',
    'must not name this LotaAdaptation itself',
  ],
  [
    'epochs and maxSteps',
    A((a) => (a.spec.training = { epochs: 2, maxSteps: 100 })),
    'spec.training',
    'set training.epochs or training.maxSteps, not both',
  ],
  [
    'warmup as long as the run',
    A((a) => (a.spec.training = { maxSteps: 100, warmupSteps: 100 })),
    'spec.training',
    'training.warmupSteps must be smaller than training.maxSteps',
  ],
  [
    'a lota section on a full fine-tune',
    A((a) => {
      a.spec.method = 'full';
      a.spec.lota = { sparsity: 0.9 };
    }),
    'spec',
    'spec.lota is only allowed with method lota',
  ],
  [
    'prompt as long as the sequence',
    A((a) => (a.spec.dataset = { ...a.spec.dataset, maxSeqLength: 256, maxPromptLength: 256 })),
    'spec.dataset',
    'maxPromptLength must be smaller than maxSeqLength',
  ],
  [
    'output over the base model',
    A((a) => (a.spec.output.uri = a.spec.baseModel.uri)),
    'spec',
    'output.uri must differ from baseModel.uri and dataset.uri',
  ],
  [
    'an env var in the contract namespace',
    A((a) => (a.spec.trainer = { env: [{ name: 'LOTA_SPEC', value: '{}' }] })),
    'spec.trainer.env[0].name',
    'env names starting with LOTA_ are reserved',
  ],
  [
    'env with value and valueFrom',
    A(
      (a) =>
        (a.spec.trainer = {
          env: [{ name: 'TOKEN', value: 'x', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
        }),
    ),
    'spec.trainer.env[0]',
    'set value or valueFrom, not both',
  ],
  [
    'env valueFrom naming no source',
    A((a) => (a.spec.trainer = { env: [{ name: 'TOKEN', valueFrom: {} }] })),
    'spec.trainer.env[0].valueFrom',
    'exactly one of secretKeyRef or configMapKeyRef is required',
  ],
  [
    'a lora section on a LoTA run',
    A((a) => (a.spec.lora = { rank: 4 })),
    'spec',
    'spec.lora is only allowed with method lora',
  ],
  [
    'GPUs as a raw resource',
    A((a) => (a.spec.resources = { limits: { 'nvidia.com/gpu': 1 } })),
    'spec.resources',
    'request GPUs with resources.gpus',
  ],
  [
    'a ticket with both adaptationRef and uri',
    M((m) => (m.spec.tickets[0] = { adaptationRef: { name: 'a' }, uri: 'pvc://models/t' })),
    'spec.tickets[0]',
    'set exactly one of adaptationRef or uri',
  ],
  [
    'ties without density',
    M((m) => (m.spec.method = 'ties')),
    'spec',
    'parameters.density is required for ties, dare-linear and dare-ties',
  ],
  [
    'density on a plain sum',
    M((m) => (m.spec.parameters = { density: 0.5 })),
    'spec',
    'parameters.density only applies to ties, dare-linear and dare-ties',
  ],
  [
    'merge output over an input ticket',
    M((m) => (m.spec.output.uri = 'pvc://models/runs/b/ticket.safetensors')),
    'spec',
    'output.uri must differ from baseModel.uri and from every ticket uri',
  ],
  [
    'the same adaptation twice',
    M((m) => (m.spec.tickets = [{ adaptationRef: { name: 'x' } }, { adaptationRef: { name: 'x' } }])),
    'spec',
    'each LotaAdaptation may be referenced once',
  ],
];
