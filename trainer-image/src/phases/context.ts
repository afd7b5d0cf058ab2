// What a phase runs with (the resolved spec, where things are, earlier tickets) and what it returns (the fields of
// its termination message); the set-up every phase shares, and one run of the training loop reported as a stage.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { joinArtifactUri, type ResolvedAdaptationSpec, resolveArtifactUri, type TerminationMessage } from '@lota/api';
import { parseQuantity } from '@lota/api/quantity';
import type * as tf from '@tensorflow/tfjs';
import type { TokenizedExample } from '../data/examples.ts';
import { InvalidSpecError } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { type OutputDtype, outputDtypeOfTorch } from '../io/dtype.ts';
import { applyTicketsInMemory } from '../lota/apply.ts';
import { fingerprintCheckpoint } from '../lota/fingerprint.ts';
import { type MaskSet, unionOf } from '../lota/mask.ts';
import { readTicket } from '../lota/ticket.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { Parameters } from '../model/llama.ts';
import { type ProgressSink, silentSink } from '../progress/sink.ts';
import type { Optimizer } from '../train/dense-optimizer.ts';
import { type TrainOptions, type TrainResult, train } from '../train/loop.ts';
import { loadTask, type TaskData, type TrainingPlan } from './task.ts';

/** An adaptation phase's context (a merge's has a TicketMerge spec: `PhaseContext<ResolvedMergeSpec>`). */
export interface PhaseContext<S extends PhaseSpec = ResolvedAdaptationSpec> {
  spec: S;
  /** The resource's name and namespace (ticket metadata: task and source). */
  name: string;
  namespace: string;
  /** Dependency name → ticket URI (LOTA_TICKET_REFS). */
  ticketRefs: Record<string, string>;
  pvcRoot?: string;
  sink?: ProgressSink;
}

/** What every spec has that the shared set-up reads. */
export interface PhaseSpec {
  output: { uri: string };
}

/** The fields of the termination message a phase fills in. */
export type PhaseOutcome = Omit<TerminationMessage, 'version' | 'phase' | 'outcome' | 'reason'>;

export function resolveUri(ctx: PhaseContext<PhaseSpec>, uri: string): string {
  return resolveArtifactUri(uri, ctx.pvcRoot === undefined ? {} : { pvcRoot: ctx.pvcRoot });
}

/** Creates the output directory (the first thing every phase does). */
async function prepareOutput(ctx: PhaseContext<PhaseSpec>): Promise<void> {
  await mkdir(resolveUri(ctx, ctx.spec.output.uri), { recursive: true });
}

export function artifact(ctx: PhaseContext<PhaseSpec>, relative: string): { uri: string; path: string } {
  const uri = joinArtifactUri(ctx.spec.output.uri, relative);
  return { uri, path: resolveUri(ctx, uri) };
}

export function sinkOf(ctx: PhaseContext<PhaseSpec>): ProgressSink {
  return ctx.sink ?? silentSink;
}

export async function baseFingerprint(baseDir: string): Promise<string> {
  const checkpoint = await Checkpoint.open(baseDir);
  try {
    return await fingerprintCheckpoint(checkpoint);
  } finally {
    await checkpoint.close();
  }
}

/**
 * LoTTO: reads the tickets of `spec.lota.excludeTicketsOf`, checks they belong to this base, adds them to the
 * parameters (training starts from base + earlier tickets) and returns the union of their masks (to exclude).
 */
export async function applyEarlierTickets(
  ctx: PhaseContext,
  params: Parameters,
  fingerprint: string,
): Promise<MaskSet | undefined> {
  const names = ctx.spec.lota?.excludeTicketsOf ?? [];
  if (names.length === 0) return undefined;
  const tickets = [];
  for (const name of names) {
    const uri = ticketUri(ctx, name, `no ticket URI for excluded adaptation ${name} (LOTA_TICKET_REFS)`);
    tickets.push({ what: `ticket of ${name} (${uri})`, ticket: await readTicket(resolveUri(ctx, uri)) });
  }
  await applyTicketsInMemory(params, tickets, fingerprint);
  const masks: MaskSet[] = tickets.map(({ ticket }) => new Map([...ticket.tensors].map(([n, t]) => [n, t.mask])));
  return unionOf(masks);
}

