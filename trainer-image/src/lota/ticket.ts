// Tickets: the sparse task vector θ − θ_base of a LoTA run, as one safetensors file.
//
//   mask/<name>    U8 [⌈n/8⌉]   packed bitmask of the trained entries (see mask.ts for the bit order), or
//   index/<name>   U8 [b]       the same entries as gaps: i_0, then i_k − i_(k−1) − 1, each an unsigned LEB128
//                               varint (7 bits a byte, low bits first, high bit set on all but a value's last byte)
//   delta/<name>   <dtype> [m]  θ − θ_base at those entries, ascending index order (m = number of entries)
//   __metadata__   format "lota-ticket", format_version "2", mask_coding (JSON {name: "bitmask" | "gaps"}),
//                  base_fingerprint (fingerprint.ts), sparsity, density, trainable, total, method, task, source,
//                  values_dtype, shapes (JSON {name: shape})
//
// Each tensor's mask is stored in whichever coding is smaller: the bitmask costs n/8 bytes at any density, the gaps
// one byte per entry while gaps stay below 128 and two below 16384 — so gaps win below a density of about 1/8, and
// at density 0.01 cost ≈ 0.1 bit per parameter instead of 1. Version 1 files (bitmask only, no
// mask_coding) stay readable. python/lota_ticket.py is a reader for PyTorch.
//
// Entries outside the mask are exactly zero in the task vector, so the mask + one value per trained entry is
// the whole thing. Weights are materialised as fl32(θ_base + δ), where δ is what the file holds (rounded to its
// dtype); the train phase produces its final weights through this same function, so applying a ticket to its base
// reproduces the trained weights bit for bit.
import { stat } from 'node:fs/promises';
import { BaseModelMismatchError } from '../errors.ts';
import { allFinite, type Dtype, fromFloat32, isFloatDtype, toFloat32 } from '../io/dtype.ts';
import { InvalidArtifactError } from '../io/errors.ts';
import { SafetensorsReader, type TensorSpec, writeSafetensors } from '../io/safetensors.ts';
import { FINGERPRINT_ALGORITHM } from './fingerprint.ts';
import { countSet, emptyMask, forEachSet, maskFromBits, type PackedMask } from './mask.ts';

const TICKET_FORMAT = 'lota-ticket';
const TICKET_FORMAT_VERSION = 2;
/** Versions this trainer reads: 1 (bitmask only) and 2 (bitmask or gaps per tensor). */
const TICKET_READABLE_VERSIONS: readonly string[] = ['1', '2'];

export type MaskCoding = 'bitmask' | 'gaps';

type TicketMethod = 'lota' | 'lota-per-tensor' | 'lota-random';

export interface TicketInfo {
  baseFingerprint: string;
  sparsity: number;
  method: TicketMethod | string;
  task: string;
  /** Where it came from, e.g. `LotaAdaptation default/math`. */
  source: string;
  valuesDtype: Dtype;
}

export interface TicketTensor {
  shape: number[];
  mask: PackedMask;
  /** δ at the mask's entries in ascending index order, as float32 (already rounded through valuesDtype). */
  delta: Float32Array;
}

