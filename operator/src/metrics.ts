// Prometheus metrics. Reconcile and work-queue metrics carry controller-runtime's names and labels, so dashboards
// and alerts written for Go operators work unchanged; domain metrics use the `lota_` prefix and bounded labels
// (kind, phase, outcome: never a resource name).

import type { MachineStatus } from '@lota/api/phase-machine';
import { TRAINER_PHASES } from '@lota/api/trainer-contract';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkQueue, WorkQueueMetrics } from './watch/workqueue.ts';

const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2,
  2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
// client-go's work-queue buckets: 1 ns … 10 s, ×10 each.
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];
const PHASE_BUCKETS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 259_200];

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

export class OperatorMetrics {
  readonly registry = new Registry();

  readonly reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'] as const,
    buckets: RECONCILE_BUCKETS,
    registers: [this.registry],
  });
  readonly activeWorkers = new Gauge({
    name: 'controller_runtime_active_workers',
    help: 'Number of currently used workers per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly maxConcurrentReconciles = new Gauge({
    name: 'controller_runtime_max_concurrent_reconciles',
    help: 'Maximum number of concurrent reconciles per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });

  private readonly queueDepth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: ['name', 'controller'] as const,
    registers: [this.registry],
  });
  private readonly queueAdds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames: ['name', 'controller'] as const,
    registers: [this.registry],
  });
  private readonly queueLatency = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: ['name', 'controller'] as const,
    buckets: QUEUE_BUCKETS,
    registers: [this.registry],
  });
  private readonly workDuration = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes',
    labelNames: ['name', 'controller'] as const,
    buckets: QUEUE_BUCKETS,
    registers: [this.registry],
  });
  private readonly queueRetries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: ['name', 'controller'] as const,
    registers: [this.registry],
  });
  private readonly queues = new Map<string, WorkQueue>();
  /** When each resource entered its current phase, as seen by this process (`kind/namespace/name` → phase, since). */
  private readonly phaseSince = new Map<string, { phase: string; since: number }>();

  // Domain metrics.
  readonly phaseDuration = new Histogram({
    name: 'lota_phase_duration_seconds',
    help: 'Time resources spent in a phase, observed when they leave it',
    labelNames: ['kind', 'phase'] as const,
    buckets: PHASE_BUCKETS,
    registers: [this.registry],
  });
  readonly jobsCreated = new Counter({
    name: 'lota_jobs_created_total',
    help: 'Trainer Jobs created, per kind and trainer phase',
    labelNames: ['kind', 'phase'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'lota_phase_retries_total',
    help: 'Trainer attempts beyond the first, per kind and trainer phase (pods restarted after a failure or disruption)',
    labelNames: ['kind', 'phase'] as const,
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'lota_failures_total',
    help: 'Resources that reached Failed, per kind and condition reason class',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly ticketBytes = new Histogram({
    name: 'lota_ticket_bytes',
    help: 'Size of the tickets of succeeded adaptations',
    buckets: [1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10],
    registers: [this.registry],
  });
  readonly ticketDensity = new Histogram({
    name: 'lota_ticket_density',
    help: 'Fraction of target entries stored in the tickets of succeeded adaptations',
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    registers: [this.registry],
  });
  readonly statusConflicts = new Counter({
    name: 'lota_status_update_conflicts_total',
    help: 'Status writes refused with 409 Conflict and retried',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly progressPolls = new Counter({
    name: 'lota_progress_polls_total',
    help: "Reads of trainers' progress endpoints, by outcome",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'lota_reflector_restarts_total',
    help: 'Reflector recoveries by resource and cause (relist after 410 Gone, watchdog, error)',
    labelNames: ['resource', 'cause'] as const,
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'lota_leader',
    help: '1 while this replica holds the leader lease',
    registers: [this.registry],
  });

  constructor(
    opts: {
      resourceCounts?: () => { kind: string; phase: string; count: number }[];
      phaseAges?: () => { kind: string; phase: string; seconds: number }[];
      defaults?: boolean;
    } = {},
  ) {
    const counts = opts.resourceCounts;
    const ages = opts.phaseAges ?? (() => this.phaseAges());
    new Gauge({
      name: 'lota_phase_age_seconds',
      help: 'Longest time any resource of a kind has been in its current phase, as observed by this process (resets when it restarts)',
      labelNames: ['kind', 'phase'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const a of ages?.() ?? []) this.set({ kind: a.kind, phase: a.phase }, a.seconds);
      },
    });
    new Gauge({
      name: 'lota_resources',
      help: 'LotaAdaptations and TicketMerges per kind and phase (from the cache, at scrape time)',
      labelNames: ['kind', 'phase'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of counts?.() ?? []) this.set({ kind: c.kind, phase: c.phase }, c.count);
      },
    });
    const queues = this.queues;
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'How many seconds of work has been done that is in progress and hasn\u2019t been observed by work_duration',
      labelNames: ['name', 'controller'] as const,
      registers: [this.registry],
      collect() {
        for (const [name, q] of queues) this.set({ name, controller: name }, q.inFlight().unfinishedSeconds);
      },
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running',
      labelNames: ['name', 'controller'] as const,
      registers: [this.registry],
      collect() {
        for (const [name, q] of queues) this.set({ name, controller: name }, q.inFlight().longestSeconds);
      },
    });
    if (opts.defaults !== false) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client names these gauges with a counter's `_total` suffix, which `promtool check metrics` refuses; the
      // per-type gauges without the suffix (nodejs_active_handles, …) stay.
      for (const name of [
        'nodejs_active_handles_total',
        'nodejs_active_requests_total',
        'nodejs_active_resources_total',
      ]) {
        this.registry.removeSingleMetric(name);
      }
    }
  }

  /** Hooks for a controller's work queue (controller-runtime names the queue after the controller). */
  queueMetrics(name: string): WorkQueueMetrics {
    const labels = { name, controller: name };
    return {
      add: () => this.queueAdds.inc(labels),
      depth: (n) => this.queueDepth.set(labels, n),
      queued: (s) => this.queueLatency.observe(labels, s),
      worked: (s) => this.workDuration.observe(labels, s),
      retry: () => this.queueRetries.inc(labels),
    };
  }

  registerQueue(name: string, queue: WorkQueue): void {
    this.queues.set(name, queue);
  }

  /**
   * The domain metrics of one status transition that was stored (never of one the API server refused): phase
   * durations, failures by reason, ticket size and density, retries.
   */
  recordTransition(kind: string, key: string, before: MachineStatus | undefined, after: MachineStatus): void {
    const id = `${kind}/${key}`;
    const phase = after.phase ?? 'Pending';
    const prev = before?.phase;
    const seen = this.phaseSince.get(id);
    if (phase !== prev) {
      if (seen && seen.phase === prev)
        this.phaseDuration.observe({ kind, phase: prev }, (performance.now() - seen.since) / 1000);
      this.phaseSince.set(id, { phase, since: performance.now() });
      if (phase === 'Failed') {
        const reason = after.conditions?.find((c) => c.type === 'Failed')?.reason ?? 'Unknown';
        this.failures.inc({ kind, reason });
      }
      if (phase === 'Succeeded' && after.ticket) {
        this.ticketBytes.observe(after.ticket.bytes);
        this.ticketDensity.observe(after.ticket.density);
      }
    } else if (!seen) {
      this.phaseSince.set(id, { phase, since: performance.now() });
    }
    for (const p of TRAINER_PHASES) {
      const was = before?.attempts?.[p] ?? 0;
      const now = after.attempts?.[p] ?? 0;
      const extra = Math.max(0, now - Math.max(was, 1));
      if (extra > 0) this.retries.inc({ kind, phase: p }, extra);
    }
  }

  forgetResource(kind: string, key: string): void {
    this.phaseSince.delete(`${kind}/${key}`);
  }

  /** The longest time in its current phase per kind and phase (the lota_phase_age_seconds gauge). */
  phaseAges(): { kind: string; phase: string; seconds: number }[] {
    const now = performance.now();
    const out = new Map<string, { kind: string; phase: string; seconds: number }>();
    for (const [id, { phase, since }] of this.phaseSince) {
      const kind = id.slice(0, id.indexOf('/'));
      const k = `${kind}/${phase}`;
      const seconds = (now - since) / 1000;
      if ((out.get(k)?.seconds ?? -1) < seconds) out.set(k, { kind, phase, seconds });
    }
    return [...out.values()];
  }
}
