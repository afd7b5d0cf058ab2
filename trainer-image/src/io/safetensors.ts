// Safetensors, written from the format spec (github.com/huggingface/safetensors, "Format"):
//   8 bytes  N, the header size, unsigned little-endian 64-bit
//   N bytes  UTF-8 JSON object: { "__metadata__"?: {string: string}, "<tensor>": {dtype, shape, data_offsets} }
//   rest     the byte buffer; data_offsets [begin, end) are relative to its start, little-endian, row-major,
//            and must cover it exactly: no holes, no overlaps.
// The reader validates the whole header on open and then reads one tensor at a time with positioned reads, so a
// checkpoint never has to fit one Buffer. The writer lays the header out first and takes tensors one at a time.
import type { BigIntStats } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import {
  DTYPE_BYTES,
  type Dtype,
  fromFloat32,
  isDtype,
  isFloatDtype,
  matchesDtype,
  type TensorArray,
  toFloat32,
  viewAs,
} from './dtype.ts';
import { type ArtifactReason, InvalidArtifactError } from './errors.ts';
import { ThreadHash } from './thread-hash.ts';

export * from './dtype.ts';
export { InvalidArtifactError } from './errors.ts';

/** Headers above this are refused before anything is allocated for them (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;
/** fs reads and writes move at most this many bytes per call (libuv caps a single call near 2 GiB). */
const IO_CHUNK = 1 << 30;

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Number of elements. */
  size: number;
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensorBytes(spec: { dtype: Dtype; shape: readonly number[] }): number {
  return elementCount(spec.shape) * DTYPE_BYTES[spec.dtype];
}

export interface OpenOptions {
  /** Reason errors carry: `InvalidModel` (default) or `InvalidTicket`. */
  reason?: ArtifactReason;
}

export class SafetensorsReader {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in file order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  private readonly file: FileHandle;
  private readonly reason: ArtifactReason;

  private constructor(
    path: string,
    file: FileHandle,
    metadata: Record<string, string>,
    tensors: Map<string, TensorInfo>,
    reason: ArtifactReason,
  ) {
    this.path = path;
    this.file = file;
    this.metadata = metadata;
    this.tensors = tensors;
    this.reason = reason;
  }

  static async open(path: string, options: OpenOptions = {}): Promise<SafetensorsReader> {
    const reason = options.reason ?? 'InvalidModel';
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (error) {
      throw ioError(path, error, reason);
    }
    try {
      const { metadata, tensors } = await readHeader(path, file, reason);
      return new SafetensorsReader(path, file, metadata, tensors, reason);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info)
      throw new InvalidArtifactError(this.path, 'no such tensor in the file', { tensor: name, reason: this.reason });
    return info;
  }

  /**
   * The tensor's bytes, exactly as stored; into the start of `into` when given (a buffer the caller reuses from
   * tensor to tensor, at least that long), else into a new array.
   */
  async readBytes(name: string, into?: Uint8Array): Promise<Uint8Array> {
    const info = this.info(name);
    const size = info.end - info.begin;
    if (into !== undefined && into.length < size) throw new RangeError(`${this.path}: buffer too small for ${name}`);
    return this.fill(name, into === undefined ? new Uint8Array(size) : into.subarray(0, size), info.begin);
  }

  /**
   * Up to `into.length` of the tensor's stored bytes from byte `offset` of its data, into the start of `into`
   * (fewer at its end): for copying a tensor in pieces.
   */
  async readPart(name: string, offset: number, into: Uint8Array): Promise<Uint8Array> {
    const info = this.info(name);
    const size = info.end - info.begin;
    if (!(offset >= 0 && offset <= size)) throw new RangeError(`${this.path}: offset ${offset} outside ${name}`);
    return this.fill(name, into.subarray(0, Math.min(into.length, size - offset)), info.begin + offset);
  }

