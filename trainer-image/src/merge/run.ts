import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { InterferenceSummary } from '@lota/api/trainer-contract';
import { Checkpoint, CheckpointWriter } from '../io/checkpoint.ts';
import { digestPath } from '../io/digest.ts';
import { isFloatDtype, type OutputDtype } from '../io/dtype.ts';
import { baseOutputDtype } from '../lota/apply.ts';
import { fingerprintCheckpoint } from '../lota/fingerprint.ts';
import { countSet, emptyMask, forEachSet, type PackedMask, setBit } from '../lota/mask.ts';
import { seededRandom } from '../lota/random.ts';
import { type Ticket, type TicketTensor, writeTicket } from '../lota/ticket.ts';
import {
  buildReport,
  type InterferenceReport,
  summarize,
  type TensorInterference,
  tensorInterference,
} from './interference.ts';
import {
  isMergeMethod,
  MERGE_METHODS,
  type MergeMethodName,
  type MergeParameters,
  mergeTensor,
  resolveParameters,
} from './methods.ts';
import { openTaskVectorSource, type TaskVector, type TaskVectorSource } from './sources.ts';

interface MergeInputSpec {
  /** Label in reports. */
  name: string;
  /** A ticket file or a fine-tuned model directory. */
  path: string;
  /** w_i, default 1. */
  weight?: number;
  /** Overrides parameters.density for this input (ties, dare-*). */
  density?: number;
}

type MergeOutputSpec =
  | { kind: 'model'; dir: string; dtype?: OutputDtype; maxShardBytes?: number }
  | { kind: 'ticket'; path: string; dtype?: OutputDtype };

export interface MergeSpec {
  method: MergeMethodName;
  baseModel: string;
  inputs: MergeInputSpec[];
  parameters?: MergeParameters;
  output: MergeOutputSpec;
  /** Where interference.json goes (optional). */
  interferencePath?: string;
}

export interface MergeIo {
  /** Called after each tensor is written. */
  onTensor?: (done: number, total: number, name: string) => void;
}

export interface MergeResult {
  output: { path: string; bytes: number; sha256: string; tensors: number; changedTensors: number };
  interference: InterferenceReport;
  summary: InterferenceSummary;
  /** Elements of the largest tensor: the unit of the memory bound above. */
  largestTensor: number;
}

/** The spec is impossible as written (exit code 10 through the CLI). */
export class MergeSpecError extends Error {
  override readonly name = 'MergeSpecError';
}

function validateMergeSpec(spec: MergeSpec): void {
  if (!isMergeMethod(spec.method)) {
    throw new MergeSpecError(`unknown merge method '${spec.method}' (known: ${Object.keys(MERGE_METHODS).join(', ')})`);
  }
  if (spec.inputs.length === 0) throw new MergeSpecError('a merge needs at least one input');
  const names = new Set<string>();
  for (const input of spec.inputs) {
    if (names.has(input.name)) throw new MergeSpecError(`input name '${input.name}' is used twice`);
    names.add(input.name);
    if (input.weight !== undefined && !Number.isFinite(input.weight)) {
      throw new MergeSpecError(`input '${input.name}': weight must be a finite number`);
    }
  }
  const outputPath = resolve(spec.output.kind === 'model' ? spec.output.dir : spec.output.path);
  for (const path of [spec.baseModel, ...spec.inputs.map((i) => i.path)]) {
    if (resolve(path) === outputPath) throw new MergeSpecError(`the output ${outputPath} would overwrite an input`);
  }
  const definition = MERGE_METHODS[spec.method];
  const sparsifies = definition.sparsification !== undefined;
  for (const input of spec.inputs) {
    const density = input.density ?? spec.parameters?.density;
    if (!sparsifies && input.density !== undefined) {
      throw new MergeSpecError(`input '${input.name}': density does not apply to method ${spec.method}`);
    }
    if (sparsifies && density === undefined) throw new MergeSpecError(`method ${spec.method} needs a density`);
    if (density !== undefined && !(density > 0 && density <= 1)) {
      throw new MergeSpecError(`input '${input.name}': density must be in (0, 1], got ${density}`);
    }
  }
  try {
    resolveParameters(spec.method, spec.parameters);
  } catch (error) {
    throw new MergeSpecError((error as Error).message);
  }
}

