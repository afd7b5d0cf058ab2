// The reconcilers of LotaAdaptation and TicketMerge, shaped as controller-runtime's: for one key, read the resource
// and its children from the caches, observe (reconcile/observe.ts, pure), ask the phase machine (pure), act (create or
// delete one Job), write status through the status subresource once, and only then record Events and metrics and
// apply ttlSecondsAfterFinished. A write refused with 409 goes back to the rate-limited queue with nothing recorded:
// the next reconcile starts from the newer object. The operator never writes spec or metadata of what it reconciles.

import { isDeepStrictEqual } from 'node:util';
import { withAdaptationDefaults, withMergeDefaults } from '@lota/api/defaults';
import {
  adaptationPlan,
  type MachineStatus,
  mergePlan,
  nextState,
  type Observations,
  type PhaseObservation,
  type Plan,
  type Transition,
} from '@lota/api/phase-machine';
import { TRAINER_PHASES, type TrainerPhase } from '@lota/api/trainer-contract';
import type { ResolvedAdaptationSpec, ResolvedMergeSpec } from '@lota/api/types';
import type { Logger } from 'pino';
import type { EventRecorder } from './events.ts';
import { BY_OWNER_UID } from './indexes.ts';
import type { Informers } from './informers.ts';
import { ApiError, isAlreadyExists, isConflict, isNotFound, type KubeClient } from './kube/client.ts';
import {
  apiVersion,
  collectionPath,
  JOB,
  type KubeObject,
  LOTA_ADAPTATION,
  objectPath,
  POD,
  type ResourceType,
  splitKey,
  TICKET_MERGE,
} from './kube/resources.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { ProgressPoller } from './progress.ts';
import { desiredJob, type StorageDefaults } from './reconcile/job.ts';
import { jobName } from './reconcile/names.ts';
import {
  type AdaptationObject,
  type JobObject,
  jobRelation,
  observePhase,
  observeResource,
  type PodObject,
} from './reconcile/observe.ts';

export type OwnerKind = 'LotaAdaptation' | 'TicketMerge';

interface OwnedResource extends KubeObject {
  apiVersion: string;
  kind: string;
  spec: unknown;
  status?: MachineStatus;
}

type Resolved = ResolvedAdaptationSpec | ResolvedMergeSpec;

interface KindConfig {
  kind: OwnerKind;
  rt: ResourceType;
  /** controller-runtime's controller name: the lower-cased kind. */
  controller: string;
  resolve(spec: unknown): Resolved;
  plan(meta: { name: string; generation?: number }, resolved: Resolved): Plan;
}

export const KINDS: Record<OwnerKind, KindConfig> = {
  LotaAdaptation: {
    kind: 'LotaAdaptation',
    rt: LOTA_ADAPTATION,
    controller: 'lotaadaptation',
    resolve: (spec) => withAdaptationDefaults(spec as never),
    plan: (meta, resolved) => adaptationPlan(meta, resolved as ResolvedAdaptationSpec),
  },
  TicketMerge: {
    kind: 'TicketMerge',
    rt: TICKET_MERGE,
    controller: 'ticketmerge',
    resolve: (spec) => withMergeDefaults(spec as never),
    plan: (meta, resolved) => mergePlan(meta, resolved as ResolvedMergeSpec),
  },
};

export interface ReconcilerDeps {
  client: KubeClient;
  informers: Informers;
  events: EventRecorder;
  metrics: OperatorMetrics;
  progress: ProgressPoller;
  log: Logger;
  defaultImage: string;
  /** Defaults for hf:// and s3:// access (--hub-endpoint, --s3-*, --cache-claim). */
  storageDefaults?: StorageDefaults;
  /** Fallback requeue while something runs or is awaited (progress and changes arrive as watch events anyway). */
  resyncMs?: number;
  /** Whether this replica may write (it holds the leader lease); checked before every write. Default: always. */
  fence?: () => boolean;
  now?: () => Date;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Back to the rate-limited queue (controller-runtime's `Requeue: true`): a 409, a refused Job create. */
  requeue?: boolean;
}

/** Node's timers fire at once for delays above 2³¹−1 ms; longer waits are re-checked when this one fires. */
export const MAX_REQUEUE_MS = 2 ** 31 - 1;

/** A reconcile that must not write: this replica no longer holds the leader lease. */
export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: the lease was not renewed in time');
    this.name = 'NotLeaderError';
  }
}

interface ActOutcome {
  requeueAfterMs?: number;
  requeue?: boolean;
  /** The Job just created: its status is written now rather than after its watch event (one write, not two). */
  created?: { phase: TrainerPhase; job: string };
  /** What acting revealed about the phase (a refused or conflicting create): observed again before status. */
  phase?: { phase: TrainerPhase; observation: PhaseObservation };
}

