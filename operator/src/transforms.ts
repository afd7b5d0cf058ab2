// What the caches keep of the children they hold, like controller-runtime's cache transforms
// (cache.Options.ByObject[].Transform): the reconcilers read a Job's metadata, status and `spec.suspend`/
// `spec.activeDeadlineSeconds`, and a pod's metadata and status (reconcile/observe.ts's JobObject and PodObject);
// a Job's pod template and a pod's spec (containers, env, volumes) are most of their size and nothing here reads
// them. Applied to every object a cache takes in, watch events and the operator's own writes alike.

import type { WatchedKind } from './informers.ts';
import type { KubeObject } from './kube/resources.ts';
import type { JobObject } from './reconcile/observe.ts';

export type Transform = (obj: KubeObject) => KubeObject;

function job(obj: KubeObject): KubeObject {
  const { spec, ...rest } = obj as JobObject & { spec?: Record<string, unknown> };
  if (!spec) return rest;
  const kept: JobObject['spec'] = {};
  if (spec.suspend !== undefined) kept.suspend = spec.suspend as boolean;
  if (spec.activeDeadlineSeconds !== undefined) kept.activeDeadlineSeconds = spec.activeDeadlineSeconds as number;
  return { ...rest, spec: kept } as KubeObject;
}

function pod(obj: KubeObject): KubeObject {
  const { spec: _, ...rest } = obj as KubeObject & { spec?: unknown };
  return rest;
}

export const TRANSFORMS: Partial<Record<WatchedKind, Transform>> = { Job: job, Pod: pod };