/** The ticket URI the operator passed for adaptation `name` (LOTA_TICKET_REFS); `missing` is the error otherwise. */
export function ticketUri(ctx: PhaseContext<PhaseSpec>, name: string, missing: string): string {
  const uri = ctx.ticketRefs[name];
  if (uri === undefined) throw new InvalidSpecError(missing);
  return uri;
}

/** Copies of the named parameters' values. */
export function snapshot(params: Parameters, names: Iterable<string>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const name of names)
    out.set(name, Float32Array.from((params.get(name) as tf.Variable).dataSync() as Float32Array));
  return out;
}

/** The file dtype of the spec's output.dtype (a PyTorch name; float32 when it names none). */
export function outputDtype(specDtype: string): OutputDtype {
  return outputDtypeOfTorch(specDtype) ?? 'f32';
}

/** output.maxShardSize (a Kubernetes quantity such as 2Gi, or a number of bytes) in bytes. */
export function shardBytes(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  let bytes: number;
  try {
    bytes = parseQuantity(quantity);
  } catch {
    bytes = Number.NaN;
  }
  if (!(bytes >= 0))
    throw new InvalidSpecError(`output.maxShardSize ${JSON.stringify(quantity)} is not a size such as 2Gi or 500M`);
  return Math.floor(bytes);
}

/** Writes a file whole or not at all (temp file + rename). */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.partial`, text);
  await rename(`${path}.partial`, path);
}

export function requireLota(spec: ResolvedAdaptationSpec): NonNullable<ResolvedAdaptationSpec['lota']> {
  if (spec.method !== 'lota' || spec.lota === undefined) {
    throw new InvalidSpecError(`this phase needs method lota; the spec has method ${spec.method}`);
  }
  return spec.lota;
}

/** The phase's progress sink and the base model's directory; the output directory is created. */
export async function openPhase(
  ctx: PhaseContext<PhaseSpec & { baseModel: { uri: string } }>,
): Promise<{ sink: ProgressSink; baseDir: string }> {
  const sink = sinkOf(ctx);
  const baseDir = resolveUri(ctx, ctx.spec.baseModel.uri);
  await prepareOutput(ctx);
  return { sink, baseDir };
}

/** The spec's dataset, tokenized with the base model's tokenizer. */
export function loadPhaseTask(ctx: PhaseContext, baseDir: string): Promise<TaskData> {
  return loadTask(ctx.spec, baseDir, (uri) => resolveUri(ctx, uri));
}

export interface StageOptions {
  params: Parameters;
  config: LlamaConfig;
  examples: readonly TokenizedExample[];
  optimizer: Optimizer;
  trainable: readonly string[];
  transformGrads?: TrainOptions['transformGrads'];
  plan: TrainingPlan;
  /** Epochs and step limit of this run instead of the plan's (calibration has its own). */
  length?: { epochs: number; maxSteps?: number };
  maxSeqLength: number;
  padId: number;
  /** Steps the progress stage announces. */
  totalSteps: number;
}

/** Trains as the plan says, each step reported to `sink` under `stage`; the optimizer is disposed afterwards. */
export async function trainStage(sink: ProgressSink, stage: string, o: StageOptions): Promise<TrainResult> {
  const { plan } = o;
  const { epochs, maxSteps } = o.length ?? plan;
  sink.begin(stage, o.totalSteps);
  const result = await train({
    params: o.params,
    config: o.config,
    examples: o.examples,
    optimizer: o.optimizer,
    trainable: o.trainable,
    ...(o.transformGrads !== undefined ? { transformGrads: o.transformGrads } : {}),
    batchSize: plan.batchSize,
    maxSeqLength: o.maxSeqLength,
    padId: o.padId,
    schedule: plan.schedule,
    epochs,
    ...(maxSteps !== undefined ? { maxSteps } : {}),
    gradAccumulation: plan.gradAccumulation,
    clip: plan.clip,
    seed: plan.seed,
    onStep: (s) => sink.step({ step: s.step, totalSteps: s.totalSteps, loss: s.loss, tokens: s.tokens }),
  });
  sink.end();
  o.optimizer.dispose();
  return result;
}
