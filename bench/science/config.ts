// The two configurations of the science run. `full` is what docs/results.md reports; `smoke` exercises every code
// path in about a minute (tiny data, a few steps) and writes to out/ only, never to docs/.
import type { TaskName } from './tasks.ts';

export interface ScienceConfig {
  profile: 'full' | 'smoke';
  /** Training seeds; seed s also draws its own train/eval split of every task. */
  seeds: number[];
  /** The three tasks (A, B, C); claim 2 trains A then B. */
  tasks: [TaskName, TaskName, TaskName];
  trainSize: number;
  evalSize: number;
  /** Optimizer steps of every adaptation (the matched budget), batch size and sequence cap. */
  steps: number;
  batchSize: number;
  sparsities: number[];
  lora: { rank: number; alpha: number };
  /** TIES/DARE keep this fraction of each FFT delta: the density of a 90%-sparse ticket. */
  mergeDensity: number;
  /**
   * Claim 3's baselines are tuned on seed `sweep.seed` (tasks A + B): TIES/DARE over densities × λ, task arithmetic
   * over λ; the best configuration (mean exact match over the two tasks) is used for every seed.
   */
  mergeSweep: { densities: number[]; lambdas: number[]; taLambdas: number[] };
  /**
   * Learning-rate sweep: on task A with `seed` (not a reporting seed), the best exact match per method wins; LoTA's
   * rate is swept at the first sparsity and used for all.
   */
  sweep: { seed: number; lrs: { full: number[]; lora: number[]; lota: number[] } };
}

export const PROFILES: Record<ScienceConfig['profile'], ScienceConfig> = {
  full: {
    profile: 'full',
    seeds: [1, 2, 3],
    tasks: ['before', 'last', 'goodbye'],
    trainSize: 800,
    evalSize: 50,
    steps: 40,
    batchSize: 16,
    sparsities: [0.9, 0.99],
    lora: { rank: 8, alpha: 16 },
    mergeDensity: 0.1,
    mergeSweep: { densities: [0.1, 0.3, 1.0], lambdas: [1, 2], taLambdas: [0.5, 1] },
    // Three rates each, so a winner inside the grid is possible; the report flags a winner on an edge for every method.
    sweep: { seed: 0, lrs: { full: [1e-4, 3e-4, 1e-3], lora: [3e-4, 1e-3, 3e-3], lota: [3e-4, 1e-3, 3e-3] } },
  },
  smoke: {
    profile: 'smoke',
    seeds: [1],
    tasks: ['before', 'last', 'goodbye'],
    trainSize: 48,
    evalSize: 6,
    steps: 3,
    batchSize: 4,
    sparsities: [0.9, 0.99],
    lora: { rank: 4, alpha: 8 },
    mergeDensity: 0.1,
    mergeSweep: { densities: [0.1, 1.0], lambdas: [1], taLambdas: [1] },
    sweep: { seed: 0, lrs: { full: [1e-4], lora: [1e-3], lota: [1e-3] } },
  },
};
