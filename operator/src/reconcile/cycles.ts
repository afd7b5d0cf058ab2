// LoTTO chains must be acyclic: an adaptation that (transitively) excludes the tickets of one that excludes its own
// would wait forever. Pure: from the names each adaptation waits for.

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
