// Wires watches to work queues and work queues to the reconciler, like controller-runtime's Manager: one queue and
// `--max-concurrent-reconciles` workers per controller; changes to Jobs and Pods requeue their owner; a
// LotaAdaptation's changes that a dependant can see (phase, results, its own dependencies) requeue the resources
// that wait on it (LoTTO successors, merges), found through an index, not a scan.

import type { Logger } from 'pino';
import { KINDS, type OwnerKind, type Reconciler } from './controller.ts';
import { BY_WAITS_ON, waitsOn } from './indexes.ts';
import type { Informers, WatchedKind } from './informers.ts';
import { type KubeObject, keyOf } from './kube/resources.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { StoreChange } from './watch/store.ts';
import { WorkQueue } from './watch/workqueue.ts';

interface AdaptationView extends KubeObject {
  status?: {
    phase?: string;
    message?: string;
    ticket?: { uri?: string };
    output?: { uri?: string };
  };
}

/** What a dependant reads of a LotaAdaptation (observeDependency, cycle detection); other changes do not concern it. */
function dependencyView(a: AdaptationView): string {
  const s = a.status;
  return JSON.stringify([s?.phase, s?.ticket?.uri, s?.output?.uri, s?.phase === 'Failed' && s.message, waitsOn(a)]);
}

export class Manager {
  readonly queues: Record<OwnerKind, WorkQueue>;
  private readonly workers: Promise<void>[] = [];
  private readonly informers: Informers;
  private readonly reconciler: Reconciler;
  private readonly metrics: OperatorMetrics;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly onPodGone: ((podUid: string) => void) | undefined;

  constructor(opts: {
    informers: Informers;
    reconciler: Reconciler;
    metrics: OperatorMetrics;
    log: Logger;
    workers: number;
    /** Called when a managed pod stops running or is deleted (to drop its progress state). */
    onPodGone?: (podUid: string) => void;
  }) {
    this.onPodGone = opts.onPodGone;
    this.informers = opts.informers;
    this.reconciler = opts.reconciler;
    this.metrics = opts.metrics;
    this.log = opts.log;
    this.concurrency = opts.workers;
    const queue = (kind: OwnerKind) => {
      const name = KINDS[kind].controller;
      const q = new WorkQueue({ metrics: opts.metrics.queueMetrics(name) });
      opts.metrics.registerQueue(name, q);
      opts.metrics.maxConcurrentReconciles.set({ controller: name }, opts.workers);
      return q;
    };
    this.queues = { LotaAdaptation: queue('LotaAdaptation'), TicketMerge: queue('TicketMerge') };
  }

  /** The informers' change handler: which reconcile requests a change causes. */
  onChange = (kind: WatchedKind, change: StoreChange<KubeObject>): void => {
    const obj = change.object;
    switch (kind) {
      case 'LotaAdaptation':
        this.queues.LotaAdaptation.add(keyOf(obj));
        if (change.type !== 'updated' || dependencyView(change.old) !== dependencyView(obj))
          this.enqueueDependents(obj);
        return;
      case 'TicketMerge':
        this.queues.TicketMerge.add(keyOf(obj));
        return;
      case 'Job':
        this.enqueueOwner(obj);
        return;
      case 'Pod': {
        const phase = (obj as KubeObject & { status?: { phase?: string } }).status?.phase;
        if (obj.metadata.uid && (change.type === 'deleted' || (phase !== 'Running' && phase !== 'Pending')))
          this.onPodGone?.(obj.metadata.uid);
        const jobRef = obj.metadata.ownerReferences?.find((r) => r.kind === 'Job' && r.controller);
        const job = jobRef && this.informers.get<KubeObject>('Job', `${obj.metadata.namespace}/${jobRef.name}`);
        if (job) this.enqueueOwner(job);
        return;
      }
    }
  };

  /** Requeues `kind/namespace/name` (progress readings arrive this way). */
  enqueue(ownerKey: string): void {
    const slash = ownerKey.indexOf('/');
    const kind = ownerKey.slice(0, slash) as OwnerKind;
    this.queues[kind]?.add(ownerKey.slice(slash + 1));
  }

  private enqueueOwner(child: KubeObject): void {
    const ref = child.metadata.ownerReferences?.find((r) => r.controller && r.apiVersion.startsWith('lota.dev/'));
    if (ref && (ref.kind === 'LotaAdaptation' || ref.kind === 'TicketMerge')) {
      this.queues[ref.kind].add(`${child.metadata.namespace}/${ref.name}`);
    }
  }

  private enqueueDependents(adaptation: KubeObject): void {
    const key = keyOf(adaptation);
    for (const a of this.informers.byIndex('LotaAdaptation', BY_WAITS_ON, key))
      this.queues.LotaAdaptation.add(keyOf(a));
    for (const m of this.informers.byIndex('TicketMerge', BY_WAITS_ON, key)) this.queues.TicketMerge.add(keyOf(m));
  }

  /** Starts the workers (once caches have synced: a reconcile on a partial cache could create a duplicate Job). */
  start(): void {
    for (const kind of ['LotaAdaptation', 'TicketMerge'] as const) {
      for (let i = 0; i < this.concurrency; i++) this.workers.push(this.work(kind));
    }
  }

  async stop(): Promise<void> {
    for (const q of Object.values(this.queues)) q.shutDown();
    await Promise.all(this.workers);
  }

  private async work(kind: OwnerKind): Promise<void> {
    const queue = this.queues[kind];
    const controller = KINDS[kind].controller;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      this.metrics.activeWorkers.inc({ controller });
      const end = this.metrics.reconcileTime.startTimer({ controller });
      try {
        const result = await this.reconciler.reconcile(kind, key);
        if (result.requeue) {
          // controller-runtime's Requeue: back with the key's backoff (a 409, a refused create), which is kept.
          queue.addRateLimited(key);
          this.metrics.reconcileTotal.inc({ controller, result: 'requeue' });
          continue;
        }
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) {
          queue.addAfter(key, result.requeueAfterMs);
          this.metrics.reconcileTotal.inc({ controller, result: 'requeue_after' });
        } else {
          this.metrics.reconcileTotal.inc({ controller, result: 'success' });
        }
      } catch (err) {
        this.metrics.reconcileTotal.inc({ controller, result: 'error' });
        this.metrics.reconcileErrors.inc({ controller });
        this.log.error(
          { err, controller, key, retries: queue.numRequeues(key) },
          'reconcile failed; requeued with backoff',
        );
        queue.addRateLimited(key);
      } finally {
        end();
        this.metrics.activeWorkers.dec({ controller });
        queue.done(key);
      }
    }
  }
}
