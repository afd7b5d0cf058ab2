// Tiny base models, tickets and fine-tuned models for the merge tests, all from a seeded generator.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint, CheckpointWriter } from '../../src/io/checkpoint.ts';
import type { Dtype } from '../../src/io/dtype.ts';
import { fingerprintCheckpoint } from '../../src/lota/fingerprint.ts';
import { maskWhere } from '../../src/lota/mask.ts';
import { seededRandom } from '../../src/lota/random.ts';
import { type TicketTensor, writeTicket } from '../../src/lota/ticket.ts';

export interface TensorDef {
  name: string;
  shape: number[];
  dtype?: Dtype;
}

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Distinct-magnitude values (no ties in |x|) with a seeded sign and scale. */
export function randomValues(n: number, seed: number, scale = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => Math.fround((random() * 2 - 1) * scale));
}

export async function writeModel(
  dir: string,
  tensors: Map<string, Float32Array>,
  defs: readonly TensorDef[],
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const writer = await CheckpointWriter.create(
    dir,
    defs.map((d) => ({ name: d.name, shape: d.shape, dtype: d.dtype ?? 'F32' })),
  );
  for (const d of defs) {
    if (d.dtype === 'I64')
      await writer.write(
        d.name,
        BigInt64Array.from({ length: size(d.shape) }, (_, i) => BigInt(i)),
      );
    else await writer.write(d.name, tensors.get(d.name) as Float32Array);
  }
  await writer.close();
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'test', dtype: 'float32' }));
}

/** A ticket of the base at `baseDir` holding `deltas` (entries where the delta is non-zero form the mask). */
export async function writeTicketFile(
  path: string,
  baseDir: string,
  deltas: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
): Promise<void> {
  const base = await Checkpoint.open(baseDir);
  const fingerprint = await fingerprintCheckpoint(base);
  await base.close();
  const tensors = new Map<string, TicketTensor>();
  for (const [name, delta] of deltas) {
    const mask = maskWhere(delta, (x) => x !== 0);
    tensors.set(name, { shape: shapes.get(name) as number[], mask, delta: delta.filter((x) => x !== 0) });
  }
  await writeTicket(path, {
    info: {
      baseFingerprint: fingerprint,
      sparsity: 0.5,
      method: 'lota',
      task: 'test',
      source: 'test',
      valuesDtype: 'F32',
    },
    tensors,
  });
}

/** A sparse delta: each entry is non-zero with probability `density`. */
export function sparseDelta(n: number, seed: number, density: number, scale = 0.1): Float32Array {
  const random = seededRandom(seed);
  const values = randomValues(n, seed + 7919, scale);
  return values.map((x) => (random() < density ? x : 0));
}
