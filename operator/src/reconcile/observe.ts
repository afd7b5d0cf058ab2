// What the phase machine needs to know, read from children and neighbours: a phase from its Job and pods (and the
// earlier attempts its annotations carry), a dependency from the LotaAdaptation it names. Pure functions of the
// cached objects; the reconciler only gathers them.

import { type DependencyView, observeDependencies } from '@lota/api/dependencies';
import type { Observations, PhaseObservation, Plan } from '@lota/api/phase-machine';
import type { Progress, TerminationMessage, TrainerPhase } from '@lota/api/trainer-contract';
import type { KubeObject } from '../kube/resources.ts';
import { ANNOTATIONS, CONTAINER_NAME } from './job.ts';
import { LABELS } from './names.ts';

interface JobCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface JobObject extends KubeObject {
  spec?: { suspend?: boolean; activeDeadlineSeconds?: number };
  status?: {
    active?: number;
    succeeded?: number;
    failed?: number;
    ready?: number;
    conditions?: JobCondition[];
  };
}

export interface ContainerTerminated {
  exitCode: number;
  reason?: string;
  message?: string;
  finishedAt?: string;
}

export interface PodObject extends KubeObject {
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    containerStatuses?: { name: string; state?: { terminated?: ContainerTerminated } }[];
  };
}

