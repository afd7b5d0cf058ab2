// The reflector's cache of one kind: the newest version seen of each object, keyed by `namespace/name`.
// Updates older than what is cached (by resourceVersion) are ignored, so duplicate and out-of-order events
// (a relist racing a watch, a watch replaying what a list already returned) never move an object backwards.

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

export class Store<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  /** resourceVersion at deletion, so a late event for a deleted object does not bring it back. */
  private readonly tombstones = new Map<string, string>();

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  get size(): number {
    return this.objects.size;
  }

  /** Applies an added or modified object; returns the change, or undefined for a duplicate or stale version. */
  upsert(object: T): StoreChange<T> | undefined {
    const key = keyOf(object);
    const rv = object.metadata.resourceVersion;
    const old = this.objects.get(key);
    if (old) {
      const oldRv = old.metadata.resourceVersion;
      if (rv === oldRv || isOlder(rv, oldRv)) return undefined;
      this.objects.set(key, object);
      return { type: 'updated', object, old };
    }
    const deletedAt = this.tombstones.get(key);
    if (deletedAt !== undefined && !isOlder(deletedAt, rv)) return undefined;
    this.tombstones.delete(key);
    this.objects.set(key, object);
    return { type: 'added', object };
  }

  delete(object: T): StoreChange<T> | undefined {
    const key = keyOf(object);
    const old = this.objects.get(key);
    if (!old || isOlder(object.metadata.resourceVersion, old.metadata.resourceVersion)) return undefined;
    this.objects.delete(key);
    if (object.metadata.resourceVersion) this.tombstones.set(key, object.metadata.resourceVersion);
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
        this.objects.delete(key);
        changes.push({ type: 'deleted', object: old });
      }
    }
    return changes;
  }
}
