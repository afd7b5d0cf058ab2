// The merge methods, one registry in MergeKit's shape: each method is a configuration of "generalized task
// arithmetic" (MergeKit's generalized_task_arithmetic.py) — an optional sparsification of every task vector, an
// optional sign consensus, a weighted sum, an optional normalisation by the summed weights, and a scale λ.
// All arithmetic is float32, in MergeKit's order, so results match it to float32 rounding.
import { type Rescale, type Sparsification, sparsify } from './sparsify.ts';

type Consensus = 'sum' | 'count';

export interface MethodDefinition {
  name: string;
  description: string;
  reference: string;
  sparsification: Sparsification | undefined;
  /** Sign election (TIES); fixed by the method in MergeKit, overridable here through `consensus`. */
  consensus: Consensus | undefined;
  defaults: { normalize: boolean; rescale: Rescale };
  /**
   * The parameters the TicketMerge API (api/src/schema/merge.ts) documents for the method: what a stored spec's
   * `parameters` contribute. The API's defaults fill every field (normalize: true, rescale: true, ...), so a stored
   * spec also carries values this method must not read — normalize would turn task-arithmetic into a weighted mean.
   */
  accepts: readonly (keyof MergeParameters)[];
  /** Further MergeKit parameters of the method that the API does not expose (callers of runMerge may set them). */
  alsoAccepts: readonly (keyof MergeParameters)[];
}

export const MERGE_METHODS = {
  sum: {
    name: 'sum',
    description: 'θ_base + Σ w_i·δ_i: the LoTA paper’s additive merge (no trimming, no sign election, no normalising)',
    reference: 'https://arxiv.org/abs/2406.16797',
    sparsification: undefined,
    consensus: undefined,
    defaults: { normalize: false, rescale: 'none' },
    accepts: [],
    alsoAccepts: [],
  },
  'task-arithmetic': {
    name: 'task-arithmetic',
    description: 'θ_base + λ·Σ w_i·δ_i (optionally divided by Σ w_i)',
    reference: 'https://arxiv.org/abs/2212.04089',
    sparsification: undefined,
    consensus: undefined,
    defaults: { normalize: false, rescale: 'none' },
    accepts: ['lambda'],
    alsoAccepts: ['normalize'],
  },
  ties: {
    name: 'ties',
    description: 'trim each δ_i to its top-density magnitudes, elect a sign per entry, mean over agreeing inputs',
    reference: 'https://arxiv.org/abs/2306.01708',
    sparsification: 'magnitude',
    consensus: 'sum',
    defaults: { normalize: true, rescale: 'none' },
    accepts: ['lambda', 'normalize', 'density', 'consensus'],
    alsoAccepts: ['rescale'],
  },
  'dare-linear': {
    name: 'dare-linear',
    description: 'drop entries of each δ_i at random (keep with probability density), rescale, weighted sum',
    reference: 'https://arxiv.org/abs/2311.03099',
    sparsification: 'random',
    consensus: undefined,
    defaults: { normalize: false, rescale: 'l1' },
    accepts: ['lambda', 'rescale', 'density', 'seed'],
    alsoAccepts: ['normalize'],
  },
  'dare-ties': {
    name: 'dare-ties',
    description: 'DARE’s random drop and rescale, then TIES sign election',
    reference: 'https://arxiv.org/abs/2311.03099',
    sparsification: 'random',
    consensus: 'sum',
    defaults: { normalize: false, rescale: 'l1' },
    accepts: ['lambda', 'normalize', 'rescale', 'density', 'seed', 'consensus'],
    alsoAccepts: [],
  },
} as const satisfies Record<string, MethodDefinition>;

export type MergeMethodName = keyof typeof MERGE_METHODS;

export function isMergeMethod(name: string): name is MergeMethodName {
  return Object.hasOwn(MERGE_METHODS, name);
}

/** MergeKit's parameter names; `rescale: true` means MergeKit's current L1 matching. */
export interface MergeParameters {
  lambda?: number;
  normalize?: boolean;
  rescale?: boolean | Rescale;
  /** Default density of every input (each input may override it). */
  density?: number;
  consensus?: Consensus;
  seed?: number;
}

/** A stored TicketMerge spec's `parameters` (defaults applied) → what runMerge should get for the method. */
export function parametersFromSpec(method: MergeMethodName, parameters: Record<string, unknown> = {}): MergeParameters {
  const keep = MERGE_METHODS[method].accepts as readonly string[];
  return Object.fromEntries(Object.entries(parameters).filter(([key]) => keep.includes(key))) as MergeParameters;
}

export interface ResolvedParameters {
  lambda: number;
  normalize: boolean;
  rescale: Rescale;
  consensus: Consensus | undefined;
  seed: number;
}