  /** Fills `bytes` from file position `position` on, in IO_CHUNK reads; a short file is a truncated tensor. */
  private async fill(name: string, bytes: Uint8Array, position: number): Promise<Uint8Array> {
    let done = 0;
    while (done < bytes.length) {
      const length = Math.min(IO_CHUNK, bytes.length - done);
      const { bytesRead } = await this.file.read(bytes, done, length, position + done);
      if (bytesRead === 0) {
        throw new InvalidArtifactError(this.path, 'file ended inside the tensor data (truncated)', {
          tensor: name,
          reason: this.reason,
        });
      }
      done += bytesRead;
    }
    return bytes;
  }

  /** The tensor in its own dtype's typed array (F16/BF16 as raw 16-bit patterns). */
  async read(name: string, into?: Uint8Array): Promise<TensorArray> {
    const info = this.info(name);
    return viewAs(info.dtype, await this.readBytes(name, into));
  }

  /** The tensor as float32, whatever it is stored as. */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    return toFloat32(info.dtype, await this.read(name));
  }

  /** The open file's status (bigint: nanosecond times), of the file the tensors are read from. */
  stat(): Promise<BigIntStats> {
    return this.file.stat({ bigint: true });
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

async function readHeader(
  path: string,
  file: FileHandle,
  reason: ArtifactReason,
): Promise<{ metadata: Record<string, string>; tensors: Map<string, TensorInfo> }> {
  const fail = (problem: string, tensor?: string) =>
    new InvalidArtifactError(path, problem, tensor === undefined ? { reason } : { tensor, reason });
  const { size: fileSize } = await file.stat();
  if (fileSize < 8) throw fail(`file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const prefix = Buffer.alloc(8);
  await file.read(prefix, 0, 8, 0);
  const headerBytes = prefix.readBigUInt64LE(0);
  if (headerBytes > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length ${headerBytes} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  }
  const n = Number(headerBytes);
  if (n < 2) throw fail(`header length ${n} is too small for a JSON object`);
  if (8 + n > fileSize) throw fail(`header length ${n} runs past the end of the ${fileSize}-byte file`);
  const headerBuffer = Buffer.alloc(n);
  await file.read(headerBuffer, 0, n, 8);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuffer));
  } catch (error) {
    throw fail(`header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw fail('header is not a JSON object');

  const dataStart = 8 + n;
  const dataBytes = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const entries: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, fail);
      continue;
    }
    const entry = parseEntry(name, raw, fail);
    entries.push({ ...entry, begin: entry.begin + dataStart, end: entry.end + dataStart });
  }

  // The buffer must be covered exactly, in offset order: no overlaps, no holes, nothing past the end.
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const t of ordered) {
    if (t.begin < cursor) throw fail(`data_offsets overlap the previous tensor's data`, t.name);
    if (t.begin > cursor)
      throw fail(`data_offsets leave a hole of ${t.begin - cursor} bytes before this tensor`, t.name);
    if (t.end > fileSize) {
      throw fail(
        `data ends at byte ${t.end - dataStart} of the data buffer but the file holds only ${dataBytes} (truncated)`,
        t.name,
      );
    }
    cursor = t.end;
  }
  if (cursor !== fileSize) throw fail(`${fileSize - cursor} bytes after the last tensor are not claimed by any tensor`);
  return { metadata, tensors: new Map(ordered.map((t) => [t.name, t])) };
}

function parseMetadata(
  raw: unknown,
  fail: (problem: string, tensor?: string) => InvalidArtifactError,
): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('__metadata__ is not a JSON object');
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') throw fail(`__metadata__ value for '${key}' is not a string`);
    metadata[key] = value;
  }
  return metadata;
}

function parseEntry(
  name: string,
  raw: unknown,
  fail: (problem: string, tensor?: string) => InvalidArtifactError,
): TensorInfo {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('header entry is not an object', name);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (!isDtype(dtype)) throw fail(`unknown dtype ${JSON.stringify(dtype)}`, name);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw fail(`data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`, name);
  }
  const size = elementCount(shape);
  const expected = size * DTYPE_BYTES[dtype];
  const [begin, end] = offsets as [number, number];
  if (!Number.isSafeInteger(expected) || end - begin !== expected) {
    throw fail(
      `shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`,
      name,
    );
  }
  return { name, dtype, shape: shape as number[], size, begin, end };
}

