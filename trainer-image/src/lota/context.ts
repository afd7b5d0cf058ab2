// What a phase runs with (the resolved spec, where things are, earlier tickets) and what it returns (the fields of
// its termination message). Shared by calibrate and the three train methods.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  joinArtifactUri,
  type MaskSummary,
  type OutputSummary,
  type ResolvedAdaptationSpec,
  type Results,
  resolveArtifactUri,
  type TicketSummary,
} from '@lota/api';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../io/checkpoint.ts';
import type { Parameters } from '../model/llama.ts';
import { type ProgressSink, silentSink } from '../progress/sink.ts';
import { InvalidSpecError } from './errors.ts';
import { fingerprintCheckpoint } from './fingerprint.ts';
import { type MaskSet, unionOf } from './mask.ts';
import { applyTicketTensor, assertSameBase, readTicket } from './ticket.ts';

export interface PhaseContext {
  spec: ResolvedAdaptationSpec;
  /** The resource's name and namespace (ticket metadata: task and source). */
  name: string;
  namespace: string;
  /** Dependency name → ticket URI (LOTA_TICKET_REFS). */
  ticketRefs: Record<string, string>;
  pvcRoot?: string;
  sink?: ProgressSink;
}

export interface PhaseOutcome {
  message: string;
  results?: Results;
  mask?: MaskSummary;
  ticket?: TicketSummary;
  output?: OutputSummary;
}

export function resolveUri(ctx: PhaseContext, uri: string): string {
  return resolveArtifactUri(uri, ctx.pvcRoot === undefined ? {} : { pvcRoot: ctx.pvcRoot });
}

/** Creates the output directory (the first thing every phase does). */
export async function prepareOutput(ctx: PhaseContext): Promise<void> {
  await mkdir(resolveUri(ctx, ctx.spec.output.uri), { recursive: true });
}

export function artifact(ctx: PhaseContext, relative: string): { uri: string; path: string } {
  const uri = joinArtifactUri(ctx.spec.output.uri, relative);
  return { uri, path: resolveUri(ctx, uri) };
}

export function sinkOf(ctx: PhaseContext): ProgressSink {
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
  const masks: MaskSet[] = [];
  for (const name of names) {
    const uri = ctx.ticketRefs[name];
    if (uri === undefined)
      throw new InvalidSpecError(`no ticket URI for excluded adaptation ${name} (LOTA_TICKET_REFS)`);
    const path = resolveUri(ctx, uri);
    const ticket = await readTicket(path);
    assertSameBase(ticket, fingerprint, `ticket of ${name} (${uri})`);
    const mask: MaskSet = new Map();
    for (const [tensor, t] of ticket.tensors) {
      const param = params.get(tensor);
      if (param === undefined)
        throw new InvalidSpecError(`ticket of ${name} adapts ${tensor}, which the base model lacks`);
      const next = applyTicketTensor(tensor, param.dataSync() as Float32Array, t);
      tf.tidy(() => param.assign(tf.tensor(next, param.shape)));
      mask.set(tensor, t.mask);
    }
    masks.push(mask);
  }
  return unionOf(masks);
}

/** Copies of the named parameters' values. */
export function snapshot(params: Parameters, names: Iterable<string>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const name of names)
    out.set(name, Float32Array.from((params.get(name) as tf.Variable).dataSync() as Float32Array));
  return out;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
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
