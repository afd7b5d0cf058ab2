import { describe, expect, it } from 'vitest';
import {
  and,
  andNot,
  countSet,
  disjoint,
  emptyMask,
  fullMask,
  getBit,
  maskFromBits,
  maskWhere,
  or,
  overlapCount,
  setIndices,
  unionOf,
} from '../../src/lota/mask.ts';

describe('packed masks', () => {
  it('packs least-significant bit first and keeps padding bits zero', () => {
    const m = maskWhere(Float32Array.from([1, 0, 0, 1, 0, 0, 0, 0, 1, 1]), (x) => x !== 0);
    expect([...m.bits]).toEqual([0b00001001, 0b00000011]);
    expect(fullMask(10).bits[1]).toBe(0b11);
    expect(countSet(fullMask(13))).toBe(13);
    expect(() => maskFromBits(Uint8Array.from([0, 0b100]), 10)).toThrow(/past its end/);
    expect(() => maskFromBits(Uint8Array.from([0]), 10)).toThrow(/needs 2 bytes/);
  });

  it('iterates set indices in ascending order', () => {
    const values = Float32Array.from({ length: 37 }, (_, i) => (i % 5 === 0 || i === 36 ? 1 : 0));
    const m = maskWhere(values, (x) => x !== 0);
    expect([...setIndices(m)]).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 36]);
    expect(getBit(m, 36)).toBe(true);
    expect(getBit(m, 34)).toBe(false);
  });

  it('combines masks', () => {
    const a = maskWhere(Float32Array.from([1, 1, 0, 0, 1]), (x) => x !== 0);
    const b = maskWhere(Float32Array.from([0, 1, 1, 0, 0]), (x) => x !== 0);
    expect([...setIndices(and(a, b))]).toEqual([1]);
    expect([...setIndices(or(a, b))]).toEqual([0, 1, 2, 4]);
    expect([...setIndices(andNot(a, b))]).toEqual([0, 4]);
    expect(overlapCount(a, b)).toBe(1);
    expect(disjoint(a, b)).toBe(false);
    expect(disjoint(andNot(a, b), b)).toBe(true);
    expect(() => and(a, emptyMask(6))).toThrow(/5 and 6/);
    const u = unionOf([
      new Map([['w', a]]),
      new Map([
        ['w', b],
        ['v', b],
      ]),
    ]);
    expect([...setIndices(u.get('w') as never)]).toEqual([0, 1, 2, 4]);
    expect(countSet(a)).toBe(3); // inputs untouched
  });
});
