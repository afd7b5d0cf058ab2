// How much the inputs of a merge collide, per tensor and in total: entries claimed by two or more inputs, the
// pairwise Jaccard overlap of their claimed entries, sign conflicts among the overlaps, and how much of each
// input's L1 mass reaches the merged task vector. LoTA's claim is that its tickets collide little.
import type { InterferenceSummary } from '@lota/api/trainer-contract';
import { countSet, forEachSet, overlapCount, type PackedMask } from '../lota/mask.ts';

export interface TensorInterference {
  name: string;
  entries: number;
  /** Entries claimed by at least one input. */
  claimed: number;
  /** Entries claimed by two or more inputs. */
  overlapping: number;
  /** Overlapping entries where the claimants' weighted deltas have both signs. */
  signConflicts: number;
  /** Per input: entries claimed. */
  claimedBy: number[];
  /** Pairwise |A ∩ B| (symmetric, diagonal = claimedBy). */
  intersections: number[][];
  /** Per input: Σ|δ| and Σ|δ| over the entries that reached the merged task vector. */
  l1: number[];
  survivingL1: number[];
}

export interface InterferenceReport {
  inputs: { name: string; claimed: number; l1: number; survivingL1: number; survivingL1Fraction: number }[];
  total: {
    entries: number;
    claimed: number;
    overlapping: number;
    overlapFraction: number;
    signConflicts: number;
  };
  /** Pairwise Jaccard |A ∩ B| / |A ∪ B| over all tensors, in input order. */
  jaccard: number[][];
  tensors: (Omit<TensorInterference, 'intersections'> & { jaccard: number[][] })[];
}

/** Per-entry contribution of one input, as the merge reports it (undefined: every claimed entry contributed). */
export type Contribution = Uint8Array | undefined;

/** What the claimed masks alone say: entries per input, pairwise intersections, and the "≥ 1" and "≥ 2" masks. */
export interface ClaimOverlaps {
  claimedBy: number[];
  intersections: number[][];
  any: PackedMask;
  twoOrMore: PackedMask;
}

export function claimOverlaps(entries: number, claims: readonly (PackedMask | undefined)[]): ClaimOverlaps {
  const k = claims.length;
  const claimedBy = claims.map((c) => (c ? countSet(c) : 0));
  const intersections = claims.map((_, i) => claims.map((_, j) => (i === j ? (claimedBy[i] as number) : 0)));
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const a = claims[i];
      const b = claims[j];
      const both = a && b ? overlapCount(a, b) : 0;
      (intersections[i] as number[])[j] = both;
      (intersections[j] as number[])[i] = both;
    }
  }
  // Bitwise "at least one" and "at least two" over the packed masks, a byte at a time.
  const bytes = Math.ceil(entries / 8);
  const any = new Uint8Array(bytes);
  const twoOrMore = new Uint8Array(bytes);
  for (const c of claims) {
    if (!c) continue;
    for (let b = 0; b < bytes; b++) {
      const m = c.bits[b] as number;
      twoOrMore[b] = (twoOrMore[b] as number) | ((any[b] as number) & m);
      any[b] = (any[b] as number) | m;
    }
  }
  return { claimedBy, intersections, any: { size: entries, bits: any }, twoOrMore: { size: entries, bits: twoOrMore } };
}

export function tensorInterference(
  name: string,
  entries: number,
  claims: readonly (PackedMask | undefined)[],
  deltas: readonly (Float32Array | undefined)[],
  weights: readonly number[],
  contributed: readonly Contribution[],
): TensorInterference {
  const k = claims.length;
  const { claimedBy, intersections, any: anyMask, twoOrMore: overlapMask } = claimOverlaps(entries, claims);
  const bytes = anyMask.bits.length;
  let signConflicts = 0;
  forEachSet(overlapMask, (j) => {
    let positive = false;
    let negative = false;
    for (let i = 0; i < k; i++) {
      const x = ((deltas[i]?.[j] as number) ?? 0) * (weights[i] as number);
      if (x > 0) positive = true;
      else if (x < 0) negative = true;
    }
    if (positive && negative) signConflicts++;
  });

  // Σ|δ| over the claimed entries only (δ is zero elsewhere), a mask byte at a time.
  const l1 = deltas.map(() => 0);
  const survivingL1 = deltas.map(() => 0);
  for (const [i, delta] of deltas.entries()) {
    const claim = claims[i];
    if (!delta || !claim) continue;
    const kept = contributed[i];
    let sum = 0;
    let surviving = 0;
    for (let b = 0; b < bytes; b++) {
      let byte = claim.bits[b] as number;
      while (byte !== 0) {
        const low = byte & -byte;
        const j = (b << 3) + 31 - Math.clz32(low);
        byte ^= low;
        const x = Math.abs(delta[j] as number);
        sum += x;
        if (!kept || kept[j]) surviving += x;
      }
    }
    l1[i] = sum;
    survivingL1[i] = surviving;
  }
  return {
    name,
    entries,
    claimed: countSet(anyMask),
    overlapping: countSet(overlapMask),
    signConflicts,
    claimedBy,
    intersections,
    l1,
    survivingL1,
  };
}

