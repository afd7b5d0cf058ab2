// The cache indexes the operator looks things up by, instead of scanning whole caches on every reconcile or change:
// children (Jobs, Pods) by the UID of the resource that owns them, everything by namespace, and LotaAdaptations and
// TicketMerges by the LotaAdaptations they wait on (`namespace/name`: LoTTO's excludeTicketsOf, a merge's
// tickets[].adaptationRef).

import type { KubeObject } from './kube/resources.ts';
import { LABELS } from './reconcile/names.ts';
import type { Indexers } from './watch/store.ts';

export const BY_OWNER_UID = 'owner-uid';
export const BY_NAMESPACE = 'namespace';
export const BY_WAITS_ON = 'waits-on';

interface Dependant extends KubeObject {
  spec?: { lota?: { excludeTicketsOf?: unknown }; tickets?: unknown };
}

const byNamespace = (o: KubeObject) => [o.metadata.namespace ?? ''];

/** A child is found under the owner UID its label names (the operator sets it on Jobs and their pod templates). */
const byOwnerUid = (o: KubeObject) => {
  const uid = o.metadata.labels?.[LABELS.ownerUid];
  return uid ? [uid] : [];
};

/** `namespace/name` of every LotaAdaptation this resource waits on. Tolerates any spec shape (it is user input). */
export function waitsOn(o: Dependant): string[] {
  const ns = o.metadata.namespace ?? '';
  const names = new Set<string>();
  const exclude = o.spec?.lota?.excludeTicketsOf;
  if (Array.isArray(exclude)) for (const n of exclude) if (typeof n === 'string') names.add(n);
  const tickets = o.spec?.tickets;
  if (Array.isArray(tickets)) {
    for (const t of tickets) {
      const ref = (t as { adaptationRef?: { name?: unknown } } | null)?.adaptationRef?.name;
      if (typeof ref === 'string') names.add(ref);
    }
  }
  return [...names].map((n) => `${ns}/${n}`);
}

export const INDEXERS = {
  LotaAdaptation: { [BY_NAMESPACE]: byNamespace, [BY_WAITS_ON]: waitsOn },
  TicketMerge: { [BY_NAMESPACE]: byNamespace, [BY_WAITS_ON]: waitsOn },
  Job: { [BY_NAMESPACE]: byNamespace, [BY_OWNER_UID]: byOwnerUid },
  Pod: { [BY_NAMESPACE]: byNamespace, [BY_OWNER_UID]: byOwnerUid },
} satisfies Record<string, Indexers<KubeObject>>;
