// `lota-trainer merge`: base model + N inputs (tickets or fine-tuned models) → a merged model directory or a merged
// ticket, plus the interference report. One pass over the base, tensor by tensor in the fingerprint's order: read the
// base tensor (hashing it into the fingerprint that tickets are checked against before the output is committed,
// unless spec.fingerprintCache holds a record of it for the base's unchanged files: fingerprint-cache.ts), merge,
// write, drop. `sum` and `task-arithmetic` over tickets take the sparse path (sparse.ts): the tickets' entries
// are scatter-added, nothing of a ticket is made dense, and the working memory is two of the tensors, a float32 + two
// bits of scratch per entry and the tickets' own entries. The other methods and model inputs take the dense path: peak
// working memory, for a tensor of n entries and N inputs, about (9N + 21)·n bytes (δ per input, sparsified copies and
// keep masks, base, merged, output conversion, sign-election scratch). Either way it is set by the largest tensor the
// inputs change, not by the model: a tensor no ticket touches is copied through in 8 MiB pieces. Reading the next
// base tensor overlaps the merge of this one; the fingerprint and the output's sha256 are hashed on two worker
// threads beside it (the output is laid out in the order it is written and hashed as written: its digest needs no
// second read).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { InterferenceSummary } from '@lota/api/trainer-contract';
import { Checkpoint, CheckpointWriter } from '../io/checkpoint.ts';
import { type Digest, digestPath } from '../io/digest.ts';
import { type Dtype, isFloatDtype, OUTPUT_DTYPES, type OutputDtype, type TensorArray, toFloat32 } from '../io/dtype.ts';
import { fingerprintOrder, ThreadFingerprinter } from '../lota/fingerprint.ts';
import { FingerprintCache, verifyUnchanged } from '../lota/fingerprint-cache.ts';
import { countSet, emptyMask, forEachSet, type PackedMask, setBit } from '../lota/mask.ts';
import { seededRandom } from '../lota/random.ts';
import { type Survival, SurvivalCounter } from '../lota/survival.ts';
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
  type MethodDefinition,
  mergeTensor,
  resolveParameters,
} from './methods.ts';
import { openTaskVectorSource, type TaskVector, type TaskVectorSource, TicketSource } from './sources.ts';
import { mergeSparseTensor, type SparseDelta, SparseScratch } from './sparse.ts';

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
  /**
   * A directory of recorded base fingerprints (fingerprint-cache.ts): when the base's files match a record, the
   * tickets are checked against it and the base is not hashed again; otherwise the fingerprint taken is recorded.
   */
  fingerprintCache?: string;
}

export interface MergeIo {
  /** Called after each tensor is written. */
  onTensor?: (done: number, total: number, name: string) => void;
}

export interface MergeResult {
  output: { path: string; bytes: number; sha256: string; tensors: number; changedTensors: number };
  /** How many changed entries survive in the written dtype (for a ticket output: stored δ that stay non-zero). */
  survival: Survival;
  interference: InterferenceReport;
  summary: InterferenceSummary;
  /** Elements of the largest tensor: the unit of the memory bound above. */
  largestTensor: number;
  /** The base's fingerprint, when the merge needed it, and whether it came from a record (spec.fingerprintCache). */
  baseFingerprint?: { sha256: string; recorded: boolean };
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

/** Bytes of an untouched tensor read, fingerprinted and written at a time. */
const COPY_PIECE = 8 << 20;

/**
 * One base tensor as read (in a reused buffer), with the tickets' entries of it on the sparse path; raw is undefined
 * for a tensor to be copied in pieces.
 */
interface Loaded {
  name: string;
  raw: TensorArray | undefined;
  /** Resolves once the fingerprint has taken raw's bytes (they may change from then on). */
  hashed: Promise<void> | undefined;
  inputs: (SparseDelta | undefined)[] | undefined;
}

function shared(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(bytes));
}

