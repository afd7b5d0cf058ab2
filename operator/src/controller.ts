// The reconcilers of LotaAdaptation and TicketMerge: thin I/O around the pure parts. For one key: read the resource
// and its children from the caches, observe, ask the phase machine, act (create or delete one Job), write status
// through the status subresource (retrying conflicts), record Events. The operator never writes spec or metadata
// of the resources it reconciles.

import { isDeepStrictEqual } from 'node:util';
import { withAdaptationDefaults, withMergeDefaults } from '@lota/api/defaults';
import {
  adaptationPlan,
  type MachineStatus,
  mergePlan,
  nextState,
  type Observations,
  type Phase,
  type PhaseObservation,
  type Plan,
  type Transition,
} from '@lota/api/phase-machine';
import { TRAINER_PHASES, type TrainerPhase } from '@lota/api/trainer-contract';
import type { ResolvedAdaptationSpec, ResolvedMergeSpec } from '@lota/api/types';
import type { Logger } from 'pino';
import type { EventRecorder } from './events.ts';
import type { Informers } from './informers.ts';
import { ApiError, isAlreadyExists, isConflict, isNotFound, type KubeClient } from './kube/client.ts';
import {
  apiVersion,
  collectionPath,
  JOB,
  type KubeObject,
  keyOf,
  LOTA_ADAPTATION,
  objectPath,
  type ResourceType,
  splitKey,
  TICKET_MERGE,
} from './kube/resources.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { ProgressPoller } from './progress.ts';
import { findCycle } from './reconcile/cycles.ts';
import { desiredJob, type StorageDefaults } from './reconcile/job.ts';
import { jobName, LABELS } from './reconcile/names.ts';
import {
  type AdaptationObject,
  type JobObject,
  observeDependency,
  observePhase,
  type PodObject,
} from './reconcile/observe.ts';

export type OwnerKind = 'LotaAdaptation' | 'TicketMerge';

interface OwnedResource extends KubeObject {
  apiVersion: string;
  kind: string;
  spec: unknown;
  status?: MachineStatus;
}

interface KindConfig {
  kind: OwnerKind;
  rt: ResourceType;
  /** controller-runtime's controller name: the lower-cased kind. */
  controller: string;
  resolve(spec: unknown): ResolvedAdaptationSpec | ResolvedMergeSpec;
  plan(meta: { name: string; generation?: number }, resolved: ResolvedAdaptationSpec | ResolvedMergeSpec): Plan;
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
  now?: () => Date;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

const STATUS_WRITE_ATTEMPTS = 5;

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  /** When each resource entered its current phase, as seen by this process (for the phase-duration histogram). */
  private readonly phaseSince = new Map<string, { phase: Phase; since: number }>();

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(kind: OwnerKind, key: string): Promise<ReconcileResult> {
    const cfg = KINDS[kind];
    const { informers } = this.deps;
    const obj = informers.get<OwnedResource>(kind, key);
    if (!obj || obj.metadata.deletionTimestamp) {
      // Children go with their owner (ownerReferences + garbage collector).
      this.phaseSince.delete(`${kind}/${key}`);
      return {};
    }
    const { namespace, name } = splitKey(key);
    const now = (this.deps.now ?? (() => new Date()))();

    let resolved: ResolvedAdaptationSpec | ResolvedMergeSpec | undefined;
    let invalid: string | undefined;
    try {
      resolved = cfg.resolve(obj.spec);
    } catch (error) {
      invalid = String(error instanceof Error ? error.message : error);
    }
    const plan = cfg.plan(obj.metadata, resolved ?? (obj.spec as ResolvedAdaptationSpec));

    const observations = this.observe(obj, plan, key, now);
    if (invalid !== undefined)
      observations.phases[plan.phases[0] as TrainerPhase] = permanentFailure('InvalidSpec', invalid);

    let t = nextState(plan, obj.status, observations);
    let requeueAfterMs: number | undefined;

    const act = await this.act(cfg, obj, resolved, t, now);
    if (act.failure) {
      // The Job could not even be created (its spec was refused): that is this phase's failure.
      observations.phases[act.failure.phase] = act.failure.observation;
      t = nextState(plan, obj.status, observations);
    }
    requeueAfterMs = act.requeueAfterMs;

    const written = await this.writeStatus(cfg, obj, t, plan, observations);
    if (!written) return { requeueAfterMs: 1000 };
    this.recordOutcome(cfg, obj, t);
    for (const e of t.events) await this.deps.events.record(written, e);

    const phase = t.status.phase;
    if (phase !== 'Succeeded' && phase !== 'Failed' && phase !== 'Suspended') {
      requeueAfterMs = min(requeueAfterMs, this.deps.resyncMs ?? 30_000);
      // While a trainer runs, look again when its next progress reading is due, so status.progress stays live.
      if (phase === 'Calibrating' || phase === 'Training' || phase === 'Merging')
        requeueAfterMs = min(requeueAfterMs, this.deps.progress.intervalMs);
      if (plan.activeDeadlineSeconds !== undefined && t.status.startTime) {
        const left = Date.parse(t.status.startTime) + plan.activeDeadlineSeconds * 1000 - now.getTime();
        requeueAfterMs = min(requeueAfterMs, Math.max(left, 0) + 1000);
      }
    }
    this.deps.log.debug({ kind, namespace, name, phase, action: t.action.type }, 'reconciled');
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }

