// What a resource's dependencies look like to the phase machine, for both executors (the operator reads the
// LotaAdaptations from its cache, `lota run` from the resources it runs): one observation per referenced
// LotaAdaptation, and the LoTTO cycle check. LoTTO chains must be acyclic: an adaptation that (transitively)
// excludes the tickets of one that excludes its own would wait forever.

import type { DependencyObservation, Plan } from './phase-machine.ts';

/** What an executor knows of a LotaAdaptation that another resource references. */
export interface DependencyView {
  phase?: string;
  ticketUri?: string;
  modelUri?: string;
  /** The reason of its Failed condition. */
  failedReason?: string;
  message?: string;
  /** The adaptations it waits for in turn (its spec.lota.excludeTicketsOf). */
  waitsFor?: readonly string[];
}

export function observeDependency(view: DependencyView | undefined): DependencyObservation {
  if (!view) return { state: 'Missing' };
  if (view.phase === 'Succeeded') {
    return {
      state: 'Succeeded',
      ...(view.ticketUri && { ticketUri: view.ticketUri }),
      ...(view.modelUri && { modelUri: view.modelUri }),
    };
  }
  if (view.phase === 'Failed') {
    return {
      state: 'Failed',
      ...(view.failedReason && { reason: view.failedReason }),
      ...(view.message && { message: view.message }),
    };
  }
  return { state: 'Pending', ...(view.phase && { phase: view.phase }) };
}

/**
 * Observations of every dependency of `plan`; a dependency through which the plan's resource waits for itself is
 * reported as a Cycle (unless it already succeeded: then nothing waits).
 */
export function observeDependencies(
  plan: Pick<Plan, 'name' | 'dependencies'>,
  lookup: (name: string) => DependencyView | undefined,
): Record<string, DependencyObservation> {
  const out: Record<string, DependencyObservation> = {};
  for (const dep of plan.dependencies) out[dep] = observeDependency(lookup(dep));
  if (plan.dependencies.length === 0) return out;
  const cycle = findCycle(plan.name, (name) =>
    name === plan.name ? plan.dependencies : [...(lookup(name)?.waitsFor ?? [])],
  );
  const via = cycle?.[1];
  if (cycle && via !== undefined && out[via]?.state !== 'Succeeded') out[via] = { state: 'Cycle', path: cycle };
  return out;
}

/** The path `start → … → start` through `edges`, if `start` can reach itself; shortest first by BFS. */
export function findCycle(start: string, edges: (name: string) => string[]): string[] | undefined {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    for (const next of edges(node)) {
      if (next === start) {
        const path = [node];
        for (let p = parent.get(node); p !== undefined; p = parent.get(p)) path.unshift(p);
        if (path[0] !== start) path.unshift(start);
        return [...path, start];
      }
      if (!parent.has(next) && next !== start) {
        parent.set(next, node);
        queue.push(next);
      }
    }
  }
  return undefined;
}
