// The merge phase: a TicketMerge spec (API form, defaults applied) → tensors-merge's runMerge.
import {
  ARTIFACTS,
  joinArtifactUri,
  type ResolvedMergeSpec,
  resolveArtifactUri,
  type TerminationMessage,
} from '@lota/api';
import { writeAtomic } from '../lota/context.ts';
import { InvalidSpecError } from '../lota/errors.ts';
import { describeSurvival } from '../lota/survival.ts';
import { SPEC_DTYPES, shardBytes } from '../lota/task.ts';
import { MERGE_METHODS, type MergeMethodName, type MergeParameters } from '../merge/methods.ts';
import { type MergeSpec, MergeSpecError, runMerge } from '../merge/run.ts';
import type { ProgressSink } from '../progress/sink.ts';

export interface MergeContext {
  spec: ResolvedMergeSpec;
  ticketRefs: Record<string, string>;
  pvcRoot?: string;
  sink: ProgressSink;
}

type Outcome = Omit<TerminationMessage, 'version' | 'phase' | 'outcome' | 'reason'>;

export async function mergePhase(ctx: MergeContext): Promise<Outcome> {
  const { spec } = ctx;
  const resolve = (uri: string) => resolveArtifactUri(uri, ctx.pvcRoot === undefined ? {} : { pvcRoot: ctx.pvcRoot });
  const method = spec.method as MergeMethodName;
  const accepts = MERGE_METHODS[method].accepts as readonly string[];
  // The stored spec carries every defaulted parameter; the method reads only some and refuses the rest.
  const parameters = Object.fromEntries(
    Object.entries(spec.parameters ?? {}).filter(([key]) => accepts.includes(key)),
  ) as MergeParameters;
  const inputs = spec.tickets.map((t, i) => {
    const ref = t.adaptationRef?.name;
    const uri = t.uri ?? (ref === undefined ? undefined : ctx.ticketRefs[ref]);
    if (uri === undefined) throw new InvalidSpecError(`tickets[${i}]: no URI for adaptation ${ref} (LOTA_TICKET_REFS)`);
    return { name: t.name ?? ref ?? `input-${i}`, path: resolve(uri), weight: t.weight };
  });
  const dtype = (SPEC_DTYPES[spec.output.dtype] ?? { output: 'f32' as const }).output;
  const outputUri =
    spec.output.kind === 'ticket'
      ? joinArtifactUri(spec.output.uri, ARTIFACTS.ticket)
      : joinArtifactUri(spec.output.uri, ARTIFACTS.model);
  const output: MergeSpec['output'] =
    spec.output.kind === 'ticket'
      ? { kind: 'ticket', path: resolve(outputUri), dtype }
      : { kind: 'model', dir: resolve(outputUri), dtype, maxShardBytes: shardBytes(spec.output.maxShardSize) };
  const interferenceUri = joinArtifactUri(spec.output.uri, ARTIFACTS.interference);
  const mergeSpec: MergeSpec = {
    method,
    baseModel: resolve(spec.baseModel.uri),
    inputs,
    parameters,
    output,
    interferencePath: resolve(interferenceUri),
  };
  ctx.sink.begin('merge', 1);
  let result: Awaited<ReturnType<typeof runMerge>>;
  try {
    result = await runMerge(mergeSpec, {
      onTensor: (done, total) => {
        if (done === 1) ctx.sink.begin('merge', total);
        ctx.sink.step({ step: done, totalSteps: total, tokens: 0 });
      },
    });
  } catch (error) {
    if (error instanceof MergeSpecError || error instanceof RangeError) throw new InvalidSpecError(error.message);
    throw error;
  }
  ctx.sink.end();
  await writeAtomic(resolve(joinArtifactUri(spec.output.uri, ARTIFACTS.results)), `${JSON.stringify({}, null, 2)}\n`);
  return {
    message: `merged ${inputs.length} inputs with ${method}: ${result.output.changedTensors} of ${result.output.tensors} tensors changed; ${describeSurvival(result.survival)}`,
    output: {
      uri: outputUri,
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