function ioError(path: string, error: unknown, reason: ArtifactReason): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new InvalidArtifactError(path, 'file not found', { reason, cause: error });
  if (code === 'EISDIR') return new InvalidArtifactError(path, 'is a directory, not a file', { reason, cause: error });
  return error as Error;
}

export interface WriterOptions {
  /**
   * Hash the file as it is written, so its sha256 needs no second read: taken when the tensors are written in the
   * order they were declared (each write then continues the file where the previous one ended). The hashing runs on
   * a worker thread (ThreadHash); a write resolves once its bytes are both written and hashed.
   */
  sha256?: boolean;
}

/**
 * Writes a safetensors file whose tensors are declared up front (so the header is final) and then given one at a
 * time, in any order. Writes to `<path>.partial` and renames on `close()`, so a file at `path` is always complete.
 */
export class SafetensorsWriter {
  readonly path: string;
  private readonly file: FileHandle;
  private readonly layout: Map<string, TensorInfo>;
  private readonly pending: Set<string>;
  /** Bytes the file will hold. */
  readonly bytes: number;
  /** The running sha256 while every write has continued the file in order; undefined once one did not. */
  private hash: ThreadHash | undefined;
  private hashedTo = 0;
  private digest: string | undefined;
  /** Bytes written so far of the tensors being written in parts. */
  private readonly parts = new Map<string, number>();

  private constructor(
    path: string,
    file: FileHandle,
    layout: Map<string, TensorInfo>,
    bytes: number,
    hash: ThreadHash | undefined,
    hashedTo: number,
  ) {
    this.path = path;
    this.file = file;
    this.layout = layout;
    this.pending = new Set(layout.keys());
    this.bytes = bytes;
    this.hash = hash;
    this.hashedTo = hashedTo;
  }

  static async create(
    path: string,
    specs: readonly TensorSpec[],
    metadata: Record<string, string> = {},
    options: WriterOptions = {},
  ): Promise<SafetensorsWriter> {
    const { header, layout, bytes } = planFile(specs, metadata);
    const file = await open(`${path}.partial`, 'w');
    const hash = options.sha256 ? new ThreadHash() : undefined;
    try {
      await Promise.all([writeAll(file, header, 0), hash?.update(header)]);
      return new SafetensorsWriter(path, file, layout, bytes, hash, header.length);
    } catch (error) {
      await hash?.close();
      await file.close();
      throw error;
    }
  }

  /** sha256 (hex) of the finished file when it was hashed while written (WriterOptions.sha256), else undefined. */
  get sha256(): string | undefined {
    return this.digest;
  }