/** The promise, marked as handled: it is awaited later, or dropped after a failure that is already being thrown. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
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
    for (const source of sources) source.checkShapes(base);
    // One pass over the base, in the fingerprint's order, so a ticket's base is verified on the bytes the merge
    // reads anyway; the output is committed only after that check.
    const fingerprinted = sources.some((s) => s.kind === 'ticket') || spec.output.kind === 'ticket';
    let fingerprint: string | undefined;
    const cache =
      fingerprinted && spec.fingerprintCache !== undefined ? new FingerprintCache(spec.fingerprintCache) : undefined;
    const identified = cache ? await cache.lookup(base.files()) : undefined;
    const recorded = identified?.fingerprint;
    let digests: Map<string, Digest> = new Map();
    const definition: MethodDefinition = MERGE_METHODS[spec.method];
    const tickets = sources.every((s) => s instanceof TicketSource) ? (sources as TicketSource[]) : undefined;
    const sparse = definition.sparsification === undefined && definition.consensus === undefined ? tickets : undefined;

    const names = base.names();
    let largestTensor = 0;
    for (const name of names) largestTensor = Math.max(largestTensor, base.info(name).size);
    // float32 unless asked: base + δ rounded back to a bf16/f16 base's dtype erases most fine-tuning deltas.
    const dtype = spec.output.dtype ?? 'f32';
    const survival = new SurvivalCounter(OUTPUT_DTYPES[dtype].dtype);
    const sink =
      spec.output.kind === 'model'
        ? await ModelSink.create(spec.output.dir, base, dtype, spec.output.maxShardBytes, spec.baseModel, survival)
        : new TicketSink(spec.output.path, dtype, base, spec, survival);

    // A tensor no ticket touches goes out as stored (when the output keeps its dtype): copied in pieces, never held
    // whole. Two buffers for the other base tensors, used in turn: tensor i+1 is read into one while tensor i, in the
    // other, is merged; a buffer is read into again only once the write of the tensor it held has finished.
    const copied = (name: string) =>
      tickets?.every((t) => !t.shapes.has(name)) === true && sink.copies(base.info(name).dtype);
    let largestBytes = 0;
    for (const name of names) {
      if (!copied(name)) largestBytes = Math.max(largestBytes, base.info(name).end - base.info(name).begin);
    }
    // (shared memory: the hashing threads read the bytes in place)
    const buffers = [shared(largestBytes), shared(largestBytes)] as const;
    const pieces = names.some(copied) ? ([shared(COPY_PIECE), shared(COPY_PIECE)] as const) : undefined;
    // The fingerprint is hashed on a thread of its own, fed in order: tensor i's bytes (by load(i), or by copy(i) in
    // the loop) before load(i + 1) starts.
    const fingerprinter = fingerprinted && recorded === undefined ? new ThreadFingerprinter() : undefined;
    /** Copies an untouched tensor piece by piece (fingerprinted as read); returns the last piece's write, pending. */
    const copy = async (name: string): Promise<{ last: Promise<void> }> => {
      const size = base.info(name).end - base.info(name).begin;
      let offset = 0;
      let piece = 0;
      let pending: Promise<void> = Promise.resolve();
      do {
        const bytes = await base.readPart(name, offset, (pieces as readonly Uint8Array[])[piece++ & 1] as Uint8Array);
        const hashed = fingerprinter?.update(bytes);
        await pending; // the write and hashing of the piece before, from the other buffer
        pending = handled(Promise.all([sink.copy(name, bytes), hashed]).then(() => {}));
        offset += bytes.length;
      } while (offset < size);
      return { last: pending };
    };
    const order = fingerprintOrder(names);
    const load = (index: number): Promise<Loaded> => {
      const name = order[index] as string;
      if (copied(name)) return Promise.resolve({ name, raw: undefined, inputs: undefined, hashed: undefined });
      const read = base.read(name, buffers[index & 1]).then((raw) => ({
        raw,
        hashed: fingerprinter ? handled(fingerprinter.add(name, base.info(name), raw)) : undefined,
      }));
      const entries =
        sparse && isFloatDtype(base.info(name).dtype)
          ? Promise.all(sparse.map((s) => s.entries(name, base.info(name).size)))
          : undefined;
      return Promise.all([read, entries]).then(([{ raw, hashed }, inputs]) => ({ name, raw, inputs, hashed }));
    };
    const scratch = new SparseScratch();
    const perTensor = new Map<string, TensorInterference>();
    let changedTensors = 0;
    let loading: Promise<Loaded> | undefined = order.length > 0 ? handled(load(0)) : undefined;
    let writing: Promise<void> = Promise.resolve();
    try {
      for (let index = 0; index < order.length; index++) {
        const { name, raw, inputs, hashed } = await (loading as Promise<Loaded>);
        const info = base.info(name);
        await writing;
        const next = () => (index + 1 < order.length ? handled(load(index + 1)) : undefined);
        const done = () => io.onTensor?.(index + 1, names.length, name);
        // the buffer is free again once the tensor is written and fingerprinted
        const written = (promise: Promise<void>) => {
          writing = handled(Promise.all([promise, hashed]).then(done));
        };
        if (!raw) {
          // the whole copy is fed to the fingerprint before the next tensor's read can be
          fingerprinter?.begin(name, info);
          written((await copy(name)).last);
          loading = next();
          continue;
        }
        loading = next();
        if (!isFloatDtype(info.dtype)) {
          written(sink.passThrough(name, raw));
          continue;
        }
        const baseValues = toFloat32(info.dtype, raw);
        if (inputs) {
          if (inputs.every((v) => v === undefined)) {
            written(sink.unchanged(name, baseValues));
            continue;
          }
          // A model output gets θ in baseValues, in place (once the fingerprint has its bytes); survival is counted
          // on the entries that change.
          if (spec.output.kind === 'model') await hashed;
          const merged = mergeSparseTensor(
            name,
            baseValues.length,
            inputs,
            weights,
            params,
            scratch,
            spec.output.kind === 'model' ? { base: baseValues, changes: survival } : { packed: true },
          );
          perTensor.set(name, merged.interference);
          written(sink.mergedSparse(name, baseValues, merged.mask, merged.delta));
          changedTensors++;
          continue;
        }
        const vectors: (TaskVector | undefined)[] = [];
        for (const source of sources) vectors.push(await source.delta(name, baseValues));
        if (vectors.every((v) => v === undefined)) {
          written(sink.unchanged(name, baseValues));
          continue;
        }
        // one shared, read-only δ = 0 for the inputs that leave the tensor alone
        const zeros = vectors.some((v) => v === undefined) ? new Float32Array(baseValues.length) : undefined;
        const deltas = vectors.map((v) => v?.values ?? (zeros as Float32Array));
        const merged = mergeTensor(spec.method, params, {
          tensor: name,
          deltas,
          weights,
          densities,
          randoms: sources.map((_, i) => seededRandom(seedFor(params.seed, i, name))),
        });
        perTensor.set(
          name,
          tensorInterference(
            name,
            baseValues.length,
            vectors.map((v) => v?.claimed),
            vectors.map((v) => v?.values),
            weights,
            merged.contributed,
          ),
        );
        written(sink.merged(name, baseValues, merged.delta, vectors, merged.contributed));
        changedTensors++;
      }
      await writing;
      if (fingerprinter) {
        fingerprint = await fingerprinter.digest();
        if (cache && identified) await cache.record(identified, fingerprint);
      } else if (identified && recorded !== undefined) {
        // the record holds for the files as they were before the pass; they must not have changed during it
        await verifyUnchanged(identified);
        fingerprint = recorded;
      }
      if (fingerprint !== undefined) for (const source of sources) source.checkFingerprint(fingerprint);
      digests = await sink.close(fingerprint ?? '');
    } catch (error) {
      // nothing may still be writing into the files abort() removes
      await Promise.all([loading, writing].map((p) => p?.catch(() => {})));
      await fingerprinter?.close();
      await sink.abort();
      throw error;
    }

    const interference = buildReport(
      spec.inputs.map((i) => i.name),
      names.flatMap((name) => perTensor.get(name) ?? []),
    );
    if (spec.interferencePath) {
      await mkdir(dirname(spec.interferencePath), { recursive: true });
      await writeFile(spec.interferencePath, `${JSON.stringify(interference, null, 2)}\n`);
    }
    const outputPath = spec.output.kind === 'model' ? spec.output.dir : spec.output.path;
    const { bytes, sha256 } = await digestPath(outputPath, digests);
    return {
      output: { path: outputPath, bytes, sha256, tensors: names.length, changedTensors },
      survival: survival.result(),
      interference,
      summary: summarize(interference),
      largestTensor,
      ...(fingerprint !== undefined && { baseFingerprint: { sha256: fingerprint, recorded: recorded !== undefined } }),
    };
  } finally {
    await Promise.all(sources.map((s) => s.close()));
    await base.close();
  }
}