/** Applies the method's defaults (MergeKit's) and refuses parameters the method does not use. */
export function resolveParameters(method: MergeMethodName, given: MergeParameters = {}): ResolvedParameters {
  const definition: MethodDefinition = MERGE_METHODS[method];
  for (const [key, value] of Object.entries(given)) {
    const name = key as keyof MergeParameters;
    if (value !== undefined && !definition.accepts.includes(name) && !definition.alsoAccepts.includes(name)) {
      throw new RangeError(`parameter '${key}' does not apply to method ${method}`);
    }
  }
  const rescale = given.rescale === true ? 'l1' : given.rescale === false ? 'none' : given.rescale;
  if (rescale !== undefined && !['none', 'l1', 'inverse-density'].includes(rescale)) {
    throw new RangeError(`rescale must be true, false, 'l1', 'inverse-density' or 'none', got ${String(rescale)}`);
  }
  if (given.consensus !== undefined && given.consensus !== 'sum' && given.consensus !== 'count') {
    throw new RangeError(`consensus must be 'sum' or 'count', got ${String(given.consensus)}`);
  }
  if (given.lambda !== undefined && !Number.isFinite(given.lambda))
    throw new RangeError('lambda must be a finite number');
  if (given.seed !== undefined && !(Number.isInteger(given.seed) && given.seed >= 0 && given.seed < 2 ** 32)) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${given.seed}`);
  }
  return {
    lambda: given.lambda ?? 1,
    normalize: given.normalize ?? definition.defaults.normalize,
    rescale: rescale ?? definition.defaults.rescale,
    consensus: definition.consensus === undefined ? undefined : (given.consensus ?? definition.consensus),
    seed: given.seed ?? 0,
  };
}

export interface TensorMergeInput {
  tensor: string;
  /** δ_i = θ_i − θ_base for each input, dense float32. */
  deltas: readonly Float32Array[];
  weights: readonly number[];
  densities: readonly number[];
  /** A seeded uniform [0, 1) generator per input, for random sparsification. */
  randoms: readonly (() => number)[];
}

export interface TensorMergeResult {
  /** The merged task vector: θ_merged = θ_base + delta. */
  delta: Float32Array;
  /** Per input: 1 where its entry reached the merged delta (kept by sparsification and, with consensus, on the
   *  elected sign). Undefined for an input whose every entry did (no sparsification, no consensus). */
  contributed: (Uint8Array | undefined)[];
}

/**
 * Merges one tensor's task vectors (MergeKit's GTATask.execute, element-wise in float32). The inputs are left
 * untouched (the interference report reads them afterwards); w_i·δ_i is formed on the fly instead of stored.
 * Working memory: the sparsified copies (4 bytes/entry/input, only when density < 1), keep masks (1 byte/entry/input)
 * and a few float32 arrays of the tensor's size.
 */
export function mergeTensor(
  method: MergeMethodName,
  params: ResolvedParameters,
  input: TensorMergeInput,
): TensorMergeResult {
  const definition: MethodDefinition = MERGE_METHODS[method];
  const { deltas, tensor } = input;
  const n = deltas[0]?.length ?? 0;
  const weights = input.weights.map((w) => Math.fround(w));
  const contributed: (Uint8Array | undefined)[] = [];
  const sparse: Float32Array[] = [];
  for (const [i, delta] of deltas.entries()) {
    if (delta.length !== n) throw new RangeError(`${tensor}: task vectors differ in size`);
    if (!definition.sparsification) {
      sparse.push(delta);
      contributed.push(undefined);
      continue;
    }
    const { values, kept } = sparsify(
      delta,
      definition.sparsification,
      input.densities[i] as number,
      params.rescale,
      input.randoms[i] as () => number,
      tensor,
    );
    sparse.push(values);
    contributed.push(kept);
  }

  const mixed = new Float32Array(n);
  let divisor: Float32Array | number;
  if (params.consensus) {
    const majority = electSigns(sparse, weights, params.consensus);
    const perEntry = params.normalize ? new Float32Array(n) : undefined;
    for (const [i, values] of sparse.entries()) {
      const w = weights[i] as number;
      const kept = contributed[i] ?? new Uint8Array(n).fill(1);
      for (let j = 0; j < n; j++) {
        const x = Math.fround((values[j] as number) * w);
        if (Math.sign(x) === majority[j]) {
          mixed[j] = (mixed[j] as number) + x;
          if (perEntry) perEntry[j] = (perEntry[j] as number) + w;
        } else {
          kept[j] = 0;
        }
      }
      contributed[i] = kept;
    }
    if (perEntry) for (let j = 0; j < n; j++) if (perEntry[j] === 0) perEntry[j] = 1;
    divisor = perEntry ?? 1;
  } else {
    let total = 0;
    for (const w of weights) total = Math.fround(total + w);
    divisor = Math.abs(total) < 1e-8 ? 1 : total;
    for (const [i, values] of sparse.entries()) {
      const w = weights[i] as number;
      for (let j = 0; j < n; j++) mixed[j] = (mixed[j] as number) + Math.fround((values[j] as number) * w);
    }
  }
  if (params.normalize) {
    if (typeof divisor === 'number') for (let j = 0; j < n; j++) mixed[j] = (mixed[j] as number) / divisor;
    else for (let j = 0; j < n; j++) mixed[j] = (mixed[j] as number) / (divisor[j] as number);
  }
  if (params.lambda !== 1) {
    const lambda = Math.fround(params.lambda);
    for (let j = 0; j < n; j++) mixed[j] = (mixed[j] as number) * lambda;
  }
  return { delta: mixed, contributed };
}

/**
 * The elected sign (+1 or -1) of every entry. 'sum': the sign of Σ_i w_i·δ_i; 'count': the sign of Σ_i sign(w_i·δ_i).
 * Ties (a zero sum) elect +1, as MergeKit does. An entry of an input agrees when its sign equals the elected one,
 * so zeros never agree.
 */
function electSigns(values: readonly Float32Array[], weights: readonly number[], consensus: Consensus): Int8Array {
  const n = values[0]?.length ?? 0;
  const total = new Float32Array(n);
  for (const [i, v] of values.entries()) {
    const w = weights[i] as number;
    for (let j = 0; j < n; j++) {
      const x = Math.fround((v[j] as number) * w);
      total[j] = (total[j] as number) + (consensus === 'sum' ? x : Math.sign(x));
    }
  }
  const majority = new Int8Array(n);
  for (let j = 0; j < n; j++) majority[j] = (total[j] as number) >= 0 ? 1 : -1;
  return majority;
}