  /**
   * Writes one tensor. Float dtypes take a Float32Array (converted with round-to-nearest-even) or their own
   * typed array (F16/BF16: Uint16Array of bit patterns); other dtypes take their own typed array.
   */
  async write(name: string, data: TensorArray): Promise<void> {
    const info = this.layout.get(name);
    if (!info) throw new Error(`${this.path}: tensor '${name}' was not declared when the file was created`);
    if (this.parts.has(name)) throw new Error(`${this.path}: tensor '${name}' is being written in parts`);
    if (!this.pending.delete(name)) throw new Error(`${this.path}: tensor '${name}' was already written`);
    let array = data;
    if (!matchesDtype(info.dtype, array)) {
      if (array instanceof Float32Array && isFloatDtype(info.dtype)) array = fromFloat32(info.dtype, array);
      else throw new TypeError(`${this.path}: tensor '${name}' is ${info.dtype}; got a ${data.constructor.name}`);
    }
    if (array.length !== info.size) {
      throw new Error(`${this.path}: tensor '${name}' has ${info.size} elements; got ${array.length}`);
    }
    await this.put(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), info.begin);
  }

  /**
   * Writes the next piece of a tensor's bytes, already in its dtype (a tensor copied as stored, in pieces of any
   * size, in order); the tensor counts as written once its pieces cover it. Not to be mixed with write() for a tensor.
   */
  async writePart(name: string, bytes: Uint8Array): Promise<void> {
    const info = this.layout.get(name);
    if (!info) throw new Error(`${this.path}: tensor '${name}' was not declared when the file was created`);
    if (!this.pending.has(name)) throw new Error(`${this.path}: tensor '${name}' was already written`);
    const done = this.parts.get(name) ?? 0;
    const size = info.end - info.begin;
    if (done + bytes.length > size) {
      throw new Error(`${this.path}: tensor '${name}' has ${size} bytes; got ${done + bytes.length}`);
    }
    if (done + bytes.length === size) {
      this.pending.delete(name);
      this.parts.delete(name);
    } else {
      this.parts.set(name, done + bytes.length);
    }
    await this.put(bytes, info.begin + done);
  }

  private async put(bytes: Uint8Array, position: number): Promise<void> {
    const written = writeAll(this.file, bytes, position);
    // hashed while the thread pool copies the same (unchanging) bytes into the file
    let hashed: Promise<void> | undefined;
    if (this.hash && position === this.hashedTo) {
      hashed = this.hash.update(bytes);
      this.hashedTo = position + bytes.length;
    } else if (this.hash) {
      hashed = this.hash.close();
      this.hash = undefined;
    }
    await Promise.all([written, hashed]);
  }

  /** Finishes the file; refuses if a declared tensor was never written. */
  async close(): Promise<void> {
    await this.file.close();
    const hash = this.hash;
    this.hash = undefined;
    if (this.pending.size > 0) {
      await hash?.close();
      await rm(`${this.path}.partial`, { force: true });
      throw new Error(`${this.path}: tensors never written: ${[...this.pending].slice(0, 5).join(', ')}`);
    }
    await rename(`${this.path}.partial`, this.path);
    if (hash) this.digest = await hash.digest();
  }

  /** Gives up: closes and removes the partial file. */
  async abort(): Promise<void> {
    await this.hash?.close();
    this.hash = undefined;
    await this.file.close().catch(() => {});
    await rm(`${this.path}.partial`, { force: true });
  }
}

/** Header bytes (padded with spaces to a multiple of 8, as the reference writer does) and each tensor's range. */
function planFile(
  specs: readonly TensorSpec[],
  metadata: Record<string, string> = {},
): { header: Uint8Array; layout: Map<string, TensorInfo>; bytes: number } {
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  const relative: TensorInfo[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.name === '__metadata__' || Object.hasOwn(json, spec.name)) {
      throw new Error(`tensor name '${spec.name}' is reserved or used twice`);
    }
    const size = elementCount(spec.shape);
    const end = offset + size * DTYPE_BYTES[spec.dtype];
    json[spec.name] = { dtype: spec.dtype, shape: spec.shape, data_offsets: [offset, end] };
    relative.push({ name: spec.name, dtype: spec.dtype, shape: [...spec.shape], size, begin: offset, end });
    offset = end;
  }
  const text = JSON.stringify(json);
  const unpadded = Buffer.byteLength(text, 'utf8');
  const padded = Math.ceil(unpadded / 8) * 8;
  const header = Buffer.alloc(8 + padded, 0x20);
  header.writeBigUInt64LE(BigInt(padded), 0);
  header.write(text, 8, 'utf8');
  const dataStart = 8 + padded;
  const layout = new Map(relative.map((t) => [t.name, { ...t, begin: t.begin + dataStart, end: t.end + dataStart }]));
  return { header, layout, bytes: dataStart + offset };
}

async function writeAll(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const length = Math.min(IO_CHUNK, bytes.length - done);
    const { bytesWritten } = await file.write(bytes, done, length, position + done);
    done += bytesWritten;
  }
}

/** Convenience for small files: every tensor in memory at once. */
export async function writeSafetensors(
  path: string,
  tensors: readonly (TensorSpec & { data: TensorArray })[],
  metadata: Record<string, string> = {},
): Promise<void> {
  const writer = await SafetensorsWriter.create(path, tensors, metadata);
  try {
    for (const t of tensors) await writer.write(t.name, t.data);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.close();
}
