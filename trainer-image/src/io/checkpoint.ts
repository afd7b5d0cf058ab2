// A Hugging Face model directory: `model.safetensors`, or shards `model-0000i-of-0000n.safetensors` listed by
// `model.safetensors.index.json` ({metadata: {total_size}, weight_map: {tensor: shard}}), next to config.json and
// the tokenizer files. Tensors are read one at a time by their HF name; writing takes them one at a time too.
import type { BigIntStats } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Digest } from './digest.ts';
import { type Dtype, isFloatDtype, OUTPUT_DTYPES, type OutputDtype, type TensorArray } from './dtype.ts';
import { type ArtifactReason, InvalidArtifactError } from './errors.ts';
import { type OpenOptions, SafetensorsReader, SafetensorsWriter, type TensorInfo, tensorBytes } from './safetensors.ts';

const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
/** Files copied next to the weights when present: what `transformers` needs to load the model and its tokenizer. */
const SIDE_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
] as const;

export interface CheckpointTensor extends TensorInfo {
  /** Shard file holding it. */
  file: string;
}

/** Read side: every shard's header is validated on open; tensor data is read on demand. */
export class Checkpoint {
  readonly dir: string;
  /** Tensors in index order (shard by shard, file order within a shard). */
  readonly tensors: ReadonlyMap<string, CheckpointTensor>;
  private readonly shards: Map<string, SafetensorsReader>;
  private readonly reason: ArtifactReason;

