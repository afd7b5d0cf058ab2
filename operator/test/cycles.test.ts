import { describe, expect, it } from 'vitest';
import { findCycle } from '../src/reconcile/cycles.ts';

const graph = (g: Record<string, string[]>) => (n: string) => g[n] ?? [];

describe('findCycle', () => {
  it('finds direct and longer cycles through the start', () => {
    expect(findCycle('a', graph({ a: ['b'], b: ['a'] }))).toEqual(['a', 'b', 'a']);
    expect(findCycle('a', graph({ a: ['x', 'b'], b: ['c'], c: ['a'], x: [] }))).toEqual(['a', 'b', 'c', 'a']);
  });

  it('finds none in a chain, a diamond, or a cycle that does not pass through the start', () => {
    expect(findCycle('c', graph({ c: ['b'], b: ['a'] }))).toBeUndefined();
    expect(findCycle('d', graph({ d: ['b', 'c'], b: ['a'], c: ['a'] }))).toBeUndefined();
    expect(findCycle('a', graph({ a: ['b'], b: ['c'], c: ['b'] }))).toBeUndefined();
  });
});
