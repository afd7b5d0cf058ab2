// What the phase machine needs to know, read from children and neighbours: a phase from its Job and pods, a
// dependency from the LotaAdaptation it names. Pure functions of the cached objects.

import type { DependencyObservation, PhaseObservation } from '@lota/api/phase-machine';
import type { Progress, TerminationMessage } from '@lota/api/trainer-contract';
import type { KubeObject } from '../kube/resources.ts';
import { CONTAINER_NAME } from './job.ts';

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

/** `pods` are the Job's pods (any order); `progress` is the latest the poller read from the running pod. */
export function observePhase(job: JobObject | undefined, pods: PodObject[], progress?: Progress): PhaseObservation {
  if (!job) return { state: 'NotStarted' };
  const mine = pods.filter((p) => ownedBy(p, job));
  const failures = job.status?.failed ?? 0;
  const attempts = failures + (job.status?.active ?? 0) + (job.status?.succeeded ?? 0);

  if (isTrue(job, 'Complete')) {
    const pod = latest(mine, 'Succeeded');
    const termination = parseTerminationMessage(pod ? terminationOf(pod)?.message : undefined);
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

export function observeDependency(adaptation: AdaptationObject | undefined): DependencyObservation {
  if (!adaptation) return { state: 'Missing' };
  const s = adaptation.status;
  if (s?.phase === 'Succeeded') {
    return {
      state: 'Succeeded',
      ...(s.ticket?.uri && { ticketUri: s.ticket.uri }),
      ...(s.output?.uri && { modelUri: s.output.uri }),
    };
  }
  if (s?.phase === 'Failed') {
    const failed = s.conditions?.find((c) => c.type === 'Failed');
    return {
      state: 'Failed',
      ...(failed?.reason && { reason: failed.reason }),
      ...(s.message && { message: s.message }),
    };
  }
  return { state: 'Pending', ...(s?.phase && { phase: s.phase }) };
}
