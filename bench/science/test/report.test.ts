// The science page's verdicts are computed from the results: the same rule gives opposite sentences for opposite
// numbers, and no sentence is fixed text.
import { describe, expect, it } from 'vitest';
import { claim2Verdict, edgeNote, judge, mergedVsSingle } from '../report.ts';
import type { Results } from '../results.ts';

function claim2(lottoB: number[], lottoA: number[], fftA: number[], reference: number[]): Results {
  return {
    claim2: {
      taskA: 'before',
      taskB: 'last',
      methods: ['FFT', 'LoTTO 90%'],
      scores: {
        FFT: { aBefore: [0.9, 0.92, 0.88], aAfter: fftA, bAfter: [0.9, 0.9, 0.9] },
        'LoTTO 90%': { aBefore: [0.8, 0.82, 0.78], aAfter: lottoA, bAfter: lottoB },
      },
      maskOverlap: [],
      bFromBase: { label: 'LoTA 90% on last from the base (claim 1)', scores: reference },
    },
  } as unknown as Results;
}

describe('science verdicts', () => {
  it('claim 1 noise rule: a difference within the larger standard deviation is a tie', () => {
    expect(judge([0.5, 0.7], [0.55, 0.6])).toBe('tie');
    expect(judge([0.9, 0.92], [0.5, 0.52])).toBe('better');
    expect(judge([0.1, 0.12], [0.5, 0.52])).toBe('worse');
  });

  it('claim 2: LoTTO that keeps A and learns B is a reproduction; the sentences carry the numbers', () => {
    const text = claim2Verdict(claim2([0.7, 0.72, 0.74], [0.8, 0.81, 0.79], [0.1, 0.12, 0.08], [0.8, 0.8, 0.8]));
    expect(text).toMatch(/^\*\*Verdict\*\*: reproduced\./);
    expect(text).toContain('keeps more than FFT (10.0%)');
    expect(text).toContain('LoTTO 90% 72.0%');
    expect(text).toContain('reference LoTA 90% on last from the base (claim 1): 80.0%');
  });

  it('claim 2: LoTTO that did not learn B is not evidence, whatever it keeps of A', () => {
    const text = claim2Verdict(claim2([0.04, 0.04, 0.04], [0.8, 0.81, 0.79], [0.1, 0.12, 0.08], [0.94, 0.95, 0.96]));
    expect(text).toMatch(/^\*\*Verdict\*\*: not demonstrated \(LoTTO did not learn B\)\./);
    expect(text).toContain('(not learned: under half the reference)');
  });

  it('claim 2: LoTTO that learns B but forgets A more than FFT is not reproduced', () => {
    const text = claim2Verdict(claim2([0.7, 0.72, 0.74], [0.1, 0.11, 0.09], [0.6, 0.62, 0.58], [0.8, 0.8, 0.8]));
    expect(text).toMatch(/^\*\*Verdict\*\*: not reproduced\./);
    expect(text).toContain('keeps less than FFT');
  });

  it('flags a learning rate on either edge of its grid', () => {
    expect(edgeNote(1e-3, [3e-4, 1e-3, 3e-3])).toBe('');
    expect(edgeNote(3e-4, [3e-4, 1e-3, 3e-3])).toContain('low edge');
    expect(edgeNote(3e-3, [3e-4, 1e-3, 3e-3])).toContain('high edge');
    expect(edgeNote(1, [1, 1])).toBe(' (a single value: not swept)');
  });

  it('claim 3: merged vs single-task per task, with the single-input control separating interference', () => {
    const r = {
      claim1: { scores: { FFT: { a: [0.9, 0.9], b: [0.8, 0.8] }, 'LoTA 90%': { a: [0.9, 0.9], b: [0.8, 0.8] } } },
      claim3: { single: { 'FFT, TIES': { a: [0.2, 0.2], b: [0.8, 0.8] } } },
    } as unknown as Results;
    const merge = {
      tasks: ['a', 'b'],
      methods: ['LoTA 90% tickets, sum', 'FFT, TIES'],
      scores: {
        'LoTA 90% tickets, sum': { a: [0.9, 0.9], b: [0.8, 0.8] },
        'FFT, TIES': { a: [0.2, 0.2], b: [0.1, 0.1] },
      },
      interference: [],
    };
    const text = mergedVsSingle(r, merge, 'LoTA 90%');
    expect(text).toContain('LoTA 90% tickets, sum: a 90.0 vs 90.0 (kept), b 80.0 vs 80.0 (kept)');
    expect(text).toContain('a 20.0 vs 90.0 (lost, alone 20.0 (no interference loss; the method alone loses))');
    expect(text).toContain('b 10.0 vs 80.0 (lost, alone 80.0 (interference costs))');
  });
});
