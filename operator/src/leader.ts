// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the leader renews the Lease every
// retry period; others watch its record and take over only when it has not changed for a whole lease duration.
// Expiry is judged by this process's monotonic clock from when it last saw the record change, never by the
// timestamps in the Lease (clocks of different machines disagree).
//
// Fencing: the leader's own lease counts from when it SENT its last successful renewal, and lasts the renew deadline
// (shorter than the lease duration others wait). Every Lease request has a timeout shorter than the renew deadline,
// and when the deadline passes without a renewal the leader steps down at once, by a timer, even while a request
// still hangs; isLeader() is false from that instant and the reconciler checks it before each write. Another replica
// can take over only a whole lease duration after it saw the last renewal, which is later than that.

import type { Logger } from 'pino';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from './kube/client.ts';
import { collectionPath, LEASE, objectPath } from './kube/resources.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** What to do with a Lease record: pure, from the record, who we are, and when we last saw the record change. */
export function leaseDecision(
  spec: LeaseSpec | undefined,
  identity: string,
  observedAtMs: number,
  nowMs: number,
): 'renew' | 'acquire' | 'wait' {
  const holder = spec?.holderIdentity;
  if (holder === identity) return 'renew';
  if (!holder) return 'acquire';
  const durationMs = (spec?.leaseDurationSeconds ?? 15) * 1000;
  return nowMs - observedAtMs >= durationMs ? 'acquire' : 'wait';
}

/** metav1.MicroTime. */
const microNow = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export interface LeaderElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Timeout of each Lease request; must be shorter than the renew deadline. */
  requestTimeoutMs?: number;
  clock?: () => number;
}

export class LeaderElector {
  private readonly opts: Required<Omit<LeaderElectorOptions, 'clock'>> & { clock: () => number };
  private observedRecord = '';
  private observedAt = 0;
  private leading = false;
  /** Until when (this process's clock) the current leadership holds without another renewal. */
  private validUntil = 0;
  private stopped = false;
  private wake?: () => void;
  private lostTimer?: NodeJS.Timeout;
  private onLost?: () => void;

  constructor(opts: LeaderElectorOptions) {
    this.opts = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      requestTimeoutMs: Math.min(5_000, (opts.renewDeadlineMs ?? 10_000) / 2),
      clock: () => performance.now(),
      ...opts,
    };
    if (this.opts.renewDeadlineMs >= this.opts.leaseDurationMs)
      throw new Error('the renew deadline must be shorter than the lease duration');
  }

  /** True while leading and the last renewal is recent enough that no other replica can have taken over. */
  isLeader(): boolean {
    return this.leading && this.opts.clock() < this.validUntil;
  }

  /**
   * Campaigns until leading, calls `onStarted`, renews until it can no longer (then calls `onStopped` and returns
   * 'lost') or until stop() is called (returns 'stopped', after releasing the Lease).
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<'lost' | 'stopped'> {
    const { retryPeriodMs, clock, log } = this.opts;
    while (!this.stopped && !this.leading) {
      const sent = clock();
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.renewed(sent);
        log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became leader');
        onStarted();
        break;
      }
      await this.sleep(retryPeriodMs * (1 + Math.random() * 0.2));
    }
    const lost = new Promise<'lost'>((resolve) => {
      this.onLost = () => resolve('lost');
    });
    const renewing = (async (): Promise<'stopped'> => {
      while (!this.stopped && this.leading) {
        await this.sleep(retryPeriodMs);
        if (this.stopped || !this.leading) break;
        const sent = clock();
        if (this.leading && (await this.tryAcquireOrRenew())) this.renewed(sent);
      }
      return 'stopped';
    })();
    const outcome = this.leading || this.stopped ? await Promise.race([lost, renewing]) : 'stopped';
    clearTimeout(this.lostTimer);
    if (outcome === 'lost') {
      onStopped();
      return 'lost';
    }
    await this.release();
    return 'stopped';
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** A renewal sent at `sentAt` succeeded: leadership holds until sentAt + renew deadline. */
  private renewed(sentAt: number): void {
    this.validUntil = Math.max(this.validUntil, sentAt + this.opts.renewDeadlineMs);
    this.armStepDown();
  }

  /**
   * Steps down when the clock reaches validUntil. Timers wake by libuv's cached loop time, which can run ahead of
   * the clock: a wake-up before the deadline re-arms for the rest instead of giving up.
   */
  private armStepDown(): void {
    const { clock, log } = this.opts;
    clearTimeout(this.lostTimer);
    this.lostTimer = setTimeout(
      () => {
        if (!this.leading) return;
        if (clock() < this.validUntil) return this.armStepDown();
        this.leading = false;
        log.error({ lease: this.opts.name }, 'lost leadership: could not renew the lease in time');
        this.onLost?.();
      },
      Math.max(0, this.validUntil - clock()),
    );
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity, leaseDurationMs, clock, log } = this.opts;
    const path = objectPath(LEASE, namespace, name);
    const fresh: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.round(leaseDurationMs / 1000),
      acquireTime: microNow(),
      renewTime: microNow(),
      leaseTransitions: 0,
    };
    const timeout = () => ({ signal: AbortSignal.timeout(this.opts.requestTimeoutMs) });
    try {
      let lease: Lease;
      try {
        lease = await client.request<Lease>('GET', path, timeout());
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await client.request('POST', collectionPath(LEASE, namespace), {
          ...timeout(),
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: fresh,
          },
        });
        this.observe(fresh);
        return true;
      }
      this.observe(lease.spec);
      const decision = leaseDecision(lease.spec, identity, this.observedAt, clock());
      if (decision === 'wait') return false;
      const spec: LeaseSpec =
        decision === 'renew'
          ? { ...lease.spec, renewTime: microNow(), leaseDurationSeconds: fresh.leaseDurationSeconds }
          : { ...fresh, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 };
      await client.request('PUT', path, { ...timeout(), body: { ...lease, spec } });
      this.observe(spec);
      return true;
    } catch (error) {
      if (!isConflict(error) && !isAlreadyExists(error)) log.warn({ err: error }, 'lease update failed');
      return false;
    }
  }

  private observe(spec: LeaseSpec | undefined): void {
    const record = JSON.stringify([spec?.holderIdentity, spec?.renewTime, spec?.leaseTransitions]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = this.opts.clock();
    }
  }

  /** Gives the Lease up so that another replica takes over at once instead of after a lease duration. */
  private async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    const path = objectPath(LEASE, this.opts.namespace, this.opts.name);
    try {
      const lease = await this.opts.client.get<Lease>(path);
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      const { holderIdentity: _, ...rest } = lease.spec;
      await this.opts.client.replace(path, {
        ...lease,
        spec: { ...rest, leaseDurationSeconds: 1, renewTime: microNow() },
      });
    } catch (error) {
      this.opts.log.warn({ err: error }, 'could not release the lease');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