/** 32-bit FNV-1a: a stable seed per (merge seed, input, tensor), so the drop pattern is independent of order. */
function seedFor(seed: number, input: number, tensor: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}\u0000${input}\u0000${tensor}`) {
    h ^= ch.codePointAt(0) as number;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export async function runMerge(spec: MergeSpec, io: MergeIo = {}): Promise<MergeResult> {
  validateMergeSpec(spec);
  const params = resolveParameters(spec.method, spec.parameters);
  const weights = spec.inputs.map((input) => input.weight ?? 1);
  const densities = spec.inputs.map((input) => input.density ?? spec.parameters?.density ?? 1);
  const base = await Checkpoint.open(spec.baseModel);
  const sources: TaskVectorSource[] = [];
  try {
    for (const input of spec.inputs) sources.push(await openTaskVectorSource(input.path, input.name));
    let fingerprint: Promise<string> | undefined;
    const baseFingerprint = () => {
      fingerprint ??= fingerprintCheckpoint(base);
      return fingerprint;
    };
    for (const source of sources) await source.check(base, baseFingerprint);

    const names = base.names();
    let largestTensor = 0;
    for (const name of names) largestTensor = Math.max(largestTensor, base.info(name).size);
    const dtype = spec.output.dtype ?? baseOutputDtype(base);
    const sink =
      spec.output.kind === 'model'
        ? await ModelSink.create(spec.output.dir, base, dtype, spec.output.maxShardBytes, spec.baseModel)
        : new TicketSink(spec.output.path, dtype, base, await baseFingerprint(), spec);

    const perTensor: TensorInterference[] = [];
    let changedTensors = 0;
    try {
      for (const [index, name] of names.entries()) {
        const info = base.info(name);
        if (!isFloatDtype(info.dtype)) {
          await sink.passThrough(name);
          io.onTensor?.(index + 1, names.length, name);
          continue;
        }
        const baseValues = await base.readFloat32(name);
        const vectors: (TaskVector | undefined)[] = [];
        for (const source of sources) vectors.push(await source.delta(name, baseValues));
        if (vectors.every((v) => v === undefined)) {
          await sink.unchanged(name, baseValues);
          io.onTensor?.(index + 1, names.length, name);
          continue;
        }
        const deltas = vectors.map((v) => v?.values ?? new Float32Array(baseValues.length));
        const merged = mergeTensor(spec.method, params, {
          tensor: name,
          deltas,
          weights,
          densities,
          randoms: sources.map((_, i) => seededRandom(seedFor(params.seed, i, name))),
        });
        perTensor.push(
          tensorInterference(
            name,
            baseValues.length,
            vectors.map((v) => v?.claimed),
            vectors.map((v) => v?.values),
            weights,
            merged.contributed,
          ),
        );
        await sink.merged(name, baseValues, merged.delta, vectors, merged.contributed);
        changedTensors++;
        io.onTensor?.(index + 1, names.length, name);
      }
      await sink.close();
    } catch (error) {
      await sink.abort();
      throw error;
    }

    const interference = buildReport(
      spec.inputs.map((i) => i.name),
      perTensor,
    );
    if (spec.interferencePath) {
      await mkdir(dirname(spec.interferencePath), { recursive: true });
      await writeFile(spec.interferencePath, `${JSON.stringify(interference, null, 2)}\n`);
    }
    const outputPath = spec.output.kind === 'model' ? spec.output.dir : spec.output.path;
    const { bytes, sha256 } = await digestPath(outputPath);
    return {
      output: { path: outputPath, bytes, sha256, tensors: names.length, changedTensors },
      interference,
      summary: summarize(interference),
      largestTensor,
    };
  } finally {
    await Promise.all(sources.map((s) => s.close()));
    await base.close();
  }
}

interface Sink {
  /** A non-float tensor, copied as stored. */
  passThrough(name: string): Promise<void>;
  unchanged(name: string, base: Float32Array): Promise<void>;
  merged(
    name: string,
    base: Float32Array,
    delta: Float32Array,
    vectors: readonly (TaskVector | undefined)[],
    contributed: readonly (Uint8Array | undefined)[],
  ): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** θ = fl32(θ_base + δ) for every base tensor, written as a Hugging Face model directory. */
class ModelSink implements Sink {
  private readonly writer: CheckpointWriter;
  private readonly base: Checkpoint;

  private constructor(writer: CheckpointWriter, base: Checkpoint) {
    this.writer = writer;
    this.base = base;
  }

  static async create(
    dir: string,
    base: Checkpoint,
    dtype: OutputDtype,
    maxShardBytes: number | undefined,
    baseDir: string,
  ): Promise<ModelSink> {
    const writer = await CheckpointWriter.create(
      dir,
      base.names().map((name) => base.info(name)),
      maxShardBytes === undefined
        ? { dtype, sideFilesFrom: baseDir }
        : { dtype, maxShardBytes, sideFilesFrom: baseDir },
    );
    return new ModelSink(writer, base);
  }

  async passThrough(name: string): Promise<void> {
    await this.writer.write(name, await this.base.read(name));
  }

  unchanged(name: string, base: Float32Array): Promise<void> {
    return this.writer.write(name, base);
  }

  merged(name: string, base: Float32Array, delta: Float32Array): Promise<void> {
    for (let i = 0; i < delta.length; i++) delta[i] = (base[i] as number) + (delta[i] as number);
    return this.writer.write(name, delta);
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  abort(): Promise<void> {
    return this.writer.abort();
  }
}

/**
 * The merged task vector as a ticket: its mask is every entry some input contributed, its values the merged δ
 * there. Held in memory until written (a ticket is the sparse part only: 1 bit per parameter plus its values).
 */
class TicketSink implements Sink {
  private readonly tensors = new Map<string, TicketTensor>();
  private readonly path: string;
  private readonly dtype: OutputDtype;
  private readonly base: Checkpoint;
  private readonly baseFingerprint: string;
  private readonly spec: MergeSpec;

  constructor(path: string, dtype: OutputDtype, base: Checkpoint, baseFingerprint: string, spec: MergeSpec) {
    this.path = path;
    this.dtype = dtype;
    this.base = base;
    this.baseFingerprint = baseFingerprint;
    this.spec = spec;
  }

  async passThrough(): Promise<void> {}
  async unchanged(): Promise<void> {}

  async merged(
    name: string,
    _base: Float32Array,
    delta: Float32Array,
    vectors: readonly (TaskVector | undefined)[],
    contributed: readonly (Uint8Array | undefined)[],
  ): Promise<void> {
    const mask: PackedMask = emptyMask(delta.length);
    for (const [i, vector] of vectors.entries()) {
      if (!vector) continue;
      const kept = contributed[i];
      for (let b = 0; b < mask.bits.length; b++) {
        const claimed = vector.claimed.bits[b] as number;
        if (claimed === 0) continue;
        if (!kept) {
          mask.bits[b] = (mask.bits[b] as number) | claimed;
          continue;
        }
        for (let bit = 0; bit < 8; bit++) {
          const j = b * 8 + bit;
          if ((claimed >> bit) & 1 && kept[j]) setBit(mask, j);
        }
      }
    }
    const values = new Float32Array(countSet(mask));
    let k = 0;
    forEachSet(mask, (j) => {
      values[k++] = delta[j] as number;
    });
    this.tensors.set(name, { shape: [...this.base.info(name).shape], mask, delta: values });
  }

  async close(): Promise<void> {
    const ticket: Ticket = {
      info: {
        baseFingerprint: this.baseFingerprint,
        sparsity: 0,
        method: `merge:${this.spec.method}`,
        task: this.spec.inputs.map((i) => i.name).join('+'),
        source: `TicketMerge of ${this.spec.inputs.map((i) => i.path).join(', ')}`,
        valuesDtype: ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[this.dtype],
      },
      tensors: this.tensors,
    };
    let trainable = 0;
    let total = 0;
    for (const t of this.tensors.values()) {
      trainable += t.delta.length;
      total += t.mask.size;
    }
    ticket.info.sparsity = total === 0 ? 1 : 1 - trainable / total;
    await mkdir(dirname(this.path), { recursive: true });
    await writeTicket(this.path, ticket);
  }

  async abort(): Promise<void> {}
}
