import { describe, expect, it } from 'vitest';
import { parseProgress } from '../src/progress.ts';

describe('parseProgress', () => {
  it('keeps a valid reading as it is', () => {
    const p = { phase: 'train', step: 3, totalSteps: 10, percent: 30, loss: 1.5, tokensPerSecond: 9, etaSeconds: 4 };
    expect(parseProgress(p)).toEqual(p);
  });

  it('clamps what the status schema would refuse and drops what is not a number', () => {
    expect(
      parseProgress({ phase: 'calibrate', step: 7.9, totalSteps: 2, percent: 250, loss: null, tokensPerSecond: -3 }),
    ).toEqual({ phase: 'calibrate', step: 2, totalSteps: 2, percent: 100, tokensPerSecond: 0 });
    expect(parseProgress({ phase: 'train', step: -4, totalSteps: 8, percent: 'x', etaSeconds: Infinity })).toEqual({
      phase: 'train',
      step: 0,
      totalSteps: 8,
      percent: 0,
    });
  });

  it('refuses what is not a reading at all', () => {
    for (const body of [null, 'text', [], { phase: 'eval', step: 1, totalSteps: 2 }, { phase: 'train', step: '1' }])
      expect(parseProgress(body)).toBeUndefined();
  });
});
