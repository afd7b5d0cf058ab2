// One reflector per watched kind and namespace (or one cluster-wide per kind), reading from the API server, and a
// single view over their caches for the reconcilers.

import type { Logger } from 'pino';
import { BY_NAMESPACE, INDEXERS } from './indexes.ts';
import type { KubeClient } from './kube/client.ts';
import {
  collectionPath,
  JOB,
  type KubeObject,
  LOTA_ADAPTATION,
  POD,
  type ResourceType,
  TICKET_MERGE,
} from './kube/resources.ts';
import { MANAGED_SELECTOR } from './reconcile/names.ts';
import { TRANSFORMS } from './transforms.ts';
import { type ListWatchSource, Reflector, type WatchEvent } from './watch/reflector.ts';
import type { StoreChange } from './watch/store.ts';

export type WatchedKind = 'LotaAdaptation' | 'TicketMerge' | 'Job' | 'Pod';

const WATCHED: Record<WatchedKind, { rt: ResourceType; labelSelector?: string }> = {
  LotaAdaptation: { rt: LOTA_ADAPTATION },
  TicketMerge: { rt: TICKET_MERGE },
  // Only the children this operator made.
  Job: { rt: JOB, labelSelector: MANAGED_SELECTOR },
  Pod: { rt: POD, labelSelector: MANAGED_SELECTOR },
};

/** A ListWatchSource over the API server: paged lists, and watches with bookmarks and a server-side timeout. */
export function apiSource<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  namespace: string | undefined,
  labelSelector?: string,
): ListWatchSource<T> {
  const path = collectionPath(rt, namespace);
  return {
    list: () => client.list<T>(path, { labelSelector }),
    watch: (resourceVersion, onEvent, signal) =>
      client.watch(
        path,
        {
          resourceVersion,
          allowWatchBookmarks: true,
          // Like client-go: end each watch after 5–10 minutes so that load spreads over API servers.
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
          labelSelector,
        },
        (e) => onEvent(e as WatchEvent<T>),
        signal,
      ),
  };
}

export interface InformerOptions {
  client: KubeClient;
  /** Namespaces to watch; empty = all. */
  namespaces: string[];
  log: Logger;
  onChange: (kind: WatchedKind, change: StoreChange<KubeObject>) => void;
  onRecovery?: (kind: WatchedKind, cause: 'gone' | 'watchdog' | 'error') => void;
}

export class Informers {
  private readonly reflectors = new Map<WatchedKind, Reflector<KubeObject>[]>();
  /** The namespace each reflector lists (undefined: all namespaces). */
  private readonly scopeOf = new Map<Reflector<KubeObject>, string | undefined>();
  private readonly scopes: (string | undefined)[];
  private readonly onChange: InformerOptions['onChange'];

  constructor(opts: InformerOptions) {
    this.onChange = opts.onChange;
    const scopes = opts.namespaces.length > 0 ? opts.namespaces : [undefined];
    this.scopes = scopes;
    for (const kind of Object.keys(WATCHED) as WatchedKind[]) {
      const { rt, labelSelector } = WATCHED[kind];
      this.reflectors.set(
        kind,
        scopes.map((ns) => {
          const name = `${rt.plural}${ns ? `@${ns}` : ''}`;
          const reflector: Reflector<KubeObject> = new Reflector(
            name,
            apiSource(opts.client, rt, ns, labelSelector),
            (change) => opts.onChange(kind, change),
            {
              onError: (err, stage) => {
                opts.log.warn({ err, reflector: name, stage }, 'watch interrupted; retrying');
                opts.onRecovery?.(kind, 'error');
              },
              onRestart: (cause) => opts.onRecovery?.(kind, cause),
              indexers: INDEXERS[kind],
              ...(TRANSFORMS[kind] && { transform: TRANSFORMS[kind] }),
              ...(ns !== undefined && { scope: ns }),
            },
          );
          this.scopeOf.set(reflector, ns);
          return reflector;
        }),
      );
    }
  }

  start(): void {
    for (const list of this.reflectors.values()) for (const r of list) r.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.reflectors.values()].flat().map((r) => r.stop()));
  }

  /**
   * Whether the caches have listed: those of `namespace` (each namespace syncs on its own, so that one the operator
   * cannot list stops no other), or, without an argument, all of them.
   */
  hasSynced(namespace?: string): boolean {
    return [...this.reflectors.values()]
      .flat()
      .filter((r) => namespace === undefined || this.scopeOf.get(r) === undefined || this.scopeOf.get(r) === namespace)
      .every((r) => r.hasSynced());
  }

  /** Watched namespaces whose caches have not listed yet ('*' for a cluster-wide watch). */
  unsyncedNamespaces(): string[] {
    return this.scopes.filter((ns) => !this.hasSynced(ns ?? '')).map((ns) => ns ?? '*');
  }

  get<T extends KubeObject>(kind: WatchedKind, key: string): T | undefined {
    for (const r of this.reflectors.get(kind) ?? []) {
      const obj = r.store.get(key);
      if (obj) return obj as T;
    }
    return undefined;
  }

  list<T extends KubeObject>(kind: WatchedKind, namespace?: string): T[] {
    if (namespace !== undefined) return this.byIndex<T>(kind, BY_NAMESPACE, namespace);
    return (this.reflectors.get(kind) ?? []).flatMap((r) => r.store.list()) as T[];
  }

  /** The cached objects of `kind` under `value` in the index `index` (see indexes.ts); no scan. */
  byIndex<T extends KubeObject>(kind: WatchedKind, index: string, value: string): T[] {
    const lists = this.reflectors.get(kind) ?? [];
    if (lists.length === 1) return (lists[0] as Reflector<KubeObject>).store.byIndex(index, value) as T[];
    return lists.flatMap((r) => r.store.byIndex(index, value)) as T[];
  }

  /**
   * Puts an object this process just wrote (the API server's answer) into the cache, as client-go's mutation cache
   * does, so that a reconcile right after the write does not act on the version before it (a 409, or a second
   * create). The watch event of the same version is then a duplicate; a newer one wins as usual.
   */
  assume(kind: WatchedKind, obj: KubeObject): void {
    const ns = obj.metadata.namespace;
    const reflector = (this.reflectors.get(kind) ?? []).find((r) => r.scope === undefined || r.scope === ns);
    const change = reflector?.store.upsert(obj);
    if (change) this.onChange(kind, change);
  }

  stats(): Record<string, Reflector<KubeObject>['stats']> {
    return Object.fromEntries([...this.reflectors.values()].flat().map((r) => [r.name, r.stats]));
  }
}