interface Sink {
  /** Whether a base tensor of this stored dtype goes out as stored, so that it can be copied in pieces (copy()). */
  copies(dtype: Dtype): boolean;
  /** The next piece of the stored bytes of a tensor no input changes. */
  copy(name: string, bytes: Uint8Array): Promise<void>;
  /** A non-float tensor, copied as stored. */
  passThrough(name: string, stored: TensorArray): Promise<void>;
  unchanged(name: string, base: Float32Array): Promise<void>;
  /** The sparse path's result: δ at the mask's entries, and θ already in `merged` for a model output. */
  mergedSparse(name: string, merged: Float32Array, mask: PackedMask, delta: Float32Array | undefined): Promise<void>;
  merged(
    name: string,
    base: Float32Array,
    delta: Float32Array,
    vectors: readonly (TaskVector | undefined)[],
    contributed: readonly (Uint8Array | undefined)[],
  ): Promise<void>;
  /**
   * Commits the output; `fingerprint` is the base's (empty when the merge did not need it). Returns the digests of
   * the files it hashed while writing them (by path relative to a model output's directory).
   */
  close(fingerprint: string): Promise<Map<string, Digest>>;
  abort(): Promise<void>;
}

/**
 * θ = fl32(θ_base + δ) for every base tensor, written as a Hugging Face model directory. The tensors are laid out in
 * the order the merge takes them (fingerprintOrder), so each shard is written front to back and hashed as it goes.
 */
