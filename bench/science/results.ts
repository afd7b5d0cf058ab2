// The raw results of a science run (results.json): what report.ts renders and plot.py draws.
import type { ScienceConfig } from './config.ts';

export interface SweepRow {
  method: string;
  lr: number;
  exactMatch: number;
  trainLoss: number;
}

/** Interference numbers of one merge (one seed), from the trainer's interference report. */
export interface MergeRow {
  seed: number;
  method: string;
  overlapFraction: number;
  signConflicts: number;
  maxPairwiseJaccard: number;
  /** Mean over inputs of the fraction of each input's L1 mass that reached the merged task vector. */
  survivingL1Fraction: number;
}

export type MergeSweepMethod = 'task-arithmetic' | 'ties' | 'dare-linear' | 'dare-ties';

/** method → task → one score per seed. */
export type Scores = Record<string, Record<string, number[]>>;

export interface Results {
  config: ScienceConfig;
  commit: string;
  /** Uncommitted changes in the tree when it ran (0 = the commit is exactly what ran). */
  dirtyFiles: number;
  /** Of those, under bench/science (the run's own code). */
  scienceDirtyFiles?: number;
  startedAt: string;
  machine: { cpus: number; model: string; loadAtStart: number; loadAtEnd?: number };
  backend: string;
  seedsCompleted: number[];
  sweep: SweepRow[];
  chosenLr: { full: number; lora: number; lota: number };
  /** Claim 3's baseline sweep on seed config.sweep.seed (FFT deltas of A and B): one row per configuration. */
  mergeSweep?: { method: MergeSweepMethod; density?: number; lambda: number; meanExactMatch: number }[];
  /** The best configuration per baseline method, used for every seed. */
  chosenMerge?: Partial<Record<MergeSweepMethod, { density?: number; lambda: number }>>;
  /** seed → task → base model exact match. */
  base: Record<string, Record<string, number>>;
  claim1: { tasks: string[]; methods: string[]; scores: Scores; trainable: Record<string, number> };
  claim2: {
    taskA: string;
    taskB: string;
    methods: string[];
    scores: Record<string, { aBefore: number[]; aAfter: number[]; bAfter: number[] }>;
    /** Entries shared by the masks of A and B. */
    maskOverlap: { seed: number; noExclusion: number; lotto: number }[];
    /** Capacity reference: LoTA trained on B from the base, per seed. */
    bFromBase?: { label: string; scores: number[] };
  };
  claim3: {
    merges: { tasks: string[]; methods: string[]; scores: Scores; interference: MergeRow[] }[];
    /**
     * Single-input controls: each merge method applied to one task vector alone, scored on that task (method →
     * task → per seed) — what the method's sparsification/scaling costs without any other input to interfere.
     */
    single?: Scores;
  };
  invariants: { zeroDriftChecks: number; entriesCompared: number; ticketMaskChecks: number; disjointChecks: number };
  seconds: number;
  /** CPU time (user + system) of the parent and every seed worker. */
  cpuSeconds?: number;
}

export function meanStd(values: readonly number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: Number.NaN, std: Number.NaN };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, std };
}