export class Reconciler {
  private readonly deps: ReconcilerDeps;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(kind: OwnerKind, key: string): Promise<ReconcileResult> {
    const cfg = KINDS[kind];
    const { informers, metrics } = this.deps;
    const { namespace, name } = splitKey(key);
    // Each namespace is reconciled once its own caches have synced; others do not wait for it.
    if (!informers.hasSynced(namespace)) return { requeueAfterMs: 1000 };
    const obj = informers.get<OwnedResource>(kind, key);
    if (!obj || obj.metadata.deletionTimestamp) {
      // Children go with their owner (ownerReferences + garbage collector).
      metrics.forgetResource(kind, key);
      return {};
    }
    this.checkFence();
    const now = (this.deps.now ?? (() => new Date()))();

    let resolved: Resolved | undefined;
    let invalid: string | undefined;
    try {
      resolved = cfg.resolve(obj.spec);
    } catch (error) {
      invalid = String(error instanceof Error ? error.message : error);
    }
    const plan = cfg.plan(obj.metadata, resolved ?? (obj.spec as ResolvedAdaptationSpec));
    const { observations, jobs } = await this.observe(obj, plan, now);
    if (invalid !== undefined)
      observations.phases[plan.phases[0] as TrainerPhase] = permanentFailure('InvalidSpec', invalid);

    let t = nextState(plan, obj.status, observations);
    const act = await this.act(cfg, obj, resolved, t, now);
    if (act.phase) {
      observations.phases[act.phase.phase] = act.phase.observation;
      t = nextState(plan, obj.status, observations);
    } else if (act.created) {
      // Write the status the new Job leads to now, not after its watch event: one status write instead of two.
      observations.phases[act.created.phase] = {
        state: 'Queued',
        message: `waiting for a pod of Job ${act.created.job} to run`,
      };
      // From the start transition's status: it holds what the start recorded (attempts, a merge's resolved tickets).
      t = { ...nextState(plan, t.status, observations), events: t.events };
    }

    const written = await this.writeStatus(cfg, obj, t);
    if (written === 'conflict') return { requeue: true };
    if (written === 'gone') return {};
    if (written !== obj) informers.assume(kind, written);
    metrics.recordTransition(kind, key, obj.status, t.status);
    for (const e of t.events) await this.deps.events.record(written, e);

    const requeueAfterMs = min(act.requeueAfterMs, await this.afterFinished(obj, resolved, t, now));
    // A phase waiting for an earlier attempt's pod to stop has no Job whose events would wake it: look again soon.
    const stopping = plan.phases.some((p) => !jobs[p] && observations.phases[p]?.state === 'Queued');
    const result = this.nextLook(plan, observations, t, now, stopping ? min(requeueAfterMs, 1000) : requeueAfterMs);
    this.deps.log.debug({ kind, namespace, name, phase: t.status.phase, action: t.action.type }, 'reconciled');
    return act.requeue ? { ...result, requeue: true } : result;
  }

