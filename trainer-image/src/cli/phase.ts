// One contract phase (`lota-trainer calibrate|train|merge`): environment in, artifacts + phases/<phase>.json +
// termination message out, exit code per docs/trainer-contract.md.
import { readFile, writeFile } from 'node:fs/promises';
import {
  ARTIFACTS,
  admitAdaptation,
  admitMerge,
  EXIT,
  joinArtifactUri,
  type ResolvedMergeSpec,
  resolveArtifactUri,
  TERMINATION_MESSAGE_LIMIT,
  type TerminationMessage,
  TRAINER_DEFAULTS,
  TRAINER_ENV,
  TRAINER_PHASES,
  type TrainerPhase,
  withAdaptationDefaults,
  withMergeDefaults,
} from '@lota/api';
import { selectBackend } from '../backend/select.ts';
import { InvalidSpecError } from '../errors.ts';
import { calibrate } from '../phases/calibrate.ts';
import { type PhaseContext, type PhaseOutcome, writeAtomic } from '../phases/context.ts';
import { mergePhase } from '../phases/merge.ts';
import { trainFull } from '../phases/train-full.ts';
import { trainLora } from '../phases/train-lora.ts';
import { trainSparse } from '../phases/train-sparse.ts';
import type { ProgressSink } from '../progress/sink.ts';
import { storageConfigFromEnv } from '../storage/config.ts';
import { type Staged, stagePhase } from '../storage/stage.ts';
import { classify } from './errors.ts';

export interface TrainerEnv {
  phase: TrainerPhase;
  kind: 'LotaAdaptation' | 'TicketMerge';
  name: string;
  namespace: string;
  spec: unknown;
  ticketRefs: Record<string, string>;
  pvcRoot: string;
  terminationLog: string;
  progressPort: number;
  podIp?: string;
  backend?: string;
  scratchDir?: string;
}

/** Reads and checks the contract environment; anything wrong is an InvalidSpecError naming the variable. */
export function readTrainerEnv(phaseArg: string, env: NodeJS.ProcessEnv = process.env): TrainerEnv {
  if (!(TRAINER_PHASES as readonly string[]).includes(phaseArg)) {
    throw new InvalidSpecError(`unknown phase ${JSON.stringify(phaseArg)} (expected ${TRAINER_PHASES.join(', ')})`);
  }
  const phase = phaseArg as TrainerPhase;
  const declared = env[TRAINER_ENV.phase];
  if (declared !== undefined && declared !== phase) {
    throw new InvalidSpecError(`${TRAINER_ENV.phase}=${declared} disagrees with the command's phase ${phase}`);
  }
  const json = (name: string, fallback?: string): unknown => {
    const text = env[name] ?? fallback;
    if (text === undefined) throw new InvalidSpecError(`${name} is not set`);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new InvalidSpecError(`${name} is not valid JSON (${(error as Error).message})`);
    }
  };
  const kind = env[TRAINER_ENV.kind] ?? (phase === 'merge' ? 'TicketMerge' : 'LotaAdaptation');
  if (kind !== 'LotaAdaptation' && kind !== 'TicketMerge')
    throw new InvalidSpecError(`${TRAINER_ENV.kind}=${kind} is not a known kind`);
  if ((kind === 'TicketMerge') !== (phase === 'merge'))
    throw new InvalidSpecError(`phase ${phase} does not belong to kind ${kind}`);
  const refs = json(TRAINER_ENV.ticketRefs, '{}');
  if (
    typeof refs !== 'object' ||
    refs === null ||
    Array.isArray(refs) ||
    !Object.values(refs).every((v) => typeof v === 'string')
  ) {
    throw new InvalidSpecError(`${TRAINER_ENV.ticketRefs} must be a JSON object of name → URI`);
  }
  const port = Number(env[TRAINER_ENV.progressPort] ?? TRAINER_DEFAULTS.progressPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidSpecError(`${TRAINER_ENV.progressPort}=${env[TRAINER_ENV.progressPort]} is not a port`);
  }
  return {
    phase,
    kind,
    name: env[TRAINER_ENV.name] ?? 'local',
    namespace: env[TRAINER_ENV.namespace] ?? 'default',
    spec: json(TRAINER_ENV.spec),
    ticketRefs: refs as Record<string, string>,
    pvcRoot: env[TRAINER_ENV.pvcRoot] ?? TRAINER_DEFAULTS.pvcRoot,
    terminationLog: env[TRAINER_ENV.terminationLog] ?? TRAINER_DEFAULTS.terminationLog,
    progressPort: port,
    ...(env[TRAINER_ENV.podIp] ? { podIp: env[TRAINER_ENV.podIp] } : {}),
    ...(env[TRAINER_ENV.backend] ? { backend: env[TRAINER_ENV.backend] } : {}),
    ...(env[TRAINER_ENV.scratchDir] ? { scratchDir: env[TRAINER_ENV.scratchDir] } : {}),
  };
}