export interface AdaptationObject extends KubeObject {
  spec?: { lota?: { excludeTicketsOf?: string[] } };
  status?: {
    phase?: string;
    ticket?: { uri: string };
    output?: { uri: string };
    message?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

const isTrue = (job: JobObject, type: string) =>
  job.status?.conditions?.find((c) => c.type === type && c.status === 'True');

export function ownedBy(pod: KubeObject, owner: KubeObject): boolean {
  return pod.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid && r.controller === true) ?? false;
}

/** The trainer container's termination, if the pod has one. */
export function terminationOf(pod: PodObject): ContainerTerminated | undefined {
  return pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.state?.terminated;
}

/** The contract's termination message, or undefined when the text is not one (e.g. a log tail after a crash). */
export function parseTerminationMessage(text: string | undefined): TerminationMessage | undefined {
  if (!text) return undefined;
  try {
    const m = JSON.parse(text) as Partial<TerminationMessage>;
    if (m.version !== 1 || typeof m.phase !== 'string' || (m.outcome !== 'Succeeded' && m.outcome !== 'Failed')) {
      return undefined;
    }
    return m as TerminationMessage;
  } catch {
    return undefined;
  }
}

function latest(pods: PodObject[], phase: string): PodObject | undefined {
  return pods
    .filter((p) => p.status?.phase === phase)
    .sort((a, b) => (terminationOf(a)?.finishedAt ?? '').localeCompare(terminationOf(b)?.finishedAt ?? ''))
    .at(-1);
}

/** Attempts and failures of the phase's earlier Jobs, as the reconciler annotated this one when creating it. */
export function priorOf(job: JobObject): { attempts: number; failures: number } {
  const n = (key: string) => {
    const v = Number(job.metadata.annotations?.[key]);
    return Number.isInteger(v) && v > 0 ? v : 0;
  };
  return { attempts: n(ANNOTATIONS.priorAttempts), failures: n(ANNOTATIONS.priorFailures) };
}

/**
 * `pods` are the Job's pods (any order); `progress` is the latest the poller read from the running pod. A Job that
 * completed without a Succeeded pod in `pods` is `Lost`: the reconciler confirms with the API server that the pod is
 * gone (and not just late in the cache) before acting on it.
 */
export function observePhase(job: JobObject | undefined, pods: PodObject[], progress?: Progress): PhaseObservation {
  if (!job) return { state: 'NotStarted' };
  const mine = pods.filter((p) => ownedBy(p, job));
  const prior = priorOf(job);
  const failures = prior.failures + (job.status?.failed ?? 0);
  const attempts =
    prior.attempts + (job.status?.failed ?? 0) + (job.status?.active ?? 0) + (job.status?.succeeded ?? 0);

  if (isTrue(job, 'Complete')) {
    const pod = latest(mine, 'Succeeded');
    if (!pod) return { state: 'Lost', message: `the pod of Job ${job.metadata.name} is gone` };
    const termination = parseTerminationMessage(terminationOf(pod)?.message);
    if (termination?.outcome === 'Succeeded') return { state: 'Succeeded', termination };
    return {
      state: 'Failed',
      reason: 'InvalidTerminationMessage',
      message: `Job ${job.metadata.name} completed without the contract's termination message`,
      failures,
      attempts,
      permanent: true,
    };
  }

  const failed = isTrue(job, 'Failed');
  if (failed) {
    const pod = latest(mine, 'Failed');
    const terminated = pod ? terminationOf(pod) : undefined;
    const tm = parseTerminationMessage(terminated?.message);
    // A permanent trainer error carries its own reason; the Job's (PodFailurePolicy) says less.
    const reason =
      failed.reason === 'PodFailurePolicy' ? (tm?.reason ?? 'PermanentTrainerError') : (failed.reason ?? 'JobFailed');
    const detail = tm?.message ?? terminated?.message?.trim().split('\n').slice(-3).join(' | ') ?? failed.message ?? '';
    return {
      state: 'Failed',
      reason,
      message: detail === '' ? `Job ${job.metadata.name} failed` : detail,
      failures,
      attempts,
      permanent: true,
      ...(terminated && { exitCode: terminated.exitCode }),
    };
  }

  if (job.spec?.suspend && !job.status?.active) {
    return { state: 'Queued', message: `Job ${job.metadata.name} is suspended until its queue admits it` };
  }
  const live = mine.filter((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending');
  const running = live.find((p) => p.status?.phase === 'Running');
  if (!running) {
    const unscheduled = live
      .flatMap((p) => p.status?.conditions ?? [])
      .find((c) => c.type === 'PodScheduled' && c.status === 'False');
    return {
      state: 'Queued',
      message: unscheduled?.message ?? `waiting for a pod of Job ${job.metadata.name} to run`,
    };
  }
  return { state: 'Running', failures, attempts, ...(progress && { progress }) };
}

/** What the phase machine needs of a referenced LotaAdaptation (api/src/dependencies.ts), from the cached object. */
export function dependencyView(adaptation: AdaptationObject | undefined): DependencyView | undefined {
  if (!adaptation) return undefined;
  const s = adaptation.status;
  const failed = s?.conditions?.find((c) => c.type === 'Failed');
  return {
    ...(s?.phase && { phase: s.phase }),
    ...(s?.ticket?.uri && { ticketUri: s.ticket.uri }),
    ...(s?.output?.uri && { modelUri: s.output.uri }),
    ...(failed?.reason && { failedReason: failed.reason }),
    ...(s?.message && { message: s.message }),
    waitsFor: adaptation.spec?.lota?.excludeTicketsOf ?? [],
  };
}

/** How a Job with a phase's name relates to the resource that wants to create it. */
export function jobRelation(
  job: KubeObject,
  owner: { kind: string; name: string; uid: string },
): 'ours' | 'stale' | 'foreign' {
  const controller = job.metadata.ownerReferences?.find((r) => r.controller);
  if (controller?.uid === owner.uid) return 'ours';
  // A previous incarnation's (deleted and re-created under the same name): the garbage collector removes it.
  if (controller && controller.kind === owner.kind && controller.name === owner.name) return 'stale';
  return 'foreign';
}

export interface ResourceView {
  kind: string;
  name: string;
  uid: string;
}

/** Everything one reconcile observes, from the cached Jobs, Pods and LotaAdaptations of the namespace. */
export function observeResource(input: {
  owner: ResourceView;
  plan: Plan;
  now: Date;
  /** The Job with each phase's name, if any. */
  jobs: Partial<Record<TrainerPhase, JobObject>>;
  /** Pods labelled as this resource's (any phase, any Job). */
  pods: PodObject[];
  progress: (pod: PodObject) => Progress | undefined;
  dependency: (name: string) => AdaptationObject | undefined;
}): Observations {
  const { owner, plan, pods } = input;
  const phases: Observations['phases'] = {};
  for (const phase of plan.phases) {
    const candidate = input.jobs[phase];
    const job = candidate && jobRelation(candidate, owner) === 'ours' ? candidate : undefined;
    if (!job) {
      // A pod of an earlier attempt may still be stopping (its Job was deleted: suspend, a user): a new one would
      // write the same output beside it.
      const stopping = pods.find(
        (p) =>
          p.metadata.labels?.[LABELS.phase] === phase &&
          (p.status?.phase === 'Running' || p.status?.phase === 'Pending'),
      );
      phases[phase] = stopping
        ? { state: 'Queued', message: `pod ${stopping.metadata.name} of an earlier attempt is still stopping` }
        : { state: 'NotStarted' };
      continue;
    }
    const running = pods.find((p) => p.status?.phase === 'Running' && ownedBy(p, job));
    phases[phase] = observePhase(job, pods, running ? input.progress(running) : undefined);
  }
  const dependencies = observeDependencies(plan, (name) => dependencyView(input.dependency(name)));
  return { phases, dependencies, now: input.now };
}