  /** Observations from the caches; a finished Job whose pod is missing from the cache is checked with the API. */
  private async observe(
    obj: OwnedResource,
    plan: Plan,
    now: Date,
  ): Promise<{ observations: Observations; jobs: Partial<Record<TrainerPhase, JobObject>> }> {
    const { informers, progress } = this.deps;
    const ns = obj.metadata.namespace ?? '';
    const owner = { kind: obj.kind, name: obj.metadata.name, uid: obj.metadata.uid ?? '' };
    const pods = informers.byIndex<PodObject>('Pod', BY_OWNER_UID, owner.uid);
    const jobs: Partial<Record<TrainerPhase, JobObject>> = {};
    for (const phase of plan.phases) {
      const job = informers.get<JobObject>('Job', `${ns}/${jobName(owner.name, phase)}`);
      if (job) jobs[phase] = job;
    }
    const observations = observeResource({
      owner,
      plan,
      now,
      jobs,
      pods,
      progress: (pod) =>
        pod.metadata.uid
          ? progress.latest(pod.metadata.uid, pod.status?.podIP, `${obj.kind}/${ns}/${owner.name}`)
          : undefined,
      dependency: (name) => informers.get<AdaptationObject>('LotaAdaptation', `${ns}/${name}`),
    });
    for (const phase of plan.phases) {
      const job = jobs[phase];
      if (observations.phases[phase]?.state !== 'Lost' || !job?.metadata.uid) continue;
      // The Job watch may be ahead of the Pod watch: only the API server can say that the pod is gone.
      const live = await this.deps.client.list<PodObject>(collectionPath(POD, ns), {
        labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata.uid}`,
      });
      observations.phases[phase] = observePhase(job, live.items);
    }
    return { observations, jobs };
  }

  private async act(
    cfg: KindConfig,
    obj: OwnedResource,
    resolved: Resolved | undefined,
    t: Transition,
    now: Date,
  ): Promise<ActOutcome> {
    const ns = obj.metadata.namespace ?? '';
    const action = t.action;
    switch (action.type) {
      case 'start':
        return resolved ? this.createJob(cfg, obj, resolved, action, t, now) : {};
      case 'suspend':
      case 'stop':
      case 'rerun': {
        // Suspension deletes the running phase's Job (Kueue owns Job.spec.suspend of queued Jobs); the trainer's
        // phase records make the next start resume where it stopped, or answer at once for a finished phase.
        const job = this.deps.informers.get<JobObject>('Job', `${ns}/${jobName(obj.metadata.name, action.phase)}`);
        if (job && jobRelation(job, this.owner(obj)) === 'ours') await this.deleteJob(ns, job.metadata.name);
        return {};
      }
      default:
        return {};
    }
  }

  private async createJob(
    cfg: KindConfig,
    obj: OwnedResource,
    resolved: Resolved,
    action: Extract<Transition['action'], { type: 'start' }>,
    t: Transition,
    now: Date,
  ): Promise<ActOutcome> {
    const { client, metrics, log } = this.deps;
    const ns = obj.metadata.namespace ?? '';
    const name = jobName(obj.metadata.name, action.phase);
    const existing = this.deps.informers.get<JobObject>('Job', `${ns}/${name}`);
    // Ours and already there (the cache is ahead of the machine), or a previous incarnation's that the garbage
    // collector has yet to remove (its deletion requeues this resource).
    if (existing) return jobRelation(existing, this.owner(obj)) === 'ours' ? {} : { requeueAfterMs: 5000 };
    const deadline = resolved.activeDeadlineSeconds;
    const started = t.status.startTime ? Date.parse(t.status.startTime) : now.getTime();
    let job: ReturnType<typeof desiredJob>;
    try {
      job = desiredJob({
        kind: cfg.kind,
        apiVersion: apiVersion(cfg.rt),
        metadata: { name: obj.metadata.name, namespace: ns, uid: obj.metadata.uid ?? '' },
        spec: obj.spec,
        resolved,
        phase: action.phase,
        ticketRefs: action.ticketRefs,
        defaultImage: this.deps.defaultImage,
        ...(this.deps.storageDefaults && { storageDefaults: this.deps.storageDefaults }),
        prior: action.prior,
        retryBudget: action.retryBudget,
        ...(deadline !== undefined && { remainingSeconds: deadline - (now.getTime() - started) / 1000 }),
      });
    } catch (error) {
      return failed(action.phase, 'InvalidSpec', String((error as Error).message));
    }
    try {
      this.checkFence();
      this.deps.informers.assume('Job', await client.create<KubeObject>(collectionPath(JOB, ns), job));
      metrics.jobsCreated.inc({ kind: cfg.kind, phase: action.phase });
      log.info({ kind: cfg.kind, namespace: ns, name: obj.metadata.name, job: name }, 'created Job');
      return { created: { phase: action.phase, job: name } };
    } catch (error) {
      if (isAlreadyExists(error)) return this.alreadyExists(obj, action.phase, name);
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 422 || error.status === 400) return failed(action.phase, 'JobRejected', error.message);
      if (error.status >= 500 || error.status === 429 || error.status === 409) throw error;
      // Refused by policy (a ResourceQuota, an admission webhook, RBAC): the user can fix that; show why and retry
      // with the queue's backoff.
      log.warn({ kind: cfg.kind, namespace: ns, name: obj.metadata.name, job: name, err: error }, 'Job refused');
      return {
        requeue: true,
        phase: {
          phase: action.phase,
          observation: { state: 'Queued', reason: 'JobCreateRefused', message: error.message },
        },
      };
    }
  }

  /** The create met a Job of that name that the cache does not show: ours (cache lag), stale, or someone else's. */
  private async alreadyExists(obj: OwnedResource, phase: TrainerPhase, name: string): Promise<ActOutcome> {
    const ns = obj.metadata.namespace ?? '';
    let job: JobObject;
    try {
      job = await this.deps.client.get<JobObject>(objectPath(JOB, ns, name));
    } catch (error) {
      if (isNotFound(error)) return { requeueAfterMs: 1000 };
      throw error;
    }
    const relation = jobRelation(job, this.owner(obj));
    if (relation === 'ours') return { requeueAfterMs: 1000 };
    if (relation === 'stale') return { requeueAfterMs: 5000 };
    const by = job.metadata.ownerReferences?.find((r) => r.controller);
    return failed(
      phase,
      'JobNameConflict',
      `Job ${ns}/${name} already exists and is not this ${obj.kind}'s (${by ? `owned by ${by.kind} ${by.name}` : 'it has no owner'}); ` +
        `delete or rename it, then re-create this ${obj.kind}`,
    );
  }

  private async deleteJob(namespace: string, name: string): Promise<void> {
    this.checkFence();
    try {
      await this.deps.client.delete(objectPath(JOB, namespace, name), 'Background');
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Writes status if it changed, once. Returns the object as stored, 'conflict' on 409, 'gone' if deleted. */
  private async writeStatus(
    cfg: KindConfig,
    obj: OwnedResource,
    t: Transition,
  ): Promise<OwnedResource | 'conflict' | 'gone'> {
    if (isDeepStrictEqual(obj.status ?? {}, t.status)) return obj;
    this.checkFence();
    const path = objectPath(cfg.rt, obj.metadata.namespace ?? '', obj.metadata.name, 'status');
    try {
      return await this.deps.client.replace<OwnedResource>(path, { ...obj, status: t.status });
    } catch (error) {
      if (isNotFound(error)) return 'gone';
      if (!isConflict(error)) throw error;
      this.deps.metrics.statusConflicts.inc({ kind: cfg.kind });
      return 'conflict';
    }
  }

  /**
   * ttlSecondsAfterFinished, once Succeeded or Failed is stored (never before: a refused status write would leave
   * a running phase without its Jobs, and the next reconcile would run it again). Returns when to look again.
   */
  private async afterFinished(
    obj: OwnedResource,
    resolved: Resolved | undefined,
    t: Transition,
    now: Date,
  ): Promise<number | undefined> {
    const phase = t.status.phase;
    if ((phase !== 'Succeeded' && phase !== 'Failed') || resolved?.ttlSecondsAfterFinished === undefined)
      return undefined;
    const due = Date.parse(t.status.completionTime ?? now.toISOString()) + resolved.ttlSecondsAfterFinished * 1000;
    if (now.getTime() < due) return due - now.getTime();
    const ns = obj.metadata.namespace ?? '';
    for (const p of TRAINER_PHASES) {
      const job = this.deps.informers.get<JobObject>('Job', `${ns}/${jobName(obj.metadata.name, p)}`);
      if (job && jobRelation(job, this.owner(obj)) === 'ours') await this.deleteJob(ns, job.metadata.name);
    }
    return undefined;
  }

  /** When to reconcile again without a watch event: progress readings, deadlines, a fallback resync. */
  private nextLook(
    plan: Plan,
    observations: Observations,
    t: Transition,
    now: Date,
    after: number | undefined,
  ): ReconcileResult {
    let requeueAfterMs = after;
    const phase = t.status.phase;
    if (phase !== 'Succeeded' && phase !== 'Failed' && phase !== 'Suspended') {
      requeueAfterMs = min(requeueAfterMs, this.deps.resyncMs ?? 600_000);
      // While a trainer runs, look again when its next progress reading is due, so status.progress stays live.
      if (Object.values(observations.phases).some((o) => o?.state === 'Running'))
        requeueAfterMs = min(requeueAfterMs, this.deps.progress.intervalMs);
      if (plan.activeDeadlineSeconds !== undefined && t.status.startTime) {
        const left = Date.parse(t.status.startTime) + plan.activeDeadlineSeconds * 1000 - now.getTime();
        requeueAfterMs = min(requeueAfterMs, Math.max(left, 0) + 1000);
      }
    }
    return requeueAfterMs === undefined ? {} : { requeueAfterMs: Math.min(requeueAfterMs, MAX_REQUEUE_MS) };
  }

  private owner(obj: OwnedResource) {
    return { kind: obj.kind, name: obj.metadata.name, uid: obj.metadata.uid ?? '' };
  }

  private checkFence(): void {
    if (this.deps.fence && !this.deps.fence()) throw new NotLeaderError();
  }

  /** Resources per kind and phase, from the caches (the lota_resources gauge). */
  resourceCounts(): { kind: string; phase: string; count: number }[] {
    const out = new Map<string, { kind: string; phase: string; count: number }>();
    for (const kind of ['LotaAdaptation', 'TicketMerge'] as const) {
      for (const o of this.deps.informers.list<OwnedResource>(kind)) {
        const phase = o.status?.phase ?? 'Pending';
        const k = `${kind}/${phase}`;
        const entry = out.get(k) ?? { kind, phase, count: 0 };
        entry.count++;
        out.set(k, entry);
      }
    }
    return [...out.values()];
  }
}

function permanentFailure(reason: string, message: string): PhaseObservation {
  return { state: 'Failed', reason, message, failures: 0, permanent: true };
}

function failed(phase: TrainerPhase, reason: string, message: string): ActOutcome {
  return { phase: { phase, observation: permanentFailure(reason, message) } };
}

function min(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.min(a, b);
}
