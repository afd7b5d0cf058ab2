// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the leader renews the Lease every
// retry period; others watch its record and take over only when it has not changed for a whole lease duration.
// Expiry is judged by this process's monotonic clock from when it last saw the record change, never by the
// timestamps in the Lease (clocks of different machines disagree). A leader that cannot renew within the renew
// deadline steps down; the caller then exits, so two replicas never reconcile at once for long.

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
  clock?: () => number;
}

export class LeaderElector {
  private readonly opts: Required<Omit<LeaderElectorOptions, 'clock'>> & { clock: () => number };
  private observedRecord = '';
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private wake?: () => void;

  constructor(opts: LeaderElectorOptions) {
    this.opts = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      clock: () => performance.now(),
      ...opts,
    };
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until leading, calls `onStarted`, renews until it can no longer (then calls `onStopped` and returns
   * 'lost') or until stop() is called (returns 'stopped', after releasing the Lease).
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<'lost' | 'stopped'> {
    const { retryPeriodMs, renewDeadlineMs, clock, log } = this.opts;
    while (!this.stopped && !this.leading) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became leader');
        onStarted();
        break;
      }
      await this.sleep(retryPeriodMs * (1 + Math.random() * 0.2));
    }
    let lastRenew = clock();
    while (!this.stopped) {
      await this.sleep(retryPeriodMs);
      if (this.stopped) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = clock();
      } else if (clock() - lastRenew >= renewDeadlineMs) {
        this.leading = false;
        log.error({ lease: this.opts.name }, 'lost leadership: could not renew the lease in time');
        onStopped();
        return 'lost';
      }
    }
    await this.release();
    return 'stopped';
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
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
    try {
      let lease: Lease;
      try {
        lease = await client.get<Lease>(path);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await client.create(collectionPath(LEASE, namespace), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: fresh,
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
      await client.replace(path, { ...lease, spec });
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