function jaccardOf(intersections: number[][], claimedBy: number[]): number[][] {
  return intersections.map((row, i) =>
    row.map((inter, j) => {
      const union = (claimedBy[i] as number) + (claimedBy[j] as number) - inter;
      return union === 0 ? 0 : inter / union;
    }),
  );
}

const round = (x: number) => Number(x.toPrecision(6));

export function buildReport(names: readonly string[], tensors: readonly TensorInterference[]): InterferenceReport {
  const k = names.length;
  const claimedBy = new Array<number>(k).fill(0);
  const l1 = new Array<number>(k).fill(0);
  const survivingL1 = new Array<number>(k).fill(0);
  const intersections = names.map(() => new Array<number>(k).fill(0));
  const total = { entries: 0, claimed: 0, overlapping: 0, overlapFraction: 0, signConflicts: 0 };
  for (const t of tensors) {
    total.entries += t.entries;
    total.claimed += t.claimed;
    total.overlapping += t.overlapping;
    total.signConflicts += t.signConflicts;
    for (let i = 0; i < k; i++) {
      claimedBy[i] = (claimedBy[i] as number) + (t.claimedBy[i] as number);
      l1[i] = (l1[i] as number) + (t.l1[i] as number);
      survivingL1[i] = (survivingL1[i] as number) + (t.survivingL1[i] as number);
      for (let j = 0; j < k; j++) {
        (intersections[i] as number[])[j] =
          ((intersections[i] as number[])[j] as number) + (t.intersections[i]?.[j] as number);
      }
    }
  }
  total.overlapFraction = total.claimed === 0 ? 0 : round(total.overlapping / total.claimed);
  return {
    inputs: names.map((name, i) => ({
      name,
      claimed: claimedBy[i] as number,
      l1: round(l1[i] as number),
      survivingL1: round(survivingL1[i] as number),
      survivingL1Fraction: (l1[i] as number) === 0 ? 1 : round((survivingL1[i] as number) / (l1[i] as number)),
    })),
    total,
    jaccard: jaccardOf(intersections, claimedBy).map((row) => row.map(round)),
    tensors: tensors.map(({ intersections: inter, ...t }) => ({
      ...t,
      l1: t.l1.map(round),
      survivingL1: t.survivingL1.map(round),
      jaccard: jaccardOf(inter, t.claimedBy).map((row) => row.map(round)),
    })),
  };
}

/** The short form the trainer puts in its termination message and the operator copies into TicketMerge.status. */
export function summarize(report: InterferenceReport): InterferenceSummary {
  let maxPairwiseJaccard = 0;
  let maxPair: [string, string] | undefined;
  for (let i = 0; i < report.inputs.length; i++) {
    for (let j = i + 1; j < report.inputs.length; j++) {
      const jac = report.jaccard[i]?.[j] as number;
      if (maxPair === undefined || jac > maxPairwiseJaccard) {
        maxPairwiseJaccard = jac;
        maxPair = [report.inputs[i]?.name as string, report.inputs[j]?.name as string];
      }
    }
  }
  return {
    tickets: report.inputs.length,
    overlappingEntries: report.total.overlapping,
    overlapFraction: report.total.overlapFraction,
    signConflicts: report.total.signConflicts,
    maxPairwiseJaccard,
    ...(maxPair ? { maxPair } : {}),
  };
}
