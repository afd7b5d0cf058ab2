// A reflector keeps a Store in step with the API server for one kind: list, then watch from the list's
// resourceVersion with bookmarks; on 410 Gone (the version is too old) list again; when the watch goes silent for
// longer than the watchdog allows, drop it and watch again; after errors, back off exponentially with jitter.
// (@kubernetes/client-node's informer stops for good on a non-410 error; this one never stops until told to.)

import { isGone } from '../kube/client.ts';
import type { KubeObject } from '../kube/resources.ts';
import { type Indexers, Store, type StoreChange } from './store.ts';

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T }
  | { type: 'ERROR'; object: { code?: number; reason?: string; message?: string } };

/** Where a reflector reads from: the API server in production, a scripted source in unit tests. */
export interface ListWatchSource<T> {
  list(): Promise<{ items: T[]; resourceVersion: string }>;
  /** Streams events from `resourceVersion` until the stream ends (resolves) or fails (rejects). */
  watch(resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
}

export interface ReflectorOptions {
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. */
  watchdogMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called for errors the reflector recovers from (for logs and metrics). */
  onError?: (error: unknown, stage: 'list' | 'watch') => void;
  /** Called when the reflector relists after 410 Gone or drops a silent watch. */
  onRestart?: (cause: 'gone' | 'watchdog') => void;
  /** Indexes of the store (see Store). */
  indexers?: Indexers<KubeObject>;
  /** What the store keeps of each object (see Store). */
  transform?: (obj: KubeObject) => KubeObject;
  /** The namespace this reflector watches (undefined: all). */
  scope?: string;
}

export class Reflector<T extends KubeObject> {
  readonly name: string;
  readonly store: Store<T>;
  readonly scope: string | undefined;
  private readonly source: ListWatchSource<T>;
  private readonly onChange: (change: StoreChange<T>) => void;
  private readonly opts: Required<
    Omit<ReflectorOptions, 'onError' | 'onRestart' | 'indexers' | 'transform' | 'scope'>
  > &
    Pick<ReflectorOptions, 'onError' | 'onRestart'>;
  private stopped = false;
  private synced = false;
  private current?: AbortController;
  private wake?: () => void;
  private loop?: Promise<void>;
  /** Counters for observability and tests. */
  readonly stats = { lists: 0, watches: 0, relistsOnGone: 0, watchdogRestarts: 0, errors: 0 };

  constructor(
    name: string,
    source: ListWatchSource<T>,
    onChange: (change: StoreChange<T>) => void,
    opts: ReflectorOptions = {},
  ) {
    this.name = name;
    this.source = source;
    this.onChange = onChange;
    this.store = new Store<T>({
      ...(opts.indexers && { indexers: opts.indexers }),
      ...(opts.transform && { transform: opts.transform as unknown as (obj: T) => T }),
    });
    this.scope = opts.scope;
    this.opts = {
      watchdogMs: opts.watchdogMs ?? 5 * 60_000,
      initialBackoffMs: opts.initialBackoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      onError: opts.onError,
      onRestart: opts.onRestart,
    };
  }

  /** True once the first list has been applied: the cache is complete from then on. */
  hasSynced(): boolean {
    return this.synced;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!this.stopped) {
      const stage = resourceVersion === undefined ? 'list' : 'watch';
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.list();
        } else {
          let delivered = false;
          const outcome = await this.watch(resourceVersion, (rv) => {
            resourceVersion = rv;
            delivered = true;
          });
          if (outcome === 'gone') {
            resourceVersion = undefined;
            continue;
          }
          // A watch that ends without delivering anything is retried with backoff, not in a tight loop.
          failures = delivered ? 0 : failures + 1;
          if (failures > 0) await this.sleep(this.backoff(failures));
          continue;
        }
        failures = 0;
      } catch (error) {
        if (this.stopped) break;
        if (isGone(error)) {
          this.stats.relistsOnGone++;
          this.opts.onRestart?.('gone');
          resourceVersion = undefined;
          continue;
        }
        this.stats.errors++;
        this.opts.onError?.(error, stage);
        failures++;
        await this.sleep(this.backoff(failures));
      }
    }
  }

  private async list(): Promise<string> {
    this.stats.lists++;
    const { items, resourceVersion } = await this.source.list();
    for (const change of this.store.replace(items)) this.onChange(change);
    this.synced = true;
    return resourceVersion;
  }

  /**
   * One watch. Resolves 'closed' when the server ends it or the watchdog drops it (watch again from the last
   * version), 'gone' on a 410 ERROR event (list again); rejects on transport errors.
   */
  private async watch(from: string, advance: (rv: string) => void): Promise<'closed' | 'gone'> {
    this.stats.watches++;
    const controller = new AbortController();
    this.current = controller;
    const result: { outcome: 'closed' | 'gone' } = { outcome: 'closed' };
    let silentTimer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(silentTimer);
      silentTimer = setTimeout(() => {
        this.stats.watchdogRestarts++;
        this.opts.onRestart?.('watchdog');
        controller.abort(new Error(`watch ${this.name} silent for ${this.opts.watchdogMs} ms`));
      }, this.opts.watchdogMs);
    };
    arm();
    const onEvent = (event: WatchEvent<T>) => {
      if (controller.signal.aborted) return;
      arm();
      if (event.type === 'ERROR') {
        if (event.object.code === 410) {
          this.stats.relistsOnGone++;
          this.opts.onRestart?.('gone');
          result.outcome = 'gone';
        } else {
          this.opts.onError?.(new Error(`watch ${this.name}: ${event.object.message ?? event.object.reason}`), 'watch');
        }
        controller.abort();
        return;
      }
      const rv = event.object.metadata.resourceVersion;
      if (event.type !== 'BOOKMARK') {
        const change = event.type === 'DELETED' ? this.store.delete(event.object) : this.store.upsert(event.object);
        if (change) this.onChange(change);
      }
      if (rv) advance(rv);
    };
    try {
      await this.source.watch(from, onEvent, controller.signal);
    } catch (error) {
      // Only this reflector aborts the signal (stop, watchdog, an ERROR event): those ends are not failures.
      if (!controller.signal.aborted) throw error;
    } finally {
      clearTimeout(silentTimer);
      this.current = undefined;
    }
    return result.outcome;
  }

  private backoff(failures: number): number {
    const base = Math.min(this.opts.maxBackoffMs, this.opts.initialBackoffMs * 2 ** (failures - 1));
    return base / 2 + (Math.random() * base) / 2;
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