export interface Ticket {
  info: TicketInfo;
  tensors: Map<string, TicketTensor>;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Rounds float32 values through a storage dtype and back, so memory holds exactly what the file will. */
function roundThrough(dtype: Dtype, values: Float32Array): Float32Array {
  return dtype === 'F32' ? values : toFloat32(dtype, fromFloat32(dtype, values));
}

/**
 * δ = fl32(trained − base) at the mask's entries, rounded through valuesDtype. Throws if any entry outside the mask
 * moved: that would be a bug in the sparse phase, and a ticket must never silently drop a change.
 */
export function ticketTensor(
  name: string,
  shape: number[],
  base: Float32Array,
  trained: Float32Array,
  mask: PackedMask,
  valuesDtype: Dtype,
): TicketTensor {
  if (base.length !== trained.length || mask.size !== base.length || sizeOf(shape) !== base.length) {
    throw new Error(`${name}: base, trained weights, mask and shape disagree in size`);
  }
  const delta = new Float32Array(countSet(mask));
  let j = 0;
  let next = 0;
  forEachSet(mask, (i) => {
    for (; next < i; next++) assertUnchanged(name, base, trained, next);
    delta[j++] = (trained[i] as number) - (base[i] as number);
    next = i + 1;
  });
  for (; next < base.length; next++) assertUnchanged(name, base, trained, next);
  return { shape, mask, delta: roundThrough(valuesDtype, delta) };
}

function assertUnchanged(name: string, base: Float32Array, trained: Float32Array, i: number): void {
  if (!Object.is(base[i], trained[i])) {
    throw new Error(`internal: ${name}[${i}] changed outside the mask (${base[i]} → ${trained[i]})`);
  }
}

/** base + δ on the ticket's entries, in float32; returns a new array (base is left untouched). */
export function applyTicketTensor(name: string, base: Float32Array, tensor: TicketTensor): Float32Array {
  if (base.length !== tensor.mask.size) {
    throw new BaseModelMismatchError(
      `${name}: the ticket covers ${tensor.mask.size} entries, the base tensor has ${base.length}`,
    );
  }
  const out = base.slice();
  const delta = tensor.delta;
  let j = 0;
  forEachSet(tensor.mask, (i) => {
    out[i] = (out[i] as number) + (delta[j++] as number);
  });
  return out;
}

/** Throws BaseModelMismatchError unless every tensor the ticket adapts exists in the base with the same shape. */
export function assertTicketShapesFit(
  what: string,
  shapes: Iterable<readonly [string, readonly number[]]>,
  shapeOf: (name: string) => readonly number[] | undefined,
): void {
  for (const [name, shape] of shapes) {
    const baseShape = shapeOf(name);
    if (baseShape === undefined) throw new BaseModelMismatchError(`${what}: tensor ${name} is not in the base model`);
    if (baseShape.length !== shape.length || baseShape.some((d, i) => d !== shape[i])) {
      throw new BaseModelMismatchError(`${what}: ${name} has shape [${shape}], the base has [${baseShape}]`);
    }
  }
}

/** Throws BaseModelMismatchError unless the ticket was made for the base with this fingerprint. */
export function assertTicketFingerprint(what: string, ticketFingerprint: string, fingerprint: string): void {
  if (ticketFingerprint !== fingerprint) {
    throw new BaseModelMismatchError(
      `${what} was made for base model ${ticketFingerprint.slice(0, 16)}…, not this base (${fingerprint.slice(0, 16)}…)`,
    );
  }
}

/**
 * A ticket belongs to a base when both hold: its tensors fit (checked first: cheap) and it was made for the base's
 * fingerprint (computed only then). A merge, which streams the base anyway, checks the two apart: the shapes before
 * and the fingerprint after its one pass.
 */
export async function assertTicketFitsBase(
  what: string,
  ticket: { baseFingerprint: string; shapes: Iterable<readonly [string, readonly number[]]> },
  base: { shapeOf(name: string): readonly number[] | undefined; fingerprint(): string | Promise<string> },
): Promise<void> {
  assertTicketShapesFit(what, ticket.shapes, base.shapeOf);
  assertTicketFingerprint(what, ticket.baseFingerprint, await base.fingerprint());
}

/** A read ticket in assertTicketFitsBase's terms. */
export function ticketShapes(ticket: Ticket): { baseFingerprint: string; shapes: [string, number[]][] } {
  return { baseFingerprint: ticket.info.baseFingerprint, shapes: [...ticket.tensors].map(([n, t]) => [n, t.shape]) };
}

function ticketCounts(ticket: Pick<Ticket, 'tensors'>): { trainable: number; total: number; density: number } {
  let trainable = 0;
  let total = 0;
  for (const t of ticket.tensors.values()) {
    trainable += t.delta.length;
    total += t.mask.size;
  }
  return { trainable, total, density: total === 0 ? 0 : trainable / total };
}

export async function writeTicket(path: string, ticket: Ticket): Promise<{ bytes: number }> {
  const { info } = ticket;
  if (!isFloatDtype(info.valuesDtype)) throw new Error(`ticket values must be a float dtype, got ${info.valuesDtype}`);
  const names = [...ticket.tensors.keys()].sort();
  const tensors: (TensorSpec & { data: Uint8Array | Float32Array | Uint16Array | Float64Array })[] = [];
  const coding: Record<string, MaskCoding> = {};
  for (const name of names) {
    const t = ticket.tensors.get(name) as TicketTensor;
    const gaps = encodeGaps(t.mask);
    if (gaps.length < t.mask.bits.length) {
      coding[name] = 'gaps';
      tensors.push({ name: `index/${name}`, dtype: 'U8', shape: [gaps.length], data: gaps });
    } else {
      coding[name] = 'bitmask';
      tensors.push({ name: `mask/${name}`, dtype: 'U8', shape: [t.mask.bits.length], data: t.mask.bits });
    }
    tensors.push({ name: `delta/${name}`, dtype: info.valuesDtype, shape: [t.delta.length], data: t.delta });
  }
  const counts = ticketCounts(ticket);
  const metadata: Record<string, string> = {
    format: TICKET_FORMAT,
    format_version: String(TICKET_FORMAT_VERSION),
    mask_coding: JSON.stringify(coding),
    base_fingerprint: info.baseFingerprint,
    fingerprint_algorithm: FINGERPRINT_ALGORITHM,
    sparsity: String(info.sparsity),
    density: String(counts.density),
    trainable: String(counts.trainable),
    total: String(counts.total),
    method: info.method,
    task: info.task,
    source: info.source,
    values_dtype: info.valuesDtype,
    shapes: JSON.stringify(Object.fromEntries(names.map((n) => [n, ticket.tensors.get(n)?.shape]))),
  };
  await writeSafetensors(path, tensors, metadata);
  return { bytes: (await stat(path)).size };
}

export async function readTicket(path: string): Promise<Ticket> {
  const reader = await SafetensorsReader.open(path, { reason: 'InvalidTicket' });
  try {
    const { info, shapes } = readTicketHeader(reader);
    const tensors = new Map<string, TicketTensor>();
    for (const [name, shape] of shapes) {
      const fail = (problem: string) => ticketError(path, problem, name);
      const mask = await readTicketMask(reader, name, sizeOf(shape));
      const delta = await reader.readFloat32(`delta/${name}`);
      if (delta.length !== countSet(mask)) throw fail(`has ${delta.length} values for ${countSet(mask)} mask entries`);
      if (!allFinite(delta)) throw fail('holds a NaN or infinite delta');
      tensors.set(name, { shape, mask, delta });
    }
    return { info, tensors };
  } finally {
    await reader.close();
  }
}

function ticketError(path: string, problem: string, tensor?: string): InvalidArtifactError {
  return new InvalidArtifactError(
    path,
    problem,
    tensor === undefined ? { reason: 'InvalidTicket' } : { tensor, reason: 'InvalidTicket' },
  );
}

/**
 * Validates a ticket's header (format, version, base fingerprint, shapes, and that every listed tensor has a mask/
 * and delta/ entry of the right dtype and size, and nothing else is in the file) and returns its info and shapes.
 * The values are read later, tensor by tensor (readTicket reads them all; the merge reads one at a time).
 */
export function readTicketHeader(reader: SafetensorsReader): {
  info: TicketInfo;
  shapes: Map<string, number[]>;
  codings: Record<string, MaskCoding>;
} {
  const fail = (problem: string, tensor?: string) => ticketError(reader.path, problem, tensor);
  const meta = reader.metadata;
  if (meta.format !== TICKET_FORMAT)
    throw fail(`is not a LoTA ticket (__metadata__.format is ${JSON.stringify(meta.format)})`);
  if (!TICKET_READABLE_VERSIONS.includes(meta.format_version ?? '')) {
    throw fail(
      `has ticket format version ${meta.format_version}; this trainer reads versions ${TICKET_READABLE_VERSIONS.join(', ')}`,
    );
  }
  const codings = maskCodings(meta, fail);
  if (!meta.base_fingerprint) throw fail('has no base_fingerprint');
  let parsed: unknown;
  try {
    parsed = JSON.parse(meta.shapes ?? '');
  } catch {
    throw fail('has no valid __metadata__.shapes JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw fail('__metadata__.shapes is not an object');
  const valuesDtype = meta.values_dtype as Dtype;
  const shapes = new Map<string, number[]>();
  const expected = new Set<string>();
  for (const [name, shape] of Object.entries(parsed)) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`__metadata__.shapes entry is not a shape`, name);
    }
    const size = sizeOf(shape);
    const coding = codings[name] ?? 'bitmask';
    const maskName = `${coding === 'gaps' ? 'index' : 'mask'}/${name}`;
    const mask = reader.tensors.get(maskName);
    const delta = reader.tensors.get(`delta/${name}`);
    if (!mask || !delta) throw fail(`is listed in shapes but its ${maskName} or delta/ tensor is missing`, name);
    if (coding === 'bitmask' && (mask.dtype !== 'U8' || mask.size !== Math.ceil(size / 8))) {
      throw fail(`mask must be U8 [${Math.ceil(size / 8)}], is ${mask.dtype} [${mask.shape}]`, name);
    }
    if (coding === 'gaps' && (mask.dtype !== 'U8' || mask.shape.length !== 1)) {
      throw fail(`index must be U8 [bytes], is ${mask.dtype} [${mask.shape}]`, name);
    }
    if (delta.dtype !== valuesDtype) throw fail(`delta is ${delta.dtype}, metadata says ${valuesDtype}`, name);
    if (delta.size > size) throw fail(`has ${delta.size} values for ${size} entries`, name);
    shapes.set(name, shape);
    expected.add(maskName).add(`delta/${name}`);
  }
  for (const name of reader.tensors.keys())
    if (!expected.has(name)) throw fail('is not listed in __metadata__.shapes', name);
  return {
    info: {
      baseFingerprint: meta.base_fingerprint,
      sparsity: Number(meta.sparsity),
      method: meta.method ?? '',
      task: meta.task ?? '',
      source: meta.source ?? '',
      valuesDtype,
    },
    shapes,
    codings,
  };
}