  private observe(obj: OwnedResource, plan: Plan, key: string, now: Date): Observations {
    const { informers, progress } = this.deps;
    const ns = obj.metadata.namespace ?? '';
    const pods = informers
      .list<PodObject>('Pod', ns)
      .filter((p) => p.metadata.labels?.[LABELS.ownerUid] === obj.metadata.uid);
    const phases: Observations['phases'] = {};
    for (const phase of plan.phases) {
      const job = this.ownJob(obj, phase);
      const running =
        job && job !== 'foreign'
          ? pods.find(
              (p) =>
                p.status?.phase === 'Running' && p.metadata.ownerReferences?.some((r) => r.uid === job.metadata.uid),
            )
          : undefined;
      const reading = running?.metadata.uid
        ? progress.latest(running.metadata.uid, running.status?.podIP, `${obj.kind}/${key}`)
        : undefined;
      phases[phase] = observePhase(job === 'foreign' ? undefined : job, pods, reading);
    }
    const dependencies: Observations['dependencies'] = {};
    for (const dep of plan.dependencies) {
      dependencies[dep] = observeDependency(informers.get<AdaptationObject>('LotaAdaptation', `${ns}/${dep}`));
    }
    if (plan.kind === 'LotaAdaptation' && plan.dependencies.length > 0) {
      const waitsFor = (name: string) =>
        name === plan.name
          ? plan.dependencies
          : (informers.get<KubeObject & { spec?: { lota?: { excludeTicketsOf?: string[] } } }>(
              'LotaAdaptation',
              `${ns}/${name}`,
            )?.spec?.lota?.excludeTicketsOf ?? []);
      const cycle = findCycle(plan.name, waitsFor);
      const via = cycle?.[1];
      if (cycle && via !== undefined && dependencies[via]?.state !== 'Succeeded')
        dependencies[via] = { state: 'Cycle', path: cycle };
    }
    return { phases, dependencies, now };
  }

  /** The phase Job if this resource owns it; 'foreign' for a Job of the same name owned by another (older) object. */
  private ownJob(obj: OwnedResource, phase: TrainerPhase): JobObject | 'foreign' | undefined {
    const job = this.deps.informers.get<JobObject>(
      'Job',
      `${obj.metadata.namespace}/${jobName(obj.metadata.name, phase)}`,
    );
    if (!job) return undefined;
    return job.metadata.ownerReferences?.some((r) => r.uid === obj.metadata.uid) ? job : 'foreign';
  }

