// One adaptation of the science run, through the trainer's own phases: the spec is admitted and defaulted as the
// API server would (admitAdaptation + withAdaptationDefaults), then FFT runs `trainFull`, LoTA runs `calibrate` and
// `trainSparse` (LoTTO through `excludeTicketsOf`), LoRA runs `trainLora`.
// Every run leaves a model directory to evaluate; LoTA also leaves its ticket.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ARTIFACTS,
  admitAdaptation,
  type LotaAdaptationSpec,
  type ResolvedAdaptationSpec,
  targetMatcher,
  withAdaptationDefaults,
} from '@lota/api';
import { Checkpoint } from '../../trainer-image/src/io/checkpoint.ts';
import { applyTickets } from '../../trainer-image/src/lota/apply.ts';
import { globalTopK } from '../../trainer-image/src/lota/extract.ts';
import { fingerprintCheckpoint } from '../../trainer-image/src/lota/fingerprint.ts';
import { writeMaskFile } from '../../trainer-image/src/lota/mask-file.ts';
import { calibrate } from '../../trainer-image/src/phases/calibrate.ts';
import type { PhaseContext } from '../../trainer-image/src/phases/context.ts';
import { trainFull } from '../../trainer-image/src/phases/train-full.ts';
import { trainLora } from '../../trainer-image/src/phases/train-lora.ts';
import { trainSparse } from '../../trainer-image/src/phases/train-sparse.ts';
import type { ProgressSink } from '../../trainer-image/src/progress/sink.ts';

export type Method = 'full' | 'lora' | 'lota';

export interface AdaptOptions {
  /** Unique name of the run (a ticket's task, the output folder). */
  name: string;
  method: Method;
  baseModel: string;
  trainData: string;
  /** Folder for this run's artifacts. */
  out: string;
  learningRate: number;
  steps: number;
  batchSize: number;
  seed: number;
  sparsity?: number;
  calibrationSteps?: number;
  loraRank?: number;
  loraAlpha?: number;
  /** LoTTO: earlier runs' tickets (name → ticket path) excluded from this mask and applied before training. */
  excludeTickets?: Record<string, string>;
  /**
   * LoTA: rank |Δ| of this FFT model (same base, same data) instead of running `calibrate` — the reference's
   * practice of reusing a full fine-tuning run as the calibration.
   */
  calibratedModel?: string;
  /** Receives each step's loss (progress of long runs). */
  onLoss?: (stage: string, step: number, loss: number) => void;
}

export interface Adapted {
  name: string;
  method: Method;
  /** The adapted model (LoTA: base + ticket, materialised). */
  modelDir: string;
  ticket?: string;
  trainLoss: number;
  /** Trainable entries of the adapted tensors (LoTA: mask size; LoRA: adapter entries; FFT: all parameters). */
  trainable?: number;
  seconds: number;
}

const MAX_SEQ = 64;

export function adaptationSpec(o: AdaptOptions): ResolvedAdaptationSpec {
  const spec: LotaAdaptationSpec = {
    baseModel: { uri: `file://${o.baseModel}` },
    dataset: { uri: `file://${o.trainData}`, maxSeqLength: MAX_SEQ, maxPromptLength: MAX_SEQ - 16 },
    method: o.method,
    training: {
      maxSteps: o.steps,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      seed: o.seed,
    },
    output: { uri: `file://${o.out}`, dtype: 'float32' },
  };
  if (o.method === 'lota') {
    spec.lota = {
      sparsity: o.sparsity ?? 0.9,
      calibration: { steps: o.calibrationSteps ?? o.steps },
      ...(o.excludeTickets ? { excludeTicketsOf: Object.keys(o.excludeTickets) } : {}),
    };
  }
  if (o.method === 'lora') spec.lora = { rank: o.loraRank ?? 8, alpha: o.loraAlpha ?? 16 };
  const admitted = admitAdaptation({
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'LotaAdaptation',
    metadata: { name: o.name, namespace: 'science' },
    spec,
  });
  return withAdaptationDefaults(admitted.spec);
}

