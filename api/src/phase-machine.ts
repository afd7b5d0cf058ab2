// The one state machine both executors share: the operator (one Job per phase) and `lota run` (one local process per
// phase). It is pure: given what a resource asks for (its plan), its current status and what each executor observes
// of the phases and of the resources it depends on, it returns the next status, the one action to take, and the
// events worth recording. Executors only observe and act; every decision lives here.

import type {
  InputSummary,
  InterferenceSummary,
  MaskSummary,
  OutputSummary,
  Progress,
  Results,
  TerminationMessage,
  TicketSummary,
  TrainerPhase,
} from './trainer-contract.ts';

export type ResourceKind = 'LotaAdaptation' | 'TicketMerge';

export type Phase =
  | 'Pending'
  | 'WaitingForTickets'
  | 'Calibrating'
  | 'Training'
  | 'Merging'
  | 'Succeeded'
  | 'Failed'
  | 'Suspended';

export const TERMINAL_PHASES: readonly Phase[] = ['Succeeded', 'Failed'];

/** Condition types the machine maintains: Ready/Succeeded/Failed for people and `kubectl wait`, Reconciling/Stalled for kstatus. */
export const CONDITION_TYPES = ['Ready', 'Succeeded', 'Failed', 'Reconciling', 'Stalled'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface MachineCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** The status fields the machine reads and writes; LotaAdaptationStatus and TicketMergeStatus both fit it. */
export interface MachineStatus {
  phase?: Phase;
  conditions?: MachineCondition[];
  observedGeneration?: number;
  startTime?: string;
  completionTime?: string;
  /** Attempts (pods or processes) started per trainer phase, summed over the phase's Jobs. */
  attempts?: Partial<Record<TrainerPhase, number>>;
  /** Failed attempts per trainer phase, summed over the phase's Jobs: what `backoffLimit` is spent against. */
  failures?: Partial<Record<TrainerPhase, number>>;
  /** A merge's inputs as resolved when it started. */
  tickets?: { name: string; uri: string }[];
  progress?: Progress;
  /** Remote inputs and what they resolved to (from the first phase that reports them). */
  inputs?: InputSummary[];
  mask?: MaskSummary;
  ticket?: TicketSummary;
  results?: Results;
  output?: OutputSummary;
  interference?: Omit<InterferenceSummary, 'maxPair'> & { maxPair?: string[] };
  message?: string;
}

/** What a resource asks of the machine, derived from its spec (with defaults applied) by `adaptationPlan`/`mergePlan`. */
export interface Plan {
  kind: ResourceKind;
  name: string;
  generation: number;
  /** Trainer phases in order. */
  phases: TrainerPhase[];
  /** Names of LotaAdaptations (same namespace) whose tickets this resource needs before it starts. */
  dependencies: string[];
  /** Whether a dependency may supply a model directory instead of a ticket (merges of full/lora baselines). */
  acceptModels: boolean;
  /** A merge's inputs in spec order: a label and either a dependency name or a URI. */
  inputs?: { name: string; adaptationRef?: string; uri?: string }[];
  /** Failed attempts allowed per phase before the resource fails. */
  backoffLimit: number;
  /** Limit on the whole run, counted from `status.startTime`. */
  activeDeadlineSeconds?: number;
  suspend: boolean;
}

/** What an executor sees of one trainer phase. */
export type PhaseObservation =
  /** Nothing exists for it: no Job, no process, no phase record. */
  | { state: 'NotStarted' }
  /**
   * It exists but does not run yet (a Job held by Kueue or waiting for a node), or it cannot be made to run yet:
   * `reason` then names why (e.g. `JobCreateRefused` with the API server's message) and becomes a Warning Event.
   */
  | { state: 'Queued'; message?: string; reason?: string }
  /**
   * It finished, but what it reported can no longer be read (a Job's pod and termination message are gone). The
   * phase record on the volume still holds it: running the phase again returns it at once.
   */
  | { state: 'Lost'; message: string }
  | { state: 'Running'; progress?: Progress; failures?: number; attempts?: number }
  | { state: 'Succeeded'; termination: TerminationMessage }
  /**
   * It stopped with an error. `failures` counts failed attempts so far (disruptions excluded); `permanent` says that
   * retrying cannot help (a permanent exit code, a deadline, or a Job that gave up).
   */
  | {
      state: 'Failed';
      reason: string;
      message: string;
      failures: number;
      permanent: boolean;
      exitCode?: number;
      attempts?: number;
    }
  /** It exists and is stopped by a suspension. */
  | { state: 'Suspended' };

/** What an executor sees of a LotaAdaptation this resource depends on. */
export type DependencyObservation =
  | { state: 'Missing' }
  | { state: 'Pending'; phase?: string }
  | { state: 'Succeeded'; ticketUri?: string; modelUri?: string }
  | { state: 'Failed'; reason?: string; message?: string }
  /** It waits, directly or through others, for this very resource: neither can ever start. */
  | { state: 'Cycle'; path: string[] };

export interface Observations {
  phases: Partial<Record<TrainerPhase, PhaseObservation>>;
  dependencies: Record<string, DependencyObservation>;
  now: Date;
}

export type Action =
  /**
   * Make the phase run: create its Job or process, or resume it. `ticketRefs` maps dependency name → ticket URI;
   * `prior` counts the phase's earlier attempts and failures (of Jobs that are gone), and `retryBudget` is how many
   * failed attempts the new one may still have, so that `backoffLimit` holds across Jobs.
   */
  | {
      type: 'start';
      phase: TrainerPhase;
      ticketRefs: Record<string, string>;
      prior: { attempts: number; failures: number };
      retryBudget: number;
    }
  /** Remove the phase's finished Job (its result is unreadable) so that the next `start` runs it again. */
  | { type: 'rerun'; phase: TrainerPhase }
  /** Stop the phase and keep what it has, so that a later `start` resumes it. */
  | { type: 'suspend'; phase: TrainerPhase }
  /** Stop the phase for good: the resource has failed while it ran. */
  | { type: 'stop'; phase: TrainerPhase }
  /** Something is running or awaited; observe again later. */
  | { type: 'wait' }
  /** Nothing to do: the resource is finished or suspended. */
  | { type: 'none' };

export interface MachineEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Transition {
  status: MachineStatus;
  action: Action;
  events: MachineEvent[];
}

/** The phase of the resource while a trainer phase runs. */
export const RUNNING_PHASE: Record<TrainerPhase, Phase> = {
  calibrate: 'Calibrating',
  train: 'Training',
  merge: 'Merging',
};

export interface AdaptationSpecForPlan {
  method?: 'lota' | 'full' | 'lora';
  lota?: { excludeTicketsOf?: string[] };
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  suspend?: boolean;
}

export interface MergeSpecForPlan {
  tickets: { name?: string; adaptationRef?: string | { name: string }; uri?: string }[];
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  suspend?: boolean;
}

export interface ObjectMetaForPlan {
  name: string;
  generation?: number;
}

/** The batch/v1 Job default, used only when a spec reaches the machine without defaults applied. */
const FALLBACK_BACKOFF_LIMIT = 6;

export function adaptationPlan(meta: ObjectMetaForPlan, spec: AdaptationSpecForPlan): Plan {
  const method = spec.method ?? 'lota';
  return {
    kind: 'LotaAdaptation',
    name: meta.name,
    generation: meta.generation ?? 0,
    // `full` and `lora` train densely or through adapters: there is no mask to calibrate.
    phases: method === 'lota' ? ['calibrate', 'train'] : ['train'],
    dependencies: method === 'lota' ? [...new Set(spec.lota?.excludeTicketsOf ?? [])] : [],
    acceptModels: false,
    backoffLimit: spec.backoffLimit ?? FALLBACK_BACKOFF_LIMIT,
    ...(spec.activeDeadlineSeconds !== undefined && { activeDeadlineSeconds: spec.activeDeadlineSeconds }),
    suspend: spec.suspend ?? false,
  };
}

export function mergePlan(meta: ObjectMetaForPlan, spec: MergeSpecForPlan): Plan {
  const inputs = (spec.tickets ?? []).map((t, i) => {
    const ref = typeof t.adaptationRef === 'string' ? t.adaptationRef : t.adaptationRef?.name;
    return {
      name: t.name ?? ref ?? `ticket-${i}`,
      ...(ref !== undefined && { adaptationRef: ref }),
      ...(t.uri !== undefined && { uri: t.uri }),
    };
  });
  const refs = inputs.map((t) => t.adaptationRef).filter((n): n is string => n !== undefined);
  return {
    kind: 'TicketMerge',
    name: meta.name,
    generation: meta.generation ?? 0,
    phases: ['merge'],
    dependencies: [...new Set(refs)],
    acceptModels: true,
    inputs,
    backoffLimit: spec.backoffLimit ?? FALLBACK_BACKOFF_LIMIT,
    ...(spec.activeDeadlineSeconds !== undefined && { activeDeadlineSeconds: spec.activeDeadlineSeconds }),
    suspend: spec.suspend ?? false,
  };
}

/** metav1.Time: RFC 3339 in UTC with second precision. */
export function formatTime(t: Date): string {
  return `${t.toISOString().slice(0, 19)}Z`;
}

/** A condition reason must match `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`; trainer reasons already do. */
export function conditionReason(reason: string): string {
  const cleaned = reason
    .replace(/[^A-Za-z0-9_,:]/g, '')
    .replace(/^[^A-Za-z]+/, '')
    .replace(/[,:]+$/, '');
  return cleaned === '' ? 'Unknown' : cleaned;
}

// Names of LotaAdaptations are DNS subdomains; anything else (notably `namespace/name`) is refused, so that a
// resource can never read another namespace's tickets.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

interface Outcome {
  phase: Phase;
  reason: string;
  message: string;
  action: Action;
  events?: MachineEvent[];
}

export function nextState(plan: Plan, current: MachineStatus | undefined, observed: Observations): Transition {
  const prev = current ?? {};
  const status: MachineStatus = structuredClone(prev);
  status.observedGeneration = plan.generation;
  const now = formatTime(observed.now);

  const outcome = decide(plan, prev, status, observed);

  const events = [...(outcome.events ?? [])];
  if (outcome.phase !== prev.phase) {
    events.push({
      type: outcome.phase === 'Failed' ? 'Warning' : 'Normal',
      reason: outcome.phase === 'Failed' ? outcome.reason : outcome.phase,
      message: outcome.message,
    });
    if (outcome.phase === 'Succeeded' || outcome.phase === 'Failed') status.completionTime = now;
  }
  status.phase = outcome.phase;
  status.message = outcome.message;
  status.conditions = nextConditions(prev.conditions ?? [], outcome, plan.generation, now);
  return { status, action: outcome.action, events };
}

/** Decides the outcome; records what the observations carry (results, progress, attempts, times) into `status`. */
function decide(plan: Plan, prev: MachineStatus, status: MachineStatus, observed: Observations): Outcome {
  // Terminal phases are final: Jobs removed by their TTL afterwards must not start anything again.
  if (prev.phase === 'Succeeded' || prev.phase === 'Failed') {
    const running = plan.phases.find((p) => isActive(observed.phases[p]));
    return {
      phase: prev.phase,
      reason: reasonOf(prev, prev.phase),
      message: prev.message ?? '',
      action: running && prev.phase === 'Failed' ? { type: 'stop', phase: running } : { type: 'none' },
    };
  }

  const badRef = plan.dependencies.find((d) => !DNS_SUBDOMAIN.test(d) || d === plan.name);
  if (badRef !== undefined) {
    return fail(
      'InvalidReference',
      badRef === plan.name
        ? `${plan.kind} ${plan.name} refers to itself`
        : `"${badRef}" is not the name of a LotaAdaptation in this namespace (references are same-namespace only)`,
      plan,
      observed,
    );
  }

  // Record what finished phases report, and find the first phase that has not finished.
  let active: TrainerPhase | undefined;
  for (const p of plan.phases) {
    const obs = observed.phases[p];
    if (obs?.state === 'Succeeded') {
      const invalid = recordTermination(status, p, obs.termination);
      if (invalid) return fail('InvalidTerminationMessage', invalid, plan, observed);
      continue;
    }
    if (isRecordedDone(status, plan, p)) continue;
    active = p;
    break;
  }
  if (active === undefined) {
    delete status.progress;
    const last = plan.phases[plan.phases.length - 1];
    const tm = last && observed.phases[last]?.state === 'Succeeded' ? observed.phases[last] : undefined;
    const detail = tm?.state === 'Succeeded' && tm.termination.message ? `: ${tm.termination.message}` : '';
    return {
      phase: 'Succeeded',
      reason: 'Completed',
      message: `${plan.kind} ${plan.name} succeeded${detail}`,
      action: { type: 'none' },
    };
  }

  const obs: PhaseObservation = observed.phases[active] ?? { state: 'NotStarted' };
  if (obs.state === 'Failed') {
    // Recorded before anything else: a phase that failed for good fails the run even if it was being suspended.
    status.attempts = {
      ...status.attempts,
      [active]: Math.max(status.attempts?.[active] ?? 0, obs.attempts ?? obs.failures),
    };
    status.failures = { ...status.failures, [active]: Math.max(status.failures?.[active] ?? 0, obs.failures) };
    const exit = obs.exitCode !== undefined ? ` (exit code ${obs.exitCode})` : '';
    if (obs.permanent) return fail(obs.reason, `phase ${active} failed${exit}: ${obs.message}`, plan, observed);
    if (obs.failures > plan.backoffLimit) {
      return fail(
        'BackoffLimitExceeded',
        `phase ${active} failed ${obs.failures} times, more than backoffLimit=${plan.backoffLimit}; last${exit}: ${obs.message}`,
        plan,
        observed,
      );
    }
  }

  if (plan.suspend) {
    // The deadline does not run while suspended; it restarts on resume, as for a batch/v1 Job.
    delete status.startTime;
    return {
      phase: 'Suspended',
      reason: 'Suspended',
      message: `suspended before phase ${active} finished; finished phases are kept`,
      action: isActive(obs) ? { type: 'suspend', phase: active } : { type: 'none' },
    };
  }

  if (status.startTime === undefined) status.startTime = formatTime(observed.now);
  if (plan.activeDeadlineSeconds !== undefined) {
    const elapsed = (observed.now.getTime() - Date.parse(status.startTime)) / 1000;
    if (elapsed >= plan.activeDeadlineSeconds) {
      return fail(
        'DeadlineExceeded',
        `the run exceeded activeDeadlineSeconds=${plan.activeDeadlineSeconds} during phase ${active}`,
        plan,
        observed,
      );
    }
  }

  switch (obs.state) {
    case 'Running':
      if (obs.progress) status.progress = obs.progress;
      status.attempts = {
        ...status.attempts,
        [active]: Math.max(status.attempts?.[active] ?? 1, obs.attempts ?? (obs.failures ?? 0) + 1),
      };
      if (obs.failures !== undefined) {
        status.failures = {
          ...status.failures,
          [active]: Math.max(status.failures?.[active] ?? 0, obs.failures),
        };
      }
      return {
        phase: RUNNING_PHASE[active],
        reason: RUNNING_PHASE[active],
        message: runningMessage(active, obs.progress),
        action: { type: 'wait' },
      };
    case 'Queued': {
      const reason = obs.reason ?? 'Queued';
      const message = `phase ${active} is waiting to run${obs.message ? `: ${obs.message}` : ''}`;
      return {
        phase: RUNNING_PHASE[active],
        reason,
        message,
        action: { type: 'wait' },
        // A reason beyond plain queueing is worth a Warning, once (when it appears).
        ...(obs.reason && reasonOf(prev, '') !== obs.reason && { events: [{ type: 'Warning', reason, message }] }),
      };
    }
    case 'Lost': {
      const message = `phase ${active} finished but its result cannot be read (${obs.message}); running it again to read its phase record`;
      return {
        phase: RUNNING_PHASE[active],
        reason: 'Recovering',
        message,
        action: { type: 'rerun', phase: active },
        ...(reasonOf(prev, '') !== 'Recovering' && { events: [{ type: 'Normal', reason: 'Recovering', message }] }),
      };
    }
    case 'Failed': {
      // Retryable and within backoffLimit (checked above): a new attempt.
      const exit = obs.exitCode !== undefined ? ` (exit code ${obs.exitCode})` : '';
      const attempts = obs.failures;
      const retry = startOrWait(plan, status, active, observed);
      retry.events = [
        {
          type: 'Warning',
          reason: 'Retrying',
          message: `phase ${active} attempt ${attempts} failed${exit}: ${obs.message}; retrying`,
        },
      ];
      if (retry.action.type === 'start') status.attempts = { ...status.attempts, [active]: attempts + 1 };
      return retry;
    }
    case 'Succeeded': // recorded by the loop above; never the active phase
    case 'NotStarted':
    case 'Suspended': {
      const next = startOrWait(plan, status, active, observed);
      // Recorded as started (the spec is immutable from here on); pods are counted once they are observed.
      if (next.action.type === 'start' && obs.state === 'NotStarted') {
        status.attempts = { ...status.attempts, [active]: status.attempts?.[active] ?? 0 };
      }
      return next;
    }
  }
}

/** Start `phase` once every dependency has a ticket; wait while one is missing or pending; fail if one failed. */
function startOrWait(plan: Plan, status: MachineStatus, phase: TrainerPhase, observed: Observations): Outcome {
  const ticketRefs: Record<string, string> = {};
  const waiting: string[] = [];
  for (const name of plan.dependencies) {
    const dep = observed.dependencies[name] ?? { state: 'Missing' };
    switch (dep.state) {
      case 'Cycle':
        return fail('DependencyCycle', `excludeTicketsOf forms a cycle: ${dep.path.join(' → ')}`, plan, observed);
      case 'Failed':
        return fail(
          'DependencyFailed',
          `LotaAdaptation ${name} failed${dep.reason ? ` (${dep.reason})` : ''}${dep.message ? `: ${dep.message}` : ''}`,
          plan,
          observed,
        );
      case 'Succeeded':
        if (!dep.ticketUri && plan.acceptModels && dep.modelUri) {
          ticketRefs[name] = dep.modelUri;
          break;
        }
        if (!dep.ticketUri) {
          return fail(
            'DependencyHasNoTicket',
            `LotaAdaptation ${name} succeeded without a ticket (only method lota makes one)`,
            plan,
            observed,
          );
        }
        ticketRefs[name] = dep.ticketUri;
        break;
      case 'Missing':
        waiting.push(`${name} (not found)`);
        break;
      case 'Pending':
        waiting.push(`${name} (${dep.phase ?? 'Pending'})`);
        break;
    }
  }
  if (waiting.length > 0) {
    // A phase already under way (a retry, a resume) keeps its phase; a run that has not started shows it waits.
    const started =
      status.phase !== undefined &&
      status.phase !== 'Pending' &&
      status.phase !== 'WaitingForTickets' &&
      status.phase !== 'Suspended';
    return {
      phase: started ? RUNNING_PHASE[phase] : plan.kind === 'TicketMerge' ? 'WaitingForTickets' : 'Pending',
      reason: 'WaitingForTickets',
      message: `waiting for the tickets of ${waiting.join(', ')}`,
      action: { type: 'wait' },
    };
  }
  const prior = { attempts: status.attempts?.[phase] ?? 0, failures: status.failures?.[phase] ?? 0 };
  if (prior.failures > plan.backoffLimit) {
    return fail(
      'BackoffLimitExceeded',
      `phase ${phase} failed ${prior.failures} times, more than backoffLimit=${plan.backoffLimit}`,
      plan,
      observed,
    );
  }
  if (plan.inputs) {
    status.tickets = plan.inputs.map((t) => ({ name: t.name, uri: t.uri ?? ticketRefs[t.adaptationRef ?? ''] ?? '' }));
  }
  return {
    phase: RUNNING_PHASE[phase],
    reason: RUNNING_PHASE[phase],
    message: `phase ${phase} started`,
    action: { type: 'start', phase, ticketRefs, prior, retryBudget: plan.backoffLimit - prior.failures },
  };
}

function fail(reason: string, message: string, plan: Plan, observed: Observations): Outcome {
  const running = plan.phases.find((p) => isActive(observed.phases[p]));
  return {
    phase: 'Failed',
    reason: conditionReason(reason),
    message,
    action: running ? { type: 'stop', phase: running } : { type: 'none' },
  };
}

function isActive(obs: PhaseObservation | undefined): boolean {
  return obs?.state === 'Running' || obs?.state === 'Queued';
}

/**
 * A phase's Job may be gone (its TTL expired) while the run goes on, so status remembers finished phases: a
 * calibration is done once `status.mask` holds its summary.
 */
function isRecordedDone(status: MachineStatus, plan: Plan, phase: TrainerPhase): boolean {
  return phase === 'calibrate' && plan.phases.length > 1 && status.mask !== undefined;
}

/** Copies a finished phase's summaries into status; returns why the message breaks the contract, if it does. */
function recordTermination(status: MachineStatus, phase: TrainerPhase, tm: TerminationMessage): string | undefined {
  if (tm.phase !== phase) return `phase ${phase} reported a termination message of phase ${tm.phase}`;
  if (phase === 'calibrate' && !tm.mask) return 'phase calibrate succeeded without reporting its mask';
  if (tm.inputs?.length) status.inputs = tm.inputs;
  if (tm.mask) status.mask = tm.mask;
  if (tm.ticket) status.ticket = tm.ticket;
  if (tm.results) status.results = tm.results;
  if (tm.output) status.output = tm.output;
  if (tm.interference) status.interference = tm.interference;
  return undefined;
}

function runningMessage(phase: TrainerPhase, progress: Progress | undefined): string {
  if (!progress) return `phase ${phase} is running`;
  // Progress comes from the trainer, whose image the user chooses: nothing in it may break a reconcile.
  const loss = Number.isFinite(progress.loss) ? `, loss ${(progress.loss as number).toPrecision(4)}` : '';
  return `phase ${phase}: step ${progress.step}/${progress.totalSteps} (${Math.round(Number(progress.percent) || 0)}%)${loss}`;
}

function reasonOf(status: MachineStatus, fallback: string): string {
  return status.conditions?.find((c) => c.type === 'Ready')?.reason ?? fallback;
}

/** Conditions for an outcome; lastTransitionTime changes only when a condition's status does. */
function nextConditions(prev: MachineCondition[], o: Outcome, generation: number, now: string): MachineCondition[] {
  const succeeded = o.phase === 'Succeeded';
  const failed = o.phase === 'Failed';
  const settled = succeeded || failed || o.phase === 'Suspended';
  const want: Record<ConditionType, MachineCondition['status']> = {
    Ready: succeeded ? 'True' : 'False',
    Succeeded: succeeded ? 'True' : failed ? 'False' : 'Unknown',
    Failed: failed ? 'True' : 'False',
    Reconciling: settled ? 'False' : 'True',
    Stalled: failed ? 'True' : 'False',
  };
  const kept = prev.filter((c) => !(CONDITION_TYPES as readonly string[]).includes(c.type));
  const ours = CONDITION_TYPES.map((type): MachineCondition => {
    const old = prev.find((c) => c.type === type);
    const status = want[type];
    return {
      type,
      status,
      reason: o.reason,
      message: o.message,
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
      observedGeneration: generation,
    };
  });
  return [...ours, ...kept];
}