  private async act(
    cfg: KindConfig,
    obj: OwnedResource,
    resolved: ResolvedAdaptationSpec | ResolvedMergeSpec | undefined,
    t: Transition,
    now: Date,
  ): Promise<{ requeueAfterMs?: number; failure?: { phase: TrainerPhase; observation: PhaseObservation } }> {
    const { client, metrics, log } = this.deps;
    const ns = obj.metadata.namespace ?? '';
    const action = t.action;
    if (action.type === 'start' && resolved) {
      const existing = this.deps.informers.get<JobObject>('Job', `${ns}/${jobName(obj.metadata.name, action.phase)}`);
      if (existing) {
        // Ours and already there (the cache is ahead of the machine), or a previous incarnation's that the garbage
        // collector has yet to remove: wait for it.
        return existing.metadata.ownerReferences?.some((r) => r.uid === obj.metadata.uid)
          ? {}
          : { requeueAfterMs: 2000 };
      }
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
          ...(deadline !== undefined && { remainingSeconds: deadline - (now.getTime() - started) / 1000 }),
        });
      } catch (error) {
        return {
          failure: {
            phase: action.phase,
            observation: permanentFailure('InvalidSpec', String((error as Error).message)),
          },
        };
      }
      try {
        await client.create(collectionPath(JOB, ns), job);
        metrics.jobsCreated.inc({ kind: cfg.kind, phase: action.phase });
        log.info({ kind: cfg.kind, namespace: ns, name: obj.metadata.name, job: job.metadata.name }, 'created Job');
      } catch (error) {
        if (isAlreadyExists(error)) return { requeueAfterMs: 1000 };
        if (error instanceof ApiError && (error.status === 422 || error.status === 400)) {
          return { failure: { phase: action.phase, observation: permanentFailure('JobRejected', error.message) } };
        }
        throw error;
      }
      return {};
    }
    if (action.type === 'suspend' || action.type === 'stop') {
      // Suspension deletes the running phase's Job (Kueue owns Job.spec.suspend of queued Jobs); the trainer's phase
      // records make the next start resume where it stopped.
      const job = this.ownJob(obj, action.phase);
      if (job && job !== 'foreign') await this.deleteJob(ns, job.metadata.name);
      return {};
    }
    if (
      (t.status.phase === 'Succeeded' || t.status.phase === 'Failed') &&
      resolved?.ttlSecondsAfterFinished !== undefined
    ) {
      const due = Date.parse(t.status.completionTime ?? now.toISOString()) + resolved.ttlSecondsAfterFinished * 1000;
      if (now.getTime() < due) return { requeueAfterMs: due - now.getTime() };
      for (const phase of TRAINER_PHASES) {
        const job = this.ownJob(obj, phase);
        if (job && job !== 'foreign') await this.deleteJob(ns, job.metadata.name);
      }
    }
    return {};
  }

  private async deleteJob(namespace: string, name: string): Promise<void> {
    try {
      await this.deps.client.delete(objectPath(JOB, namespace, name), 'Background');
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Writes status if it changed; on 409 re-reads the resource and recomputes. Returns the object as written. */
  private async writeStatus(
    cfg: KindConfig,
    obj: OwnedResource,
    first: Transition,
    plan: Plan,
    observations: Observations,
  ): Promise<OwnedResource | undefined> {
    let current = obj;
    let t = first;
    for (let attempt = 0; attempt < STATUS_WRITE_ATTEMPTS; attempt++) {
      if (isDeepStrictEqual(current.status ?? {}, t.status)) return current;
      const path = objectPath(cfg.rt, current.metadata.namespace ?? '', current.metadata.name, 'status');
      try {
        return await this.deps.client.replace<OwnedResource>(path, { ...current, status: t.status });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if (!isConflict(error)) throw error;
        this.deps.metrics.statusConflicts.inc({ kind: cfg.kind });
        const fresh = await this.deps.client.get<OwnedResource>(
          objectPath(cfg.rt, current.metadata.namespace ?? '', current.metadata.name),
        );
        if (fresh.metadata.uid !== obj.metadata.uid) return undefined;
        current = fresh;
        t = {
          ...nextState(
            { ...plan, generation: fresh.metadata.generation ?? plan.generation },
            fresh.status,
            observations,
          ),
          events: t.events,
        };
      }
    }
    throw new Error(`status of ${cfg.kind} ${keyOf(obj)} kept conflicting after ${STATUS_WRITE_ATTEMPTS} attempts`);
  }

  private recordOutcome(cfg: KindConfig, obj: OwnedResource, t: Transition): void {
    const { metrics } = this.deps;
    const key = `${cfg.kind}/${keyOf(obj)}`;
    const phase = t.status.phase as Phase;
    const prev = obj.status?.phase;
    const seen = this.phaseSince.get(key);
    if (phase !== prev) {
      if (seen && seen.phase === prev)
        metrics.phaseDuration.observe({ kind: cfg.kind, phase: prev }, (performance.now() - seen.since) / 1000);
      this.phaseSince.set(key, { phase, since: performance.now() });
      if (phase === 'Failed') {
        const reason = t.status.conditions?.find((c) => c.type === 'Failed')?.reason ?? 'Unknown';
        metrics.failures.inc({ kind: cfg.kind, reason });
      }
      if (phase === 'Succeeded' && t.status.ticket) {
        metrics.ticketBytes.observe(t.status.ticket.bytes);
        metrics.ticketDensity.observe(t.status.ticket.density);
      }
    } else if (!seen) {
      this.phaseSince.set(key, { phase, since: performance.now() });
    }
    for (const p of TRAINER_PHASES) {
      const before = obj.status?.attempts?.[p] ?? 0;
      const after = t.status.attempts?.[p] ?? 0;
      const extra = Math.max(0, after - Math.max(before, 1));
      if (extra > 0) metrics.retries.inc({ kind: cfg.kind, phase: p }, extra);
    }
  }

  /** The longest time in its current phase per kind and phase (the lota_phase_age_seconds gauge). */
  phaseAges(): { kind: string; phase: string; seconds: number }[] {
    const now = performance.now();
    const out = new Map<string, { kind: string; phase: string; seconds: number }>();
    for (const [key, { phase, since }] of this.phaseSince) {
      const kind = key.slice(0, key.indexOf('/'));
      const k = `${kind}/${phase}`;
      const seconds = (now - since) / 1000;
      if ((out.get(k)?.seconds ?? -1) < seconds) out.set(k, { kind, phase, seconds });
    }
    return [...out.values()];
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

function min(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}