class ModelSink implements Sink {
  private readonly writer: CheckpointWriter;
  private readonly survival: SurvivalCounter;

  private constructor(writer: CheckpointWriter, survival: SurvivalCounter) {
    this.writer = writer;
    this.survival = survival;
  }

  static async create(
    dir: string,
    base: Checkpoint,
    dtype: OutputDtype,
    maxShardBytes: number | undefined,
    baseDir: string,
    survival: SurvivalCounter,
  ): Promise<ModelSink> {
    const writer = await CheckpointWriter.create(
      dir,
      fingerprintOrder(base.names()).map((name) => base.info(name)),
      maxShardBytes === undefined
        ? { dtype, sideFilesFrom: baseDir, sha256: true }
        : { dtype, maxShardBytes, sideFilesFrom: baseDir, sha256: true },
    );
    return new ModelSink(writer, survival);
  }

  copies(dtype: Dtype): boolean {
    return this.writer.writtenDtype(dtype) === dtype;
  }

  copy(name: string, bytes: Uint8Array): Promise<void> {
    return this.writer.writePart(name, bytes);
  }

  passThrough(name: string, stored: TensorArray): Promise<void> {
    return this.writer.write(name, stored);
  }

  unchanged(name: string, base: Float32Array): Promise<void> {
    return this.writer.write(name, base);
  }

  merged(name: string, base: Float32Array, delta: Float32Array): Promise<void> {
    for (let i = 0; i < delta.length; i++) delta[i] = (base[i] as number) + (delta[i] as number);
    this.survival.add(base, delta);
    return this.writer.write(name, delta);
  }

  /** Survival was counted by the sparse merge itself, on the entries it changed. */
  mergedSparse(name: string, merged: Float32Array): Promise<void> {
    return this.writer.write(name, merged);
  }

  async close(): Promise<Map<string, Digest>> {
    await this.writer.close();
    return this.writer.shardDigests();
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
  private readonly spec: MergeSpec;
  private readonly survival: SurvivalCounter;

  constructor(path: string, dtype: OutputDtype, base: Checkpoint, spec: MergeSpec, survival: SurvivalCounter) {
    this.survival = survival;
    this.path = path;
    this.dtype = dtype;
    this.base = base;
    this.spec = spec;
  }

  /** A merged ticket holds only what changes: untouched tensors are read for the fingerprint alone. */
  copies(): boolean {
    return true;
  }

  async copy(): Promise<void> {}
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
    this.survival.addDeltas(values);
    this.tensors.set(name, { shape: [...this.base.info(name).shape], mask, delta: values });
  }

  async mergedSparse(
    name: string,
    _merged: Float32Array,
    mask: PackedMask,
    delta: Float32Array | undefined,
  ): Promise<void> {
    this.survival.addDeltas(delta ?? new Float32Array());
    this.tensors.set(name, { shape: [...this.base.info(name).shape], mask, delta: delta ?? new Float32Array() });
  }

  async close(fingerprint: string): Promise<Map<string, Digest>> {
    const ticket: Ticket = {
      info: {
        baseFingerprint: fingerprint,
        sparsity: 0,
        method: `merge:${this.spec.method}`,
        task: this.spec.inputs.map((i) => i.name).join('+'),
        source: `TicketMerge of ${this.spec.inputs.map((i) => i.path).join(', ')}`,
        valuesDtype: OUTPUT_DTYPES[this.dtype].dtype,
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
    return new Map();
  }

  async abort(): Promise<void> {}
}