  private constructor(
    dir: string,
    shards: Map<string, SafetensorsReader>,
    tensors: Map<string, CheckpointTensor>,
    reason: ArtifactReason,
  ) {
    this.dir = dir;
    this.shards = shards;
    this.tensors = tensors;
    this.reason = reason;
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<Checkpoint> {
    const reason = options.reason ?? 'InvalidModel';
    const shardNames = await listShards(dir, reason);
    const shards = new Map<string, SafetensorsReader>();
    const tensors = new Map<string, CheckpointTensor>();
    try {
      for (const [file, expected] of shardNames) {
        const reader = await SafetensorsReader.open(join(dir, file), { reason });
        shards.set(file, reader);
        for (const info of reader.tensors.values()) {
          const other = tensors.get(info.name);
          if (other) {
            throw new InvalidArtifactError(reader.path, `also stored in ${other.file}`, { tensor: info.name, reason });
          }
          if (expected && !expected.has(info.name)) {
            throw new InvalidArtifactError(join(dir, INDEX_FILE), `weight_map does not list it (found in ${file})`, {
              tensor: info.name,
              reason,
            });
          }
          tensors.set(info.name, { ...info, file });
        }
        for (const name of expected ?? []) {
          if (!reader.tensors.has(name)) {
            throw new InvalidArtifactError(reader.path, `${INDEX_FILE} maps this tensor here but the shard lacks it`, {
              tensor: name,
              reason,
            });
          }
        }
      }
    } catch (error) {
      await Promise.all([...shards.values()].map((s) => s.close()));
      throw error;
    }
    return new Checkpoint(dir, shards, tensors, reason);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): CheckpointTensor {
    const info = this.tensors.get(name);
    if (!info)
      throw new InvalidArtifactError(this.dir, 'no such tensor in the checkpoint', {
        tensor: name,
        reason: this.reason,
      });
    return info;
  }

  private shard(name: string): SafetensorsReader {
    return this.shards.get(this.info(name).file) as SafetensorsReader;
  }

  /** The tensor in its own dtype's typed array; `into`: see SafetensorsReader.readBytes. */
  read(name: string, into?: Uint8Array): Promise<TensorArray> {
    return this.shard(name).read(name, into);
  }

  /** See SafetensorsReader.readPart. */
  readPart(name: string, offset: number, into: Uint8Array): Promise<Uint8Array> {
    return this.shard(name).readPart(name, offset, into);
  }

  readFloat32(name: string): Promise<Float32Array> {
    return this.shard(name).readFloat32(name);
  }

  /** The shard files as opened: their paths and the status of the open files (what the tensors are read from). */
  files(): { path: string; stat(): Promise<BigIntStats> }[] {
    return [...this.shards.values()].map((reader) => ({ path: reader.path, stat: () => reader.stat() }));
  }

  /** config.json, parsed; undefined when absent. */
  async config(): Promise<Record<string, unknown> | undefined> {
    const path = join(this.dir, 'config.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        return parsed as Record<string, unknown>;
    } catch {}
    throw new InvalidArtifactError(path, 'is not a JSON object', { reason: this.reason });
  }

  async close(): Promise<void> {
    await Promise.all([...this.shards.values()].map((s) => s.close()));
  }
}

/** Shard files of a model directory, each with the tensor names the index assigns it (undefined: no index). */
async function listShards(dir: string, reason: ArtifactReason): Promise<Map<string, Set<string> | undefined>> {
  const indexPath = join(dir, INDEX_FILE);
  let indexText: string | undefined;
  try {
    indexText = await readFile(indexPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new InvalidArtifactError(dir, 'is not a directory', { reason });
    if (code !== 'ENOENT') throw error;
  }
  if (indexText === undefined) {
    const single = join(dir, SINGLE_FILE);
    const found = await stat(single).catch(() => undefined);
    if (!found?.isFile()) {
      const exists = await stat(dir).catch(() => undefined);
      throw new InvalidArtifactError(
        dir,
        exists ? `has neither ${SINGLE_FILE} nor ${INDEX_FILE}` : 'directory not found',
        {
          reason,
        },
      );
    }
    return new Map([[SINGLE_FILE, undefined]]);
  }
  const fail = (problem: string, tensor?: string) =>
    new InvalidArtifactError(indexPath, problem, tensor === undefined ? { reason } : { tensor, reason });
  let index: unknown;
  try {
    index = JSON.parse(indexText);
  } catch (error) {
    throw fail(`is not valid JSON (${(error as Error).message})`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw fail('has no weight_map object');
  }
  const shards = new Map<string, Set<string>>();
  for (const [name, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || file === '' || basename(file) !== file || file === '.' || file === '..') {
      throw fail(`weight_map entry ${JSON.stringify(file)} is not a file name in the directory`, name);
    }
    let names = shards.get(file);
    if (!names) {
      const found = await stat(join(dir, file)).catch(() => undefined);
      if (!found?.isFile()) throw fail(`shard ${file} is missing`, name);
      names = new Set();
      shards.set(file, names);
    }
    names.add(name);
  }
  if (shards.size === 0) throw fail('weight_map is empty');
  return shards;
}

export interface CheckpointWriteOptions {
  /** Dtype of floating-point tensors; integer and bool tensors keep theirs. Default f32. */
  dtype?: OutputDtype;
  /** Largest shard in bytes (a single tensor larger than this gets a shard of its own). Default 5 GB, as HF. */
  maxShardBytes?: number;
  /** Directory whose config.json and tokenizer files are copied over. */
  sideFilesFrom?: string;
  /** Stored in every shard's `__metadata__`, after `format: pt` (which `transformers` expects). */
  metadata?: Record<string, string>;
  /** Hash each shard as it is written (see WriterOptions.sha256); their digests are then in `shardDigests()`. */
  sha256?: boolean;
}

const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/**
 * Writes a model directory. Tensors are declared up front (to plan the shards) and written one at a time as
 * float32 (converted to the output dtype) or in their stored dtype. Files appear in `dir` only on `close()`.
 */
export class CheckpointWriter {
  readonly dir: string;
  readonly dtype: OutputDtype;
  private readonly writers: Map<string, SafetensorsWriter>;
  private readonly shardOf: Map<string, string>;
  private readonly sideFilesFrom: string | undefined;
  private readonly totalSize: number;

  private constructor(
    dir: string,
    dtype: OutputDtype,
    writers: Map<string, SafetensorsWriter>,
    shardOf: Map<string, string>,
    sideFilesFrom: string | undefined,
    totalSize: number,
  ) {
    this.dir = dir;
    this.dtype = dtype;
    this.writers = writers;
    this.shardOf = shardOf;
    this.sideFilesFrom = sideFilesFrom;
    this.totalSize = totalSize;
  }

  static async create(
    dir: string,
    tensors: readonly { name: string; dtype: Dtype; shape: readonly number[] }[],
    options: CheckpointWriteOptions = {},
  ): Promise<CheckpointWriter> {
    const dtype = options.dtype ?? 'f32';
    const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
    if (!(maxShardBytes > 0)) throw new RangeError(`maxShardBytes must be positive, got ${maxShardBytes}`);
    const specs = tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      dtype: isFloatDtype(t.dtype) ? OUTPUT_DTYPES[dtype].dtype : t.dtype,
    }));
    const groups = planShards(specs, maxShardBytes);
    const metadata = { format: 'pt', ...options.metadata };
    await mkdir(dir, { recursive: true });
    const writers = new Map<string, SafetensorsWriter>();
    const shardOf = new Map<string, string>();
    let totalSize = 0;
    try {
      for (const [i, group] of groups.entries()) {
        const file = groups.length === 1 ? SINGLE_FILE : shardFileName(i + 1, groups.length);
        const writer = await SafetensorsWriter.create(join(dir, file), group, metadata, { sha256: options.sha256 });
        writers.set(file, writer);
        for (const spec of group) {
          shardOf.set(spec.name, file);
          totalSize += tensorBytes(spec);
        }
      }
    } catch (error) {
      await Promise.all([...writers.values()].map((w) => w.abort()));
      throw error;
    }
    return new CheckpointWriter(dir, dtype, writers, shardOf, options.sideFilesFrom, totalSize);
  }

