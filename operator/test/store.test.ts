import { describe, expect, it } from 'vitest';
import { BY_OWNER_UID, BY_WAITS_ON, INDEXERS } from '../src/indexes.ts';
import type { KubeObject } from '../src/kube/resources.ts';
import { TRANSFORMS } from '../src/transforms.ts';
import { Store } from '../src/watch/store.ts';

const pod = (name: string, rv: string, owner?: string): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, ...(owner && { labels: { 'lota.dev/owner-uid': owner } }) },
});

describe('Store indexes and tombstones', () => {
  it('finds objects by index and follows updates, deletes and relists', () => {
    const store = new Store<KubeObject>({ indexers: INDEXERS.Pod });
    store.upsert(pod('a', '1', 'u1'));
    store.upsert(pod('b', '2', 'u1'));
    store.upsert(pod('c', '3', 'u2'));
    const names = (uid: string) =>
      store
        .byIndex(BY_OWNER_UID, uid)
        .map((p) => p.metadata.name)
        .sort();
    expect(names('u1')).toEqual(['a', 'b']);
    store.upsert(pod('b', '4', 'u2'));
    expect(names('u1')).toEqual(['a']);
    expect(names('u2')).toEqual(['b', 'c']);
    store.delete(pod('c', '5', 'u2'));
    expect(names('u2')).toEqual(['b']);
    store.replace([pod('a', '6')]);
    expect(names('u1')).toEqual([]);
    expect(names('u2')).toEqual([]);
    expect(() => store.byIndex('nope', 'x')).toThrow(/no index "nope"/);
  });

  it('indexes dependants by the adaptations they wait on, whatever the spec looks like', () => {
    const store = new Store<KubeObject>({ indexers: INDEXERS.TicketMerge });
    const merge = (name: string, tickets: unknown) => ({
      metadata: { name, namespace: 'ns', resourceVersion: '1' },
      spec: { tickets },
    });
    store.upsert(merge('m1', [{ adaptationRef: { name: 'a' } }, { uri: 'pvc://x' }, null]));
    store.upsert(merge('m2', 'not a list'));
    expect(store.byIndex(BY_WAITS_ON, 'ns/a').map((m) => m.metadata.name)).toEqual(['m1']);
    expect(store.byIndex(BY_WAITS_ON, 'other/a')).toEqual([]);
  });

  it('drops managedFields, which nothing reads, to keep the cache small', () => {
    const store = new Store<KubeObject>();
    const withFields = {
      metadata: { name: 'a', namespace: 'ns', resourceVersion: '1', managedFields: [{ manager: 'x' }] },
    };
    store.upsert(withFields as KubeObject);
    expect(store.get('ns/a')?.metadata).toEqual({ name: 'a', namespace: 'ns', resourceVersion: '1' });
  });

  it("keeps what the reconcilers read of Jobs and pods, not a Job's pod template or a pod's spec", () => {
    const jobs = new Store<KubeObject>({ indexers: INDEXERS.Job, transform: TRANSFORMS.Job });
    const metadata = { name: 'j', namespace: 'ns', resourceVersion: '1', labels: { 'lota.dev/owner-uid': 'u1' } };
    const status = { active: 1, conditions: [{ type: 'Complete', status: 'False' }] };
    jobs.upsert({
      metadata,
      spec: { suspend: true, activeDeadlineSeconds: 60, backoffLimit: 2, template: { spec: { containers: [] } } },
      status,
    } as KubeObject);
    expect(jobs.byIndex(BY_OWNER_UID, 'u1')).toEqual([
      { metadata, spec: { suspend: true, activeDeadlineSeconds: 60 }, status },
    ]);
    const pods = new Store<KubeObject>({ indexers: INDEXERS.Pod, transform: TRANSFORMS.Pod });
    const podStatus = { phase: 'Running', podIP: '10.0.0.1' };
    pods.upsert({ metadata, spec: { containers: [{ name: 'trainer' }] }, status: podStatus } as KubeObject);
    expect(pods.get('ns/j')).toEqual({ metadata, status: podStatus });
  });

  it('refuses a late event for a deleted object, and forgets the tombstone after its time', () => {
    let now = 0;
    const store = new Store<KubeObject>({ tombstoneTtlMs: 1000, now: () => now });
    store.upsert(pod('a', '10'));
    store.delete(pod('a', '11'));
    expect(store.upsert(pod('a', '10'))).toBeUndefined();
    expect(store.tombstoneCount).toBe(1);
    now = 2000;
    store.upsert(pod('b', '12'));
    store.delete(pod('b', '13'));
    // a's tombstone expired; only b's is left.
    expect(store.tombstoneCount).toBe(1);
  });
});
