// Task vector sources: where the per-tensor deltas δ_i = θ_i − θ_base of a merge come from. A LoTA ticket (sparse:
// packed mask + values) and a dense fine-tuned checkpoint (δ = θ_i − θ_base, computed per tensor) both yield one
// tensor's δ at a time, so a merge never holds more than the tensor it is working on.
import { stat } from 'node:fs/promises';
import { BaseModelMismatchError } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { allFinite } from '../io/dtype.ts';
import { InvalidArtifactError } from '../io/errors.ts';
import { SafetensorsReader } from '../io/safetensors.ts';
import { countSet, emptyMask, type PackedMask } from '../lota/mask.ts';
import { assertTicketFingerprint, assertTicketShapesFit, readTicketHeader, readTicketMask } from '../lota/ticket.ts';
import type { SparseDelta } from './sparse.ts';

export interface TaskVector {
  /** δ for the whole tensor, dense float32. */
  values: Float32Array;
  /** The entries this input claims: a ticket's mask, or where a dense δ is non-zero. */
  claimed: PackedMask;
}

export interface TaskVectorSource {
  readonly label: string;
  readonly path: string;
  readonly kind: 'ticket' | 'model';
  /** Throws BaseModelMismatchError unless this input's tensors fit the base (names, shapes). */
  checkShapes(base: Checkpoint): void;
  /** Throws BaseModelMismatchError unless this input was made for the base of this fingerprint (tickets say so). */
  checkFingerprint(fingerprint: string): void;
  /** δ of one base tensor; undefined when this input leaves it unchanged. */
  delta(name: string, base: Float32Array): Promise<TaskVector | undefined>;
  close(): Promise<void>;
}

/** A directory is a fine-tuned model, a file a ticket. */
export async function openTaskVectorSource(path: string, label: string): Promise<TaskVectorSource> {
  const found = await stat(path).catch(() => undefined);
  if (!found) throw new InvalidArtifactError(path, 'merge input not found', { reason: 'InvalidTicket' });
  return found.isDirectory() ? DenseModelSource.open(path, label) : TicketSource.open(path, label);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A LoTA ticket file (format: trainer-image/src/lota/ticket.ts), read one tensor's mask and values at a time. */
export class TicketSource implements TaskVectorSource {
  readonly kind = 'ticket';
  readonly label: string;
  readonly path: string;
  readonly shapes: ReadonlyMap<string, number[]>;
  private readonly reader: SafetensorsReader;

  private constructor(path: string, label: string, reader: SafetensorsReader, shapes: Map<string, number[]>) {
    this.path = path;
    this.label = label;
    this.reader = reader;
    this.shapes = shapes;
  }

  static async open(path: string, label: string): Promise<TicketSource> {
    const reader = await SafetensorsReader.open(path, { reason: 'InvalidTicket' });
    try {
      return new TicketSource(path, label, reader, readTicketHeader(reader).shapes);
    } catch (error) {
      await reader.close();
      throw error;
    }
  }

  get baseFingerprint(): string {
    return this.reader.metadata.base_fingerprint as string;
  }

  checkShapes(base: Checkpoint): void {
    assertTicketShapesFit(`ticket ${this.path}`, this.shapes, (name) =>
      base.has(name) ? base.info(name).shape : undefined,
    );
  }

  checkFingerprint(fingerprint: string): void {
    assertTicketFingerprint(`ticket ${this.path}`, this.baseFingerprint, fingerprint);
  }

  /** The ticket's mask and values of one tensor of `entries` entries; undefined when it leaves the tensor alone. */
  async entries(name: string, entries: number): Promise<SparseDelta | undefined> {
    if (!this.shapes.has(name)) return undefined;
    const fail = (problem: string) =>
      new InvalidArtifactError(this.path, problem, { tensor: name, reason: 'InvalidTicket' });
    let claimed: PackedMask;
    // a gaps-coded mask hands over its entries' indices as it is decoded: the scatter-add needs no bit scan then
    const gaps = this.reader.tensors.has(`index/${name}`);
    const indices = gaps ? new Uint32Array(this.reader.info(`delta/${name}`).size) : undefined;
    try {
      claimed = await readTicketMask(this.reader, name, entries, indices);
    } catch (error) {
      if (error instanceof InvalidArtifactError) throw error;
      throw fail((error as Error).message);
    }
    const values = await this.reader.readFloat32(`delta/${name}`);
    const count = countSet(claimed);
    if (values.length !== count) throw fail(`has ${values.length} values for ${count} mask entries`);
    if (!allFinite(values)) throw fail('holds a NaN or infinite delta');
    return indices ? { claimed, values, indices } : { claimed, values };
  }

  async delta(name: string, base: Float32Array): Promise<TaskVector | undefined> {
    const sparse = await this.entries(name, base.length);
    if (!sparse) return undefined;
    const { claimed, values: packed } = sparse;
    const values = new Float32Array(base.length);
    const bits = claimed.bits;
    let j = 0;
    for (let b = 0; b < bits.length; b++) {
      let byte = bits[b] as number;
      while (byte !== 0) {
        const low = byte & -byte;
        values[(b << 3) + 31 - Math.clz32(low)] = packed[j++] as number;
        byte ^= low;
      }
    }
    return { values, claimed };
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}

/** A dense fine-tuned model directory of the same architecture: δ = fl32(θ_i − θ_base), as MergeKit takes it. */
class DenseModelSource implements TaskVectorSource {
  readonly kind = 'model';
  readonly label: string;
  readonly path: string;
  private readonly checkpoint: Checkpoint;

  private constructor(path: string, label: string, checkpoint: Checkpoint) {
    this.path = path;
    this.label = label;
    this.checkpoint = checkpoint;
  }

  static async open(path: string, label: string): Promise<DenseModelSource> {
    return new DenseModelSource(path, label, await Checkpoint.open(path));
  }

  /** A fine-tuned model carries no fingerprint of its base; names and shapes are the check. */
  checkFingerprint(): void {}

  checkShapes(base: Checkpoint): void {
    for (const name of this.checkpoint.names()) {
      if (!base.has(name))
        throw new BaseModelMismatchError(`model ${this.path}: tensor ${name} is not in the base model`);
    }
    for (const [name, info] of base.tensors) {
      const own = this.checkpoint.tensors.get(name);
      if (!own) throw new BaseModelMismatchError(`model ${this.path}: lacks the base tensor ${name}`);
      if (!sameShape(own.shape, info.shape)) {
        throw new BaseModelMismatchError(
          `model ${this.path}: ${name} has shape [${own.shape}], the base has [${info.shape}]`,
        );
      }
    }
  }

  async delta(name: string, base: Float32Array): Promise<TaskVector | undefined> {
    // readFloat32 returns a fresh array of this tensor alone, so δ is formed in place.
    const values = await this.checkpoint.readFloat32(name);
    const claimed = emptyMask(values.length);
    const bits = claimed.bits;
    for (let i = 0; i < values.length; i++) {
      const x = (values[i] as number) - (base[i] as number);
      values[i] = x;
      if (x !== 0) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
    }
    return { values, claimed };
  }

  close(): Promise<void> {
    return this.checkpoint.close();
  }
}