function maskCodings(meta: Record<string, string>, fail: (problem: string) => Error): Record<string, MaskCoding> {
  if (meta.mask_coding === undefined) {
    if (meta.format_version === '1') return {};
    throw fail('has no __metadata__.mask_coding');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(meta.mask_coding);
  } catch {
    throw fail('has no valid __metadata__.mask_coding JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw fail('__metadata__.mask_coding is not an object');
  for (const [name, coding] of Object.entries(parsed)) {
    if (coding !== 'bitmask' && coding !== 'gaps')
      throw fail(`__metadata__.mask_coding of ${name} is ${JSON.stringify(coding)}, not bitmask or gaps`);
  }
  return parsed as Record<string, MaskCoding>;
}

/**
 * The mask of one tensor of an open ticket (header already validated), in either coding. A gaps-coded mask's set
 * entries are also written into `indices` in ascending order, when given (as many as fit).
 */
export async function readTicketMask(
  reader: SafetensorsReader,
  name: string,
  size: number,
  indices?: Uint32Array,
): Promise<PackedMask> {
  const gaps = reader.tensors.has(`index/${name}`);
  const bytes = (await reader.read(`${gaps ? 'index' : 'mask'}/${name}`)) as Uint8Array;
  try {
    return gaps ? decodeGaps(bytes, size, indices) : maskFromBits(bytes, size);
  } catch (error) {
    throw ticketError(reader.path, (error as Error).message, name);
  }
}

/** The mask's entries as LEB128 gaps (the `gaps` coding above). */
export function encodeGaps(mask: PackedMask): Uint8Array {
  const out: number[] = [];
  let previous = -1;
  forEachSet(mask, (i) => {
    let gap = i - previous - 1;
    previous = i;
    while (gap >= 0x80) {
      out.push((gap & 0x7f) | 0x80);
      gap = Math.floor(gap / 0x80);
    }
    out.push(gap);
  });
  return Uint8Array.from(out);
}

/** The mask of `size` entries the gaps code; its set entries also go into `indices` in order, when given. */
export function decodeGaps(bytes: Uint8Array, size: number, indices?: Uint32Array): PackedMask {
  const mask = emptyMask(size);
  const bits = mask.bits;
  const out = indices ?? new Uint32Array(0);
  let index = -1;
  let n = 0;
  let k = 0;
  while (k < bytes.length) {
    let byte = bytes[k++] as number;
    let gap = byte;
    if (byte & 0x80) {
      // a gap of 128 or more: the rare multi-byte varint, off the one-byte fast path
      gap = byte & 0x7f;
      let scale = 0x80;
      for (;;) {
        if (k === bytes.length) throw new Error('index ends inside a varint');
        byte = bytes[k++] as number;
        gap += (byte & 0x7f) * scale;
        if (!(byte & 0x80)) break;
        scale *= 0x80;
        if (scale > 2 ** 49) throw new Error('index gap is too long a varint');
      }
    }
    index += gap + 1;
    if (index >= size) throw new Error(`index ${index} is out of range for ${size} entries`);
    bits[index >> 3] = (bits[index >> 3] as number) | (1 << (index & 7));
    out[n++] = index; // (past its end, a typed array ignores the write)
  }
  return mask;
}

interface TensorStats {
  name: string;
  shape: number[];
  trainable: number;
  total: number;
  density: number;
  /** L2 norm, largest |δ| and mean |δ| over the trained entries. */
  l2: number;
  maxAbs: number;
  meanAbs: number;
}

export interface TicketStats {
  info: TicketInfo;
  tensors: TensorStats[];
  trainable: number;
  total: number;
  density: number;
  l2: number;
}

export function inspectTicket(ticket: Ticket): TicketStats {
  const tensors: TensorStats[] = [];
  let sumSq = 0;
  for (const [name, t] of [...ticket.tensors].sort(([a], [b]) => (a < b ? -1 : 1))) {
    let sq = 0;
    let maxAbs = 0;
    let sumAbs = 0;
    for (const x of t.delta) {
      sq += x * x;
      sumAbs += Math.abs(x);
      maxAbs = Math.max(maxAbs, Math.abs(x));
    }
    sumSq += sq;
    const n = t.delta.length;
    tensors.push({
      name,
      shape: t.shape,
      trainable: n,
      total: t.mask.size,
      density: t.mask.size === 0 ? 0 : n / t.mask.size,
      l2: Math.sqrt(sq),
      maxAbs,
      meanAbs: n === 0 ? 0 : sumAbs / n,
    });
  }
  return { info: ticket.info, tensors, ...ticketCounts(ticket), l2: Math.sqrt(sumSq) };
}
