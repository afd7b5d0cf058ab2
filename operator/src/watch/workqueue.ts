// A per-key work queue with client-go's semantics: a key waits in the queue at most once (adds while it waits are
// merged); a key being processed is never handed to a second worker, and an add during processing queues it again
// once the worker is done; failed keys come back after a per-key exponential backoff (bounded overall by a token
// bucket); keys can be scheduled for later (requeue-after), the earliest schedule winning.

export interface WorkQueueMetrics {
  add(): void;
  depth(n: number): void;
  /** Seconds a key waited between being added and being handed to a worker. */
  queued(seconds: number): void;
  /** Seconds a worker spent on a key. */
  worked(seconds: number): void;
  retry(): void;
}

export interface RateLimit {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Overall limit on rate-limited requeues: tokens per second and burst. */
  qps: number;
  burst: number;
}

/** controller-runtime's default: 5 ms × 2^failures up to 1000 s, and 10 qps with a burst of 100 overall. */
export const DEFAULT_RATE_LIMIT: RateLimit = { baseDelayMs: 5, maxDelayMs: 1_000_000, qps: 10, burst: 100 };

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly scheduled = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly limit: RateLimit;
  private readonly metrics: WorkQueueMetrics | undefined;
  private tokens: number;
  private tokensAt = performance.now();
  private shuttingDown = false;

  constructor(opts: { rateLimit?: Partial<RateLimit>; metrics?: WorkQueueMetrics } = {}) {
    this.limit = { ...DEFAULT_RATE_LIMIT, ...opts.rateLimit };
    this.metrics = opts.metrics;
    this.tokens = this.limit.burst;
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics?.add();
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `ms`; an earlier pending schedule for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    // Node fires timers above 2³¹−1 ms at once; a longer wait is a reconcile then, which asks again.
    ms = Math.min(ms, 2 ** 31 - 1);
    const at = performance.now() + ms;
    const pending = this.scheduled.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.scheduled.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.scheduled.set(key, { at, timer });
  }

  /** Requeues a key that failed, after its backoff. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.metrics?.retry();
    this.addAfter(key, Math.max(this.itemDelay(n), this.bucketDelay()));
  }

  /** Clears a key's failure history (after it succeeded). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to work on; undefined once the queue is shut down and drained. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key as processed; if it was added meanwhile, it goes back into the queue. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics?.worked((performance.now() - started) / 1000);
    if (this.dirty.has(key)) this.push(key);
  }

  /** Seconds of work in progress that has not finished, and the longest-running one (for the workqueue gauges). */
  inFlight(): { unfinishedSeconds: number; longestSeconds: number } {
    const now = performance.now();
    let unfinished = 0;
    let longest = 0;
    for (const started of this.processing.values()) {
      const s = (now - started) / 1000;
      unfinished += s;
      longest = Math.max(longest, s);
    }
    return { unfinishedSeconds: unfinished, longestSeconds: longest };
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.scheduled.values()) clearTimeout(timer);
    this.scheduled.clear();
    for (const waiter of this.waiters.splice(0))
      waiter(this.queue.length > 0 ? this.take(this.queue.shift() as string) : undefined);
  }

  private push(key: string): void {
    this.addedAt.set(key, performance.now());
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(this.take(key));
    } else {
      this.queue.push(key);
      this.metrics?.depth(this.queue.length);
    }
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.set(key, performance.now());
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (added !== undefined) this.metrics?.queued((performance.now() - added) / 1000);
    this.metrics?.depth(this.queue.length);
    return key;
  }

  private itemDelay(failures: number): number {
    return Math.min(this.limit.maxDelayMs, this.limit.baseDelayMs * 2 ** failures);
  }

  /** Token bucket: 0 while tokens remain, else the wait until the next token. */
  private bucketDelay(): number {
    const now = performance.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.limit.qps);
    this.tokensAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.limit.qps) * 1000;
  }
}
