// Polls the progress endpoint of running trainers (GET http://<podIP>:<port>/progress, docs/trainer-contract.md) at
// a bounded rate: each pod at most once per interval, at most `maxInFlight` requests at a time, each with a
// timeout. Reconciles read the latest answer from here and never wait on the network. A reading equal to the last
// one (same step, loss, …) keeps the last one's updateTime and requeues nothing, so an unchanged trainer causes no
// status write; state of pods that are gone (forget()) or no longer asked about is dropped.

import { isDeepStrictEqual } from 'node:util';
import { parseProgress } from '@lota/api/progress';
import type { Progress } from '@lota/api/trainer-contract';

export interface ProgressPollerOptions {
  intervalMs?: number;
  maxInFlight?: number;
  timeoutMs?: number;
  port?: number;
  /** Called when a new reading arrives, with the key the caller gave (to requeue the owner). */
  onUpdate?: (key: string) => void;
  onOutcome?: (outcome: 'ok' | 'error') => void;
  fetch?: typeof fetch;
}

/** A reading, with when it was taken (status.progress.updateTime). */
export type ProgressReading = Progress & { updateTime: string };

interface Entry {
  progress?: ProgressReading;
  fetchedAt: number;
  /** When a reconcile last asked for this pod. */
  askedAt: number;
  inFlight: boolean;
}

/** Entries nobody asked about for this many intervals are dropped. */
const STALE_INTERVALS = 3;

export class ProgressPoller {
  private readonly entries = new Map<string, Entry>();
  private inFlight = 0;
  private sweptAt = performance.now();
  private readonly opts: Required<Omit<ProgressPollerOptions, 'onUpdate' | 'onOutcome'>> &
    Pick<ProgressPollerOptions, 'onUpdate' | 'onOutcome'>;

  constructor(opts: ProgressPollerOptions = {}) {
    this.opts = {
      intervalMs: opts.intervalMs ?? 10_000,
      maxInFlight: opts.maxInFlight ?? 4,
      timeoutMs: opts.timeoutMs ?? 2_000,
      port: opts.port ?? 8080,
      fetch: opts.fetch ?? fetch,
      onUpdate: opts.onUpdate,
      onOutcome: opts.onOutcome,
    };
  }

  /** How often each pod is read at most. */
  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /** The latest reading of the pod `podUid` at `podIp`; starts a new read if the last one is older than the interval. */
  latest(podUid: string, podIp: string | undefined, key: string): ProgressReading | undefined {
    const now = performance.now();
    this.sweep(now);
    let entry = this.entries.get(podUid);
    if (!entry) {
      entry = { fetchedAt: Number.NEGATIVE_INFINITY, askedAt: now, inFlight: false };
      this.entries.set(podUid, entry);
    }
    entry.askedAt = now;
    const due = now - entry.fetchedAt >= this.opts.intervalMs;
    if (podIp && due && !entry.inFlight && this.inFlight < this.opts.maxInFlight) void this.poll(entry, podIp, key);
    return entry.progress;
  }

  forget(podUid: string): void {
    this.entries.delete(podUid);
  }

  /** Pods with progress state (for tests and memory accounting). */
  get size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    const stale = Math.max(this.opts.intervalMs, 1000) * STALE_INTERVALS;
    if (now - this.sweptAt < stale) return;
    this.sweptAt = now;
    for (const [uid, e] of this.entries) if (!e.inFlight && now - e.askedAt > stale) this.entries.delete(uid);
  }

  private async poll(entry: Entry, podIp: string, key: string): Promise<void> {
    entry.inFlight = true;
    this.inFlight++;
    try {
      const host = podIp.includes(':') ? `[${podIp}]` : podIp;
      const res = await this.opts.fetch(`http://${host}:${this.opts.port}/progress`, {
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      // The trainer image is the user's: its answer is validated and clamped before it reaches status.
      const body = parseProgress(await res.json());
      if (!body) throw new Error('not a progress object');
      const { updateTime: _previous, ...last } = entry.progress ?? {};
      this.opts.onOutcome?.('ok');
      if (!entry.progress || !isDeepStrictEqual(last, body)) {
        entry.progress = { ...body, updateTime: `${new Date().toISOString().slice(0, 19)}Z` };
        this.opts.onUpdate?.(key);
      }
    } catch {
      this.opts.onOutcome?.('error');
    } finally {
      entry.fetchedAt = performance.now();
      entry.inFlight = false;
      this.inFlight--;
    }
  }
}
