import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CALIBRATION_LEARNING_RATE,
  DEFAULT_LEARNING_RATE,
  withAdaptationDefaults,
  withMergeDefaults,
} from '../src/defaults.ts';
import { DEFAULT_TARGETS } from '../src/targets.ts';
import type { LotaAdaptationSpec, TicketMergeSpec } from '../src/types.ts';

const minimal: LotaAdaptationSpec = {
  baseModel: { uri: 'pvc://models/base' },
  dataset: { uri: 'pvc://data/train.jsonl' },
  output: { uri: 'pvc://models/run1' },
};

describe('withAdaptationDefaults', () => {
  it('fills the LoTA reference settings into a minimal spec', () => {
    const s = withAdaptationDefaults(minimal);
    expect(s.method).toBe('lota');
    if (s.method !== 'lota') throw new Error('unreachable');
    expect(s.lota.sparsity).toBe(0.9);
    expect(s.lota.maskSelection).toBe('magnitude');
    expect(s.lota.targets).toEqual(DEFAULT_TARGETS);
    expect(s.lota.calibration).toEqual({ dataFraction: 1, learningRate: 5e-7 });
    expect(s.training).toMatchObject({
      epochs: 3,
      optimizer: 'rmsprop',
      learningRate: 1e-5,
      maxGradNorm: 1,
      gradClipScope: 'per-tensor',
      lrSchedule: 'constant',
      batchSize: 8,
      gradientAccumulationSteps: 4,
    });
    expect(s.dataset).toEqual({
      uri: 'pvc://data/train.jsonl',
      format: 'messages',
      maxSeqLength: 512,
      maxPromptLength: 256,
      invalidLines: 'fail',
    });
    expect(s.output).toEqual({ uri: 'pvc://models/run1', dtype: 'float32', maxShardSize: '2Gi' });
    expect(s.resources).toEqual({ gpus: 0 });
    expect(s.trainer).toEqual({ backend: 'auto' });
    expect(s).toMatchObject({ backoffLimit: 3, suspend: false });
  });

  it('keeps what the user set and does not mutate its input', () => {
    const spec: LotaAdaptationSpec = {
      ...minimal,
      lota: { sparsity: 0.99, calibration: { steps: 50, learningRate: 1e-4 } },
      training: { maxSteps: 200, learningRate: 3e-5, optimizer: 'adamw' },
    };
    const before = structuredClone(spec);
    const s = withAdaptationDefaults(spec);
    expect(spec).toEqual(before);
    if (s.method !== 'lota') throw new Error('unreachable');
    expect(s.lota.sparsity).toBe(0.99);
    expect(s.lota.calibration).toEqual({ steps: 50, learningRate: 1e-4 });
    expect(s.training.maxSteps).toBe(200);
    expect(s.training.epochs).toBeUndefined();
    expect(s.training.learningRate).toBe(3e-5);
    expect(s.training.optimizer).toBe('adamw');
  });

  it('defaults the learning rate by method and fills only that method’s section', () => {
    const full = withAdaptationDefaults({ ...minimal, method: 'full' });
    expect(full.training.learningRate).toBe(DEFAULT_LEARNING_RATE.full);
    expect(full.lota).toBeUndefined();
    expect(full.lora).toBeUndefined();
    const lora = withAdaptationDefaults({ ...minimal, method: 'lora' });
    expect(lora.training.learningRate).toBe(DEFAULT_LEARNING_RATE.lora);
    if (lora.method !== 'lora') throw new Error('unreachable');
    expect(lora.lora).toEqual({ rank: 8, alpha: 16, targets: DEFAULT_TARGETS });
  });

  it('calibrates at a dense (FFT) learning rate of its own, not the sparse training one', () => {
    const s = withAdaptationDefaults({ ...minimal, training: { learningRate: 2e-5 } });
    expect(s.lota?.calibration.learningRate).toBe(DEFAULT_CALIBRATION_LEARNING_RATE);
    expect(DEFAULT_CALIBRATION_LEARNING_RATE).toBe(DEFAULT_LEARNING_RATE.full);
  });

  it('gives a calibration read from a fine-tuned model no learning rate', () => {
    const s = withAdaptationDefaults({ ...minimal, lota: { calibration: { fromModel: 'pvc://models/fft' } } });
    expect(s.lota?.calibration).toEqual({ fromModel: 'pvc://models/fft' });
  });
});

describe('withMergeDefaults', () => {
  it('defaults to the LoTA sum of tickets into a float32 model', () => {
    const spec: TicketMergeSpec = {
      baseModel: { uri: 'pvc://models/base' },
      tickets: [{ adaptationRef: { name: 'math' } }, { uri: 'pvc://models/code/ticket.safetensors', weight: 0.5 }],
      output: { uri: 'pvc://models/merged' },
    };
    const s = withMergeDefaults(spec);
    expect(s.method).toBe('sum');
    expect(s.tickets.map((t) => t.weight)).toEqual([1, 0.5]);
    expect(s.parameters).toEqual({ lambda: 1, consensus: 'sum', seed: 0 });
    expect(s.output).toEqual({ uri: 'pvc://models/merged', kind: 'model', dtype: 'float32', maxShardSize: '2Gi' });
  });
});