  write(name: string, data: TensorArray): Promise<void> {
    const file = this.shardOf.get(name);
    if (!file) throw new Error(`${this.dir}: tensor '${name}' was not declared`);
    return (this.writers.get(file) as SafetensorsWriter).write(name, data);
  }

  /** See SafetensorsWriter.writePart. */
  writePart(name: string, bytes: Uint8Array): Promise<void> {
    const file = this.shardOf.get(name);
    if (!file) throw new Error(`${this.dir}: tensor '${name}' was not declared`);
    return (this.writers.get(file) as SafetensorsWriter).writePart(name, bytes);
  }

  /** The dtype a tensor of stored dtype `dtype` is written in here. */
  writtenDtype(dtype: Dtype): Dtype {
    return isFloatDtype(dtype) ? OUTPUT_DTYPES[this.dtype].dtype : dtype;
  }

  /**
   * After close(): the digest of each shard file (by its name in `dir`) that was hashed while written, for
   * digestPath to take instead of reading the file again.
   */
  shardDigests(): Map<string, Digest> {
    const digests = new Map<string, Digest>();
    for (const [file, writer] of this.writers) {
      if (writer.sha256 !== undefined) digests.set(file, { sha256: writer.sha256, bytes: writer.bytes });
    }
    return digests;
  }

  /** Finishes the shards, writes the index (when sharded) and copies config and tokenizer files. */
  async close(): Promise<void> {
    for (const writer of this.writers.values()) await writer.close();
    if (this.writers.size > 1) {
      const index = {
        metadata: { total_size: this.totalSize },
        weight_map: Object.fromEntries([...this.shardOf].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      };
      await writeFile(join(this.dir, `${INDEX_FILE}.partial`), `${JSON.stringify(index, null, 2)}\n`);
      await rename(join(this.dir, `${INDEX_FILE}.partial`), join(this.dir, INDEX_FILE));
    } else {
      await rm(join(this.dir, INDEX_FILE), { force: true });
    }
    if (this.sideFilesFrom !== undefined) await copySideFiles(this.sideFilesFrom, this.dir, this.dtype);
  }

  async abort(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.abort()));
  }
}

export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index)}-of-${pad(count)}.safetensors`;
}

/** Greedy in declaration order, as `transformers` shards: start a new shard when the next tensor would overflow. */
export function planShards<T extends { dtype: Dtype; shape: readonly number[] }>(
  specs: readonly T[],
  maxBytes: number,
): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const spec of specs) {
    const bytes = tensorBytes(spec);
    if (current.length > 0 && currentBytes + bytes > maxBytes) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(spec);
    currentBytes += bytes;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  return groups;
}

/** Copies config.json (with its dtype field set to the written dtype) and the tokenizer files that exist. */
export async function copySideFiles(from: string, to: string, dtype?: OutputDtype): Promise<string[]> {
  const copied: string[] = [];
  for (const file of SIDE_FILES) {
    const source = join(from, file);
    if (!(await stat(source).catch(() => undefined))?.isFile()) continue;
    if (file === 'config.json' && dtype !== undefined) {
      let config: Record<string, unknown>;
      try {
        config = JSON.parse(await readFile(source, 'utf8'));
      } catch (error) {
        throw new InvalidArtifactError(source, `is not valid JSON (${(error as Error).message})`);
      }
      // transformers 5 writes `dtype`, earlier versions `torch_dtype`; keep whichever the source used.
      const key = 'torch_dtype' in config && !('dtype' in config) ? 'torch_dtype' : 'dtype';
      config[key] = OUTPUT_DTYPES[dtype].torch;
      await writeFile(join(to, file), `${JSON.stringify(config, null, 2)}\n`);
    } else {
      await copyFile(source, join(to, file));
    }
    copied.push(file);
  }
  return copied;
}
