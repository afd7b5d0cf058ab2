// The reflector's cache of one kind: the newest version seen of each object, keyed by `namespace/name`.
// Updates older than what is cached (by resourceVersion) are ignored, so duplicate and out-of-order events
// (a relist racing a watch, a watch replaying what a list already returned) never move an object backwards.
// Indexes (client-go's Indexers) answer "which objects have this value" without a scan: pods by owner, dependants by
// the resource they wait on. Tombstones of deleted objects expire, so the store grows with what exists, not with
// history.

import { type KubeObject, keyOf } from '../kube/resources.ts';

export type StoreChange<T> =
  | { type: 'added'; object: T }
  | { type: 'updated'; object: T; old: T }
  | { type: 'deleted'; object: T };

/**
 * Orders two resourceVersions. They are opaque to clients by contract, but every API server backed by etcd issues
 * increasing integers; anything else is treated as "not older" so that the newest event still wins.
 */
export function isOlder(candidate: string | undefined, than: string | undefined): boolean {
  if (!candidate || !than || !/^\d+$/.test(candidate) || !/^\d+$/.test(than)) return false;
  return BigInt(candidate) < BigInt(than);
}

/** Index functions: the values an object is found under (an empty list: not indexed). */
export type Indexers<T> = Record<string, (obj: T) => string[]>;

export interface StoreOptions<T> {
  indexers?: Indexers<T>;
  /** Applied to every object before it is cached (what to keep of it); managedFields are dropped in any case. */
  transform?: (obj: T) => T;
  /** How long a deleted object's resourceVersion is remembered to refuse late events (default 5 minutes). */
  tombstoneTtlMs?: number;
  now?: () => number;
}

export class Store<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  /**
   * resourceVersion at deletion, so a late event for a deleted object does not bring it back. In deletion order,
   * so that expired ones are dropped from the front.
   */
  private readonly tombstones = new Map<string, { rv: string; at: number }>();
  private readonly indexers: Indexers<T>;
  /** index name → value → keys. */
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly tombstoneTtlMs: number;
  private readonly now: () => number;
  private readonly transform: ((obj: T) => T) | undefined;

  constructor(opts: StoreOptions<T> = {}) {
    this.indexers = opts.indexers ?? {};
    this.transform = opts.transform;
    for (const name of Object.keys(this.indexers)) this.indices.set(name, new Map());
    this.tombstoneTtlMs = opts.tombstoneTtlMs ?? 5 * 60_000;
    this.now = opts.now ?? (() => performance.now());
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  /** The objects indexed under `value` by the index `name`. */
  byIndex(name: string, value: string): T[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`store has no index ${JSON.stringify(name)}`);
    const keys = index.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const key of keys) {
      const obj = this.objects.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  private index(key: string, obj: T | undefined, old: T | undefined): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indices.get(name) as Map<string, Set<string>>;
      const before = old ? fn(old) : [];
      const after = obj ? fn(obj) : [];
      for (const v of before) {
        if (after.includes(v)) continue;
        const keys = index.get(v);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(v);
      }
      for (const v of after) {
        let keys = index.get(v);
        if (!keys) {
          keys = new Set();
          index.set(v, keys);
        }
        keys.add(key);
      }
    }
  }

  private set(key: string, obj: T, old: T | undefined): void {
    this.objects.set(key, obj);
    this.index(key, obj, old);
  }

  private remove(key: string, old: T): void {
    this.objects.delete(key);
    this.index(key, undefined, old);
  }

  private pruneTombstones(): void {
    const cutoff = this.now() - this.tombstoneTtlMs;
    for (const [key, { at }] of this.tombstones) {
      if (at > cutoff) break;
      this.tombstones.delete(key);
    }
  }

  get size(): number {
    return this.objects.size;
  }

  /** Applies an added or modified object; returns the change, or undefined for a duplicate or stale version. */
  upsert(received: T): StoreChange<T> | undefined {
    // Server-side apply's bookkeeping is often the biggest part of an object and nothing here reads it
    // (controller-runtime's caches drop it too). A status PUT without it leaves the server's copy as it is.
    const meta = received.metadata as { managedFields?: unknown };
    if (meta.managedFields) delete meta.managedFields;
    const object = this.transform ? this.transform(received) : received;
    const key = keyOf(object);
    const rv = object.metadata.resourceVersion;
    const old = this.objects.get(key);
    if (old) {
      const oldRv = old.metadata.resourceVersion;
      if (rv === oldRv || isOlder(rv, oldRv)) return undefined;
      this.set(key, object, old);
      return { type: 'updated', object, old };
    }
    this.pruneTombstones();
    const deletedAt = this.tombstones.get(key)?.rv;
    if (deletedAt !== undefined && !isOlder(deletedAt, rv)) return undefined;
    this.tombstones.delete(key);
    this.set(key, object, undefined);
    return { type: 'added', object };
  }

  delete(object: T): StoreChange<T> | undefined {
    const key = keyOf(object);
    const old = this.objects.get(key);
    if (!old || isOlder(object.metadata.resourceVersion, old.metadata.resourceVersion)) return undefined;
    this.remove(key, old);
    this.pruneTombstones();
    if (object.metadata.resourceVersion) {
      this.tombstones.delete(key);
      this.tombstones.set(key, { rv: object.metadata.resourceVersion, at: this.now() });
    }
    return { type: 'deleted', object: old };
  }

  /** Replaces the contents with a fresh list; returns the changes that brings (deletions for what is gone). */
  replace(items: T[]): StoreChange<T>[] {
    const changes: StoreChange<T>[] = [];
    const seen = new Set<string>();
    this.tombstones.clear();
    for (const item of items) {
      seen.add(keyOf(item));
      const change = this.upsert(item);
      if (change) changes.push(change);
    }
    for (const [key, old] of this.objects) {
      if (!seen.has(key)) {
        this.remove(key, old);
        changes.push({ type: 'deleted', object: old });
      }
    }
    return changes;
  }
}
