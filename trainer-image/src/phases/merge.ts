// The merge phase: a TicketMerge spec (API form, defaults applied) → tensors-merge's runMerge.
import { join } from 'node:path';
import { ARTIFACTS, type ResolvedMergeSpec } from '@lota/api';
import { InvalidSpecError } from '../errors.ts';
import { describeSurvival } from '../lota/survival.ts';
import { type MergeMethodName, parametersFromSpec } from '../merge/methods.ts';
import { type MergeSpec, MergeSpecError, runMerge } from '../merge/run.ts';
import { storageConfigFromEnv } from '../storage/config.ts';
import {
  artifact,
  outputDtype,
  type PhaseContext,
  type PhaseOutcome,
  resolveUri,
  shardBytes,
  sinkOf,
  ticketUri,
  writeAtomic,
} from './context.ts';

export async function mergePhase(ctx: PhaseContext<ResolvedMergeSpec>): Promise<PhaseOutcome> {
  const { spec } = ctx;
  const sink = sinkOf(ctx);
  const method = spec.method as MergeMethodName;
  // The stored spec carries every defaulted parameter; the method reads only some and refuses the rest.
  const parameters = parametersFromSpec(method, spec.parameters);
  const inputs = spec.tickets.map((t, i) => {
    const ref = t.adaptationRef?.name;
    const uri = t.uri ?? ticketUri(ctx, ref ?? '', `tickets[${i}]: no URI for adaptation ${ref} (LOTA_TICKET_REFS)`);
    return { name: t.name ?? ref ?? `input-${i}`, path: resolveUri(ctx, uri), weight: t.weight };
  });
  const dtype = outputDtype(spec.output.dtype);
  const out = artifact(ctx, spec.output.kind === 'ticket' ? ARTIFACTS.ticket : ARTIFACTS.model);
  const output: MergeSpec['output'] =
    spec.output.kind === 'ticket'
      ? { kind: 'ticket', path: out.path, dtype }
      : { kind: 'model', dir: out.path, dtype, maxShardBytes: shardBytes(spec.output.maxShardSize) };
  const mergeSpec: MergeSpec = {
    method,
    baseModel: resolveUri(ctx, spec.baseModel.uri),
    inputs,
    parameters,
    output,
    interferencePath: artifact(ctx, ARTIFACTS.interference).path,
    // next to the staged inputs: a later merge over the same staged base takes the fingerprint from there
    fingerprintCache: join(storageConfigFromEnv().cacheDir, 'fingerprints'),
  };
  sink.begin('merge', 1);
  let result: Awaited<ReturnType<typeof runMerge>>;
  try {
    result = await runMerge(mergeSpec, {
      onTensor: (done, total) => {
        if (done === 1) sink.begin('merge', total);
        sink.step({ step: done, totalSteps: total, tokens: 0 });
      },
    });
  } catch (error) {
    if (error instanceof MergeSpecError || error instanceof RangeError) throw new InvalidSpecError(error.message);
    throw error;
  }
  sink.end();
  await writeAtomic(artifact(ctx, ARTIFACTS.results).path, `${JSON.stringify({}, null, 2)}\n`);
  return {
    message: `merged ${inputs.length} inputs with ${method}: ${result.output.changedTensors} of ${result.output.tensors} tensors changed; ${describeSurvival(result.survival)}`,
    output: {
      uri: out.uri,
      bytes: result.output.bytes,
      sha256: result.output.sha256,
      survival: {
        dtype: spec.output.dtype,
        changedEntries: result.survival.changed,
        survivingEntries: result.survival.surviving,
        survivingFraction: result.survival.fraction,
      },
    },
    interference: result.summary,
  };
}
