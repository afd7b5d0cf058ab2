import { describe, expect, it } from 'vitest';
import { findCycle, observeDependencies } from '../src/dependencies.ts';

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

describe('observeDependencies', () => {
  it('reports a LoTTO cycle through the first dependency that leads back, unless it already succeeded', () => {
    const views: Record<string, { phase?: string; waitsFor?: string[]; ticketUri?: string }> = {
      b: { phase: 'Pending', waitsFor: ['c'] },
      c: { waitsFor: ['a'] },
      d: { phase: 'Succeeded', ticketUri: 'pvc://m/d.safetensors' },
    };
    const observed = observeDependencies({ name: 'a', dependencies: ['d', 'b'] }, (n) => views[n]);
    expect(observed).toEqual({
      d: { state: 'Succeeded', ticketUri: 'pvc://m/d.safetensors' },
      b: { state: 'Cycle', path: ['a', 'b', 'c', 'a'] },
    });
    expect(observeDependencies({ name: 'x', dependencies: ['gone'] }, () => undefined)).toEqual({
      gone: { state: 'Missing' },
    });
  });
});