/** Shortens the message until the JSON fits the kubelet's 4096-byte limit. */
function fitTermination(message: TerminationMessage): string {
  let m = message;
  let text = JSON.stringify(m);
  while (Buffer.byteLength(text) > TERMINATION_MESSAGE_LIMIT && m.message.length > 0) {
    m = { ...m, message: `${m.message.slice(0, Math.floor(m.message.length / 2))}…` };
    text = JSON.stringify(m);
  }
  return text;
}

function outputUriOf(env: TrainerEnv): string | undefined {
  const output = (env.spec as { output?: { uri?: unknown } } | null)?.output?.uri;
  return typeof output === 'string' ? output : undefined;
}

export interface PhaseRun {
  exitCode: number;
  termination: TerminationMessage;
  /** The phase had already finished (its record existed); nothing ran. */
  reused: boolean;
}

/** Runs the phase with a prepared env; never throws (failures become a Failed termination message). */
export async function runPhase(remoteEnv: TrainerEnv, sink: ProgressSink): Promise<PhaseRun> {
  let env = remoteEnv;
  const pvc = { pvcRoot: env.pvcRoot };
  let termination: TerminationMessage;
  let exitCode: number = EXIT.ok;
  let reused = false;
  let staged: Staged | undefined;
  try {
    if (outputUriOf(env) === undefined) throw new InvalidSpecError('spec.output.uri is missing');
    // hf:// and s3:// inputs are staged into the cache and an s3:// output into scratch; the phase sees file:// URIs.
    staged = await stagePhase({
      spec: env.spec,
      ticketRefs: env.ticketRefs,
      pvcRoot: env.pvcRoot,
      scratchDir: env.scratchDir ?? TRAINER_DEFAULTS.scratchDir,
      config: storageConfigFromEnv(),
      log: (line) => sink.info(line),
    });
    env = { ...env, spec: staged.spec, ticketRefs: staged.ticketRefs };
    const outputUri = outputUriOf(env) as string;
    const recordPath = resolveArtifactUri(joinArtifactUri(outputUri, ARTIFACTS.phaseRecord(env.phase)), pvc);
    const recorded = await readFile(recordPath, 'utf8').catch(() => undefined);
    if (recorded !== undefined) {
      termination = JSON.parse(recorded) as TerminationMessage;
      reused = true;
      sink.info(`phase ${env.phase} already done (${recordPath}); nothing to repeat`);
    } else {
      await selectBackend(env.backend, (line) => sink.info(line));
      const outcome = await execute(env, sink);
      termination = staged.toRemote({
        version: 1,
        phase: env.phase,
        outcome: 'Succeeded',
        reason: 'Completed',
        ...outcome,
        ...(staged.inputs.length > 0 && { inputs: staged.inputs }),
      });
      await writeAtomic(recordPath, `${fitTermination(termination)}\n`);
      await staged.publish();
    }
  } catch (error) {
    const { exitCode: code, reason } = classify(error);
    exitCode = code;
    termination = {
      version: 1,
      phase: env.phase,
      outcome: 'Failed',
      reason,
      message: (error as Error).message ?? String(error),
    };
    if (code === EXIT.internal) sink.info('unexpected error', { stack: (error as Error).stack ?? String(error) });
  }
  try {
    await writeFile(env.terminationLog, fitTermination(termination));
  } catch (error) {
    sink.info(`cannot write the termination message to ${env.terminationLog}: ${(error as Error).message}`);
  }
  return { exitCode, termination, reused };
}

async function execute(env: TrainerEnv, sink: ProgressSink): Promise<PhaseOutcome> {
  const meta = { name: env.name, namespace: env.namespace };
  if (env.kind === 'TicketMerge') {
    const admitted = admitMerge({
      apiVersion: 'lota.dev/v1alpha1',
      kind: 'TicketMerge',
      metadata: meta,
      spec: env.spec,
    });
    const spec: ResolvedMergeSpec = withMergeDefaults(admitted.spec);
    return mergePhase({ spec, ...meta, ticketRefs: env.ticketRefs, pvcRoot: env.pvcRoot, sink });
  }
  const admitted = admitAdaptation({
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'LotaAdaptation',
    metadata: meta,
    spec: env.spec,
  });
  const ctx: PhaseContext = {
    spec: withAdaptationDefaults(admitted.spec),
    name: env.name,
    namespace: env.namespace,
    ticketRefs: env.ticketRefs,
    pvcRoot: env.pvcRoot,
    sink,
  };
  if (env.phase === 'calibrate') return calibrate(ctx);
  switch (ctx.spec.method) {
    case 'lota':
      return trainSparse(ctx);
    case 'full':
      return trainFull(ctx);
    case 'lora':
      return trainLora(ctx);
  }
}
