// Packed bitmasks: one bit per parameter, entry i at byte i >> 3, bit i & 7 (least significant first — numpy reads
// it with `unpackbits(bits, bitorder='little')[:size]`). Bits past `size` in the last byte are always zero, so
// whole-byte operations (AND, OR, popcount) never see garbage.

export interface PackedMask {
  /** Number of parameters the mask covers (the tensor's element count). */
  readonly size: number;
  /** ceil(size / 8) bytes. */
  readonly bits: Uint8Array;
}

/** A mask per tensor, keyed by Hugging Face parameter name. */
export type MaskSet = Map<string, PackedMask>;

export function emptyMask(size: number): PackedMask {
  if (!Number.isInteger(size) || size < 0) throw new Error(`mask size must be a non-negative integer, got ${size}`);
  return { size, bits: new Uint8Array(Math.ceil(size / 8)) };
}

export function fullMask(size: number): PackedMask {
  const mask = emptyMask(size);
  mask.bits.fill(0xff);
  clearTail(mask);
  return mask;
}

/** Wraps packed bytes (e.g. read from a file), checking their length and that padding bits are zero. */
export function maskFromBits(bits: Uint8Array, size: number): PackedMask {
  if (bits.length !== Math.ceil(size / 8)) {
    throw new Error(`packed mask of ${size} entries needs ${Math.ceil(size / 8)} bytes, got ${bits.length}`);
  }
  const tail = size & 7;
  if (tail !== 0 && (bits[bits.length - 1] as number) >> tail !== 0) {
    throw new Error(`packed mask of ${size} entries has bits set past its end`);
  }
  return { size, bits };
}

export function getBit(mask: PackedMask, i: number): boolean {
  return (((mask.bits[i >> 3] as number) >> (i & 7)) & 1) === 1;
}

export function setBit(mask: PackedMask, i: number): void {
  (mask.bits as Uint8Array)[i >> 3] = (mask.bits[i >> 3] as number) | (1 << (i & 7));
}

/** Sets bit i wherever keep(values[i]) holds. */
export function maskWhere(values: Float32Array, keep: (x: number) => boolean): PackedMask {
  const mask = emptyMask(values.length);
  const bits = mask.bits;
  for (let i = 0; i < values.length; i++) {
    if (keep(values[i] as number)) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
  }
  return mask;
}

const POPCOUNT = new Uint8Array(256);
for (let b = 1; b < 256; b++) POPCOUNT[b] = (b & 1) + (POPCOUNT[b >> 1] as number);

export function popcount32(word: number): number {
  let x = word - ((word >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** The 4-byte-aligned middle of `bytes` (as 32-bit words) and where it starts and ends, for word-at-a-time loops. */
function wordsOf(bytes: Uint8Array): { words: Uint32Array; from: number; to: number } {
  const from = Math.min(bytes.length, (4 - (bytes.byteOffset & 3)) & 3);
  const count = (bytes.length - from) >> 2;
  return { words: new Uint32Array(bytes.buffer, bytes.byteOffset + from, count), from, to: from + 4 * count };
}

export function countSet(mask: PackedMask): number {
  const { bits } = mask;
  const { words, from, to } = wordsOf(bits);
  let n = 0;
  for (let i = 0; i < from; i++) n += POPCOUNT[bits[i] as number] as number;
  for (let i = 0; i < words.length; i++) n += popcount32(words[i] as number);
  for (let i = to; i < bits.length; i++) n += POPCOUNT[bits[i] as number] as number;
  return n;
}

/** Calls fn(i) for each set entry in ascending order. */
export function forEachSet(mask: PackedMask, fn: (index: number) => void): void {
  const bits = mask.bits;
  for (let byteIndex = 0; byteIndex < bits.length; byteIndex++) {
    let byte = bits[byteIndex] as number;
    while (byte !== 0) {
      const low = byte & -byte;
      fn((byteIndex << 3) + (31 - Math.clz32(low)));
      byte ^= low;
    }
  }
}

/** Indices of the set entries, ascending (count(mask) of them). */
export function setIndices(mask: PackedMask): Uint32Array {
  const out = new Uint32Array(countSet(mask));
  let j = 0;
  forEachSet(mask, (i) => {
    out[j++] = i;
  });
  return out;
}

function sameSize(a: PackedMask, b: PackedMask, op: string): void {
  if (a.size !== b.size) throw new Error(`cannot ${op} masks of ${a.size} and ${b.size} entries`);
}

function bytewise(a: PackedMask, b: PackedMask, op: string, f: (x: number, y: number) => number): PackedMask {
  sameSize(a, b, op);
  const out = emptyMask(a.size);
  for (let i = 0; i < out.bits.length; i++) out.bits[i] = f(a.bits[i] as number, b.bits[i] as number);
  return out;
}

export const and = (a: PackedMask, b: PackedMask): PackedMask => bytewise(a, b, 'AND', (x, y) => x & y);
export const or = (a: PackedMask, b: PackedMask): PackedMask => bytewise(a, b, 'OR', (x, y) => x | y);
/** Entries set in a but not in b. */
export const andNot = (a: PackedMask, b: PackedMask): PackedMask => bytewise(a, b, 'AND NOT', (x, y) => x & ~y & 0xff);

/** Number of entries set in both. */
export function overlapCount(a: PackedMask, b: PackedMask): number {
  sameSize(a, b, 'compare');
  let n = 0;
  const x = a.bits;
  const y = b.bits;
  if ((x.byteOffset & 3) !== (y.byteOffset & 3)) {
    for (let i = 0; i < x.length; i++) n += POPCOUNT[(x[i] as number) & (y[i] as number)] as number;
    return n;
  }
  const wx = wordsOf(x);
  const wy = wordsOf(y).words;
  for (let i = 0; i < wx.from; i++) n += POPCOUNT[(x[i] as number) & (y[i] as number)] as number;
  for (let i = 0; i < wx.words.length; i++) n += popcount32((wx.words[i] as number) & (wy[i] as number));
  for (let i = wx.to; i < x.length; i++) n += POPCOUNT[(x[i] as number) & (y[i] as number)] as number;
  return n;
}

export function disjoint(a: PackedMask, b: PackedMask): boolean {
  sameSize(a, b, 'compare');
  for (let i = 0; i < a.bits.length; i++) if (((a.bits[i] as number) & (b.bits[i] as number)) !== 0) return false;
  return true;
}

/** Tensor-wise union of mask sets (a tensor missing from one set counts as all-zero there). */
export function unionOf(sets: Iterable<MaskSet>): MaskSet {
  const out: MaskSet = new Map();
  for (const set of sets) {
    for (const [name, mask] of set) {
      const prev = out.get(name);
      out.set(name, prev ? or(prev, mask) : { size: mask.size, bits: mask.bits.slice() });
    }
  }
  return out;
}

export function countSetAll(set: MaskSet): { trainable: number; total: number } {
  let trainable = 0;
  let total = 0;
  for (const mask of set.values()) {
    trainable += countSet(mask);
    total += mask.size;
  }
  return { trainable, total };
}

function clearTail(mask: PackedMask): void {
  const tail = mask.size & 7;
  if (tail !== 0)
    (mask.bits as Uint8Array)[mask.bits.length - 1] = (mask.bits[mask.bits.length - 1] as number) & ((1 << tail) - 1);
}
