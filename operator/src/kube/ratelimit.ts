// Client-side rate limit of requests to the API server, like client-go's `--kube-api-qps`/`--kube-api-burst`: a
// token bucket that holds up to `burst` tokens and refills at `qps` per second; each request takes one token, and
// callers wait in arrival order when the bucket is empty. Written here rather than taken from a library because the
// operator needs exactly this (FIFO waiters, an injectable clock for tests) and it is a few lines.

export interface TokenBucketOptions {
  /** Sustained requests per second; 0 or less disables the limit. */
  qps: number;
  /** Requests that may go at once after a quiet period (at least 1). */
  burst: number;
  /** Monotonic milliseconds (tests inject a fake clock). */
  now?: () => number;
  /** Schedules a wake-up (tests inject fake timers). */
  setTimer?: (fn: () => void, ms: number) => void;
}

export class TokenBucket {
  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => void;
  private tokens: number;
  private at: number;
  private readonly waiters: (() => void)[] = [];
  private timerArmed = false;

  constructor(opts: TokenBucketOptions) {
    this.qps = opts.qps;
    this.burst = Math.max(1, Math.floor(opts.burst));
    this.now = opts.now ?? (() => performance.now());
    this.setTimer =
      opts.setTimer ??
      ((fn, ms) => {
        setTimeout(fn, ms).unref();
      });
    this.tokens = this.burst;
    this.at = this.now();
  }

  get unlimited(): boolean {
    return !(this.qps > 0);
  }

  /** Requests waiting for a token. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes a token now if one is free (and nobody waits ahead); false otherwise. */
  tryTake(): boolean {
    if (this.unlimited) return true;
    this.refill();
    if (this.waiters.length > 0 || this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Resolves when the caller may send its request. */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.arm();
    });
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.qps);
    this.at = now;
  }

  private arm(): void {
    if (this.timerArmed || this.waiters.length === 0) return;
    this.refill();
    const ms = this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.qps) * 1000;
    this.timerArmed = true;
    this.setTimer(() => {
      this.timerArmed = false;
      this.release();
    }, ms);
  }

  private release(): void {
    this.refill();
    while (this.waiters.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      (this.waiters.shift() as () => void)();
    }
    this.arm();
  }
}
