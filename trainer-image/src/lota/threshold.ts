// Exact k-th largest |x| over many Float32Arrays without sorting: radix selection on the float bit patterns.
//
// For finite non-negative floats the IEEE-754 bit pattern, read as an unsigned integer, orders exactly like the value
// (and |x| is the pattern with the sign bit cleared, so -0 and +0 coincide). Pass 1 histograms the high 15 bits of
// |x| (sign excluded) into 32768 bins and finds the bin holding the k-th largest; pass 2 histograms the low 16 bits
// of only the entries inside that bin and finds the exact pattern. Two reads of the data, O(N) time, and two fixed
// histograms (O(1) in N) of extra memory: no sort, no copy, no index array.

const HIGH_BINS = 1 << 15;
const LOW_BINS = 1 << 16;
/** High 15 bits of the pattern of +Infinity; every NaN and ±Infinity lands in a bin at or above it. */
const NON_FINITE_HIGH = 0x7f800000 >>> 16;

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function floatOfBits(bits: number): number {
  const word = new Uint32Array([bits]);
  return new Float32Array(word.buffer)[0] as number;
}

/**
 * Number of entries to keep for a sparsity over n entries: k = ⌊(1 − sparsity)·n⌋. Computed as n − ⌈sparsity·n⌉ with
 * sparsity·n rounded to 1e-6 first, so that e.g. sparsity 0.9 of 10 entries keeps 1 and not ⌊0.99999…⌋ = 0.
 */
export function keepCount(sparsity: number, n: number): number {
  if (!(sparsity >= 0 && sparsity < 1)) throw new Error(`sparsity must be in [0, 1), got ${sparsity}`);
  const frozen = Math.ceil(Math.round(sparsity * n * 1e6) / 1e6);
  return Math.max(0, n - frozen);
}

/**
 * The k-th largest |x| over all arrays together (1 ≤ k ≤ total length), exactly as a float32 value. k = 0 returns
 * +Infinity (nothing is ≥ it among finite values). Throws if any entry is NaN or ±Infinity: a diverged task vector
 * has no meaningful top-k.
 */
export function kthLargestAbs(arrays: readonly Float32Array[], k: number): number {
  let total = 0;
  for (const a of arrays) total += a.length;
  if (!Number.isInteger(k) || k < 0 || k > total) throw new Error(`k must be an integer in [0, ${total}], got ${k}`);
  if (k === 0) {
    assertFinite(arrays);
    return Number.POSITIVE_INFINITY;
  }

  // Pass 1: counts per high-15-bit bin. Per array in a Uint32Array (an array is < 2^32 long), summed as doubles
  // so totals past 2^32 entries (7B-parameter models) stay exact.
  const high = new Float64Array(HIGH_BINS);
  const counts = new Uint32Array(LOW_BINS);
  for (const a of arrays) {
    const bits = bitsOf(a);
    counts.fill(0, 0, HIGH_BINS);
    for (let i = 0; i < bits.length; i++) {
      const b = ((bits[i] as number) >>> 16) & 0x7fff;
      counts[b] = (counts[b] as number) + 1;
    }
    for (let b = 0; b < HIGH_BINS; b++) high[b] = (high[b] as number) + (counts[b] as number);
  }
  for (let b = NON_FINITE_HIGH; b < HIGH_BINS; b++) {
    if ((high[b] as number) > 0) throw new Error('task vector holds NaN or Infinity: cannot rank |Δ|');
  }
  const [highBin, rankInBin] = findBin(high, k);

  // Pass 2: counts per low-16-bit value of the entries whose high bits equal highBin.
  const low = new Float64Array(LOW_BINS);
  for (const a of arrays) {
    const bits = bitsOf(a);
    counts.fill(0);
    for (let i = 0; i < bits.length; i++) {
      const w = (bits[i] as number) & 0x7fffffff;
      if (w >>> 16 === highBin) counts[w & 0xffff] = (counts[w & 0xffff] as number) + 1;
    }
    for (let b = 0; b < LOW_BINS; b++) low[b] = (low[b] as number) + (counts[b] as number);
  }
  const [lowBin] = findBin(low, rankInBin);
  return floatOfBits(((highBin << 16) | lowBin) >>> 0);
}

/** Walks bins from the top; returns the bin holding the k-th largest and k's rank within that bin (1-based). */
function findBin(hist: Float64Array, k: number): [number, number] {
  let above = 0;
  for (let b = hist.length - 1; b >= 0; b--) {
    const c = hist[b] as number;
    if (above + c >= k) return [b, k - above];
    above += c;
  }
  throw new Error(`internal: histogram holds ${above} entries, fewer than k = ${k}`);
}

function assertFinite(arrays: readonly Float32Array[]): void {
  for (const a of arrays) {
    for (const x of a) if (!Number.isFinite(x)) throw new Error('task vector holds NaN or Infinity: cannot rank |Δ|');
  }
}