export async function adapt(o: AdaptOptions): Promise<Adapted> {
  const started = performance.now();
  await mkdir(o.out, { recursive: true });
  const spec = adaptationSpec(o);
  const ctx: PhaseContext = {
    spec,
    name: o.name,
    namespace: 'science',
    ticketRefs: Object.fromEntries(Object.entries(o.excludeTickets ?? {}).map(([n, p]) => [n, `file://${p}`])),
    ...(o.onLoss ? { sink: lossSink(o.onLoss) } : {}),
  };
  const modelDir = join(o.out, ARTIFACTS.model);
  const seconds = () => (performance.now() - started) / 1000;
  if (o.method === 'full') {
    const outcome = await trainFull(ctx);
    return {
      name: o.name,
      method: o.method,
      modelDir,
      trainLoss: outcome.results?.trainLoss ?? Number.NaN,
      seconds: seconds(),
    };
  }
  if (o.method === 'lota') {
    if (o.calibratedModel === undefined) await calibrate(ctx);
    else await maskFromModel(spec, o.baseModel, o.calibratedModel, join(o.out, ARTIFACTS.mask));
    const outcome = await trainSparse(ctx);
    const ticket = join(o.out, ARTIFACTS.ticket);
    // The adapted model is base + earlier tickets (LoTTO) + this ticket, as `lota-trainer apply` builds it.
    await applyTickets(o.baseModel, [...Object.values(o.excludeTickets ?? {}), ticket], modelDir, { dtype: 'f32' });
    return {
      name: o.name,
      method: o.method,
      modelDir,
      ticket,
      trainLoss: outcome.results?.trainLoss ?? Number.NaN,
      ...(outcome.mask ? { trainable: outcome.mask.trainable } : {}),
      seconds: seconds(),
    };
  }
  const outcome = await trainLora(ctx);
  return {
    name: o.name,
    method: o.method,
    modelDir,
    trainLoss: outcome.results?.trainLoss ?? Number.NaN,
    trainable: await loraEntries(spec),
    seconds: seconds(),
  };
}

/** r·(in + out) per adapted [out, in] weight of the base. */
async function loraEntries(spec: ResolvedAdaptationSpec): Promise<number> {
  if (spec.method !== 'lora') return 0;
  const base = await Checkpoint.open(spec.baseModel.uri.replace(/^file:\/\//, ''));
  try {
    const matches = targetMatcher(spec.lora.targets);
    let n = 0;
    for (const name of base.names().filter(matches)) {
      const [out, inp] = base.info(name).shape as [number, number];
      n += spec.lora.rank * (out + inp);
    }
    return n;
  } finally {
    await base.close();
  }
}

function lossSink(onLoss: NonNullable<AdaptOptions['onLoss']>): ProgressSink {
  let stage = '';
  return {
    begin: (s) => {
      stage = s;
    },
    step: (r) => onLoss(stage, r.step, r.loss ?? Number.NaN),
    end: () => {},
    info: () => {},
  };
}

/** Phase 2 on a finished dense run: Δ = θ_model − θ_base over the targets, global top-k, written as the mask file. */
async function maskFromModel(
  spec: ResolvedAdaptationSpec,
  baseDir: string,
  modelDir: string,
  maskPath: string,
): Promise<void> {
  if (spec.method !== 'lota') throw new Error('internal: a mask needs a lota spec');
  const [base, model] = await Promise.all([Checkpoint.open(baseDir), Checkpoint.open(modelDir)]);
  try {
    const matches = targetMatcher(spec.lota.targets);
    const deltas = new Map<string, Float32Array>();
    const shapes: Record<string, number[]> = {};
    for (const name of base.names().filter(matches)) {
      const [b, m] = await Promise.all([base.readFloat32(name), model.readFloat32(name)]);
      deltas.set(
        name,
        Float32Array.from(m, (x, i) => x - (b[i] as number)),
      );
      shapes[name] = [...base.info(name).shape];
    }
    if (deltas.size === 0) throw new Error(`lota.targets match no tensor of ${baseDir}`);
    const extraction = globalTopK(deltas, spec.lota.sparsity);
    await writeMaskFile(maskPath, extraction.masks, {
      baseFingerprint: await fingerprintCheckpoint(base),
      sparsity: spec.lota.sparsity,
      selection: 'global',
      ...(extraction.threshold !== undefined ? { threshold: extraction.threshold } : {}),
      shapes,
    });
  } finally {
    await Promise.all([base.close(), model.close()]);
  }
}
