// The kinds the operator reads and writes, and their REST paths.

import type { ObjectMeta as ApiObjectMeta, OwnerReference } from '@lota/api/types';

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const LOTA_ADAPTATION: ResourceType = {
  group: 'lota.dev',
  version: 'v1alpha1',
  plural: 'lotaadaptations',
  kind: 'LotaAdaptation',
};
export const TICKET_MERGE: ResourceType = {
  group: 'lota.dev',
  version: 'v1alpha1',
  plural: 'ticketmerges',
  kind: 'TicketMerge',
};
export const JOB: ResourceType = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' };
export const POD: ResourceType = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };
export const EVENT: ResourceType = { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event' };
export const LEASE: ResourceType = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' };

export function apiVersion(rt: ResourceType): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

/** The collection path, namespaced or (namespace undefined) across all namespaces. */
export function collectionPath(rt: ResourceType, namespace?: string): string {
  const base = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${rt.plural}` : `${base}/${rt.plural}`;
}

export function objectPath(rt: ResourceType, namespace: string, name: string, subresource?: string): string {
  const path = `${collectionPath(rt, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

/** The minimal shape of any object: what caches, keys and owner lookups need. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export type { OwnerReference };

/** Objects the operator handles always have a name (the API's ObjectMeta leaves it optional for generateName). */
export type ObjectMeta = ApiObjectMeta & { name: string };

/** Cache and work-queue key: `namespace/name`. */
export function keyOf(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
