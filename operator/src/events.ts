// Records events.k8s.io/v1 Events about LotaAdaptations and TicketMerges (`kubectl events`, `kubectl describe`),
// like client-go's events recorder: recording never blocks a reconcile (Events go out from a bounded background
// queue, a few at a time), and an Event that repeats (same object, type, reason and note) within six minutes
// becomes a series — one PATCH of `series.count`/`series.lastObservedTime` on the first Event instead of a new
// Event each time; repeats still waiting to be sent are merged into one request. Failing to record an Event is
// logged, never fatal; when the queue is full, Events are dropped (counted), as client-go's broadcaster does.

import type { Logger } from 'pino';
import { isNotFound, type KubeClient } from './kube/client.ts';
import { collectionPath, EVENT, type KubeObject, objectPath } from './kube/resources.ts';

export const REPORTING_CONTROLLER = 'lota.dev/lota-operator';

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** client-go's window in which a repeat joins the series of the first Event. */
const SERIES_WINDOW_MS = 6 * 60_000;

export interface EventRecorderOptions {
  /** Events waiting to be sent at most (default 1000). */
  queueSize?: number;
  /** Requests at a time (default 2). */
  concurrency?: number;
  /** Series remembered at most (default 4096); the oldest are forgotten first. */
  maxSeries?: number;
  now?: () => Date;
}

interface Series {
  ns: string;
  /** Set once the first Event was created. */
  name?: string;
  count: number;
  firstAt: number;
  lastAt: Date;
  queued: boolean;
  body: Record<string, unknown>;
}

/**
 * `<object name>.<unique suffix>`, as client-go names Events, cut so that it stays a valid name (253 characters) for
 * any valid object name; a cut never leaves a '-' or '.' before the suffix's dot.
 */
export function eventName(objectName: string, now: Date): string {
  const suffix = `${now.getTime().toString(16)}${Math.random().toString(16).slice(2, 6)}`;
  const keep = objectName.slice(0, 253 - suffix.length - 1).replace(/[-.]+$/, '');
  return `${keep}.${suffix}`;
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly instance: string;
  private readonly log: Logger;
  private readonly opts: Required<Omit<EventRecorderOptions, 'now'>> & { now: () => Date };
  private readonly series = new Map<string, Series>();
  private readonly queue: Series[] = [];
  private sending = 0;
  private idle: (() => void)[] = [];
  /** Counters for tests and the bench. */
  readonly stats = { recorded: 0, created: 0, patched: 0, dropped: 0, failed: 0 };

  constructor(client: KubeClient, instance: string, log: Logger, opts: EventRecorderOptions = {}) {
    this.client = client;
    this.instance = instance;
    this.log = log;
    this.opts = {
      queueSize: opts.queueSize ?? 1000,
      concurrency: opts.concurrency ?? 2,
      maxSeries: opts.maxSeries ?? 4096,
      now: opts.now ?? (() => new Date()),
    };
  }

  /** Queues the Event and returns at once. */
  async record(regarding: KubeObject & { apiVersion: string; kind: string }, event: EventInput): Promise<void> {
    this.stats.recorded++;
    const now = this.opts.now();
    const ns = regarding.metadata.namespace ?? 'default';
    const reason = event.reason.slice(0, 128);
    const note = event.message.slice(0, 1024);
    const key = JSON.stringify([ns, regarding.metadata.uid ?? regarding.metadata.name, event.type, reason, note]);
    const known = this.series.get(key);
    if (known && now.getTime() - known.firstAt < SERIES_WINDOW_MS) {
      known.count++;
      known.lastAt = now;
      // Most recently used last, so that the oldest are forgotten first.
      this.series.delete(key);
      this.series.set(key, known);
      this.enqueue(known);
      return;
    }
    const s: Series = {
      ns,
      count: 1,
      firstAt: now.getTime(),
      lastAt: now,
      queued: false,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName(regarding.metadata.name, now), namespace: ns },
        eventTime: microTime(now),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: this.instance.slice(0, 128),
        action: event.type === 'Warning' ? 'Fail' : 'Transition',
        reason,
        note,
        type: event.type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: regarding.metadata.name,
          namespace: ns,
          uid: regarding.metadata.uid,
          resourceVersion: regarding.metadata.resourceVersion,
        },
      },
    };
    this.series.delete(key);
    this.series.set(key, s);
    while (this.series.size > this.opts.maxSeries) this.series.delete(this.series.keys().next().value as string);
    this.enqueue(s);
  }

  /** Resolves when every queued Event has been sent (or given up on). */
  flush(): Promise<void> {
    if (this.queue.length === 0 && this.sending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Series remembered (for tests and memory accounting). */
  get size(): number {
    return this.series.size;
  }

  private enqueue(s: Series): void {
    if (s.queued) return;
    if (this.queue.length >= this.opts.queueSize) {
      this.stats.dropped++;
      return;
    }
    s.queued = true;
    this.queue.push(s);
    this.pump();
  }

  private pump(): void {
    while (this.sending < this.opts.concurrency && this.queue.length > 0) {
      const s = this.queue.shift() as Series;
      s.queued = false;
      this.sending++;
      void this.send(s).finally(() => {
        this.sending--;
        this.pump();
        if (this.sending === 0 && this.queue.length === 0) for (const r of this.idle.splice(0)) r();
      });
    }
  }

  private async send(s: Series): Promise<void> {
    const count = s.count;
    const series = count > 1 ? { count, lastObservedTime: microTime(s.lastAt) } : undefined;
    try {
      if (s.name !== undefined && series) {
        try {
          await this.client.mergePatch(objectPath(EVENT, s.ns, s.name), { series });
          this.stats.patched++;
          return;
        } catch (error) {
          // The first Event expired (Events live an hour by default): a new one carries the series on.
          if (!isNotFound(error)) throw error;
          const regarding = (s.body.regarding as { name: string }).name;
          s.body = { ...s.body, metadata: { name: eventName(regarding, s.lastAt), namespace: s.ns } };
        }
      }
      const body: Record<string, unknown> = { ...s.body, ...(series && { series }) };
      const created = (await this.client.create(collectionPath(EVENT, s.ns), body)) as { metadata?: { name?: string } };
      this.stats.created++;
      s.name = created?.metadata?.name ?? (s.body.metadata as { name: string }).name;
    } catch (error) {
      this.stats.failed++;
      const body = s.body as { reason: string; regarding: { name: string } };
      this.log.warn(
        { err: error, reason: body.reason, object: `${s.ns}/${body.regarding.name}` },
        'could not record event',
      );
    }
  }
}
