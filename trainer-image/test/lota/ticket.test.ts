import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BaseModelMismatchError } from '../../src/errors.ts';
import { Checkpoint, CheckpointWriter } from '../../src/io/checkpoint.ts';
import { writeSafetensors } from '../../src/io/safetensors.ts';
import { applyTickets } from '../../src/lota/apply.ts';
import { globalTopK } from '../../src/lota/extract.ts';
import { fingerprintCheckpoint } from '../../src/lota/fingerprint.ts';
import { countSet, forEachSet, getBit, type MaskSet } from '../../src/lota/mask.ts';
import { readMaskFile, writeMaskFile } from '../../src/lota/mask-file.ts';
import { seededRandom } from '../../src/lota/random.ts';
import {
  applyTicketTensor,
  inspectTicket,
  readTicket,
  type Ticket,
  ticketTensor,
  writeTicket,
} from '../../src/lota/ticket.ts';

function at<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw new Error(`missing ${String(key)}`);
  return value;
}
const shapeOf = (name: string): number[] => at(new Map(Object.entries(SHAPES)), name);

const dir = mkdtempSync(join(tmpdir(), 'lota-ticket-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHAPES: Record<string, number[]> = { 'a.weight': [8, 13], 'b.weight': [5, 7], 'norm.weight': [13] };

function randomArray(random: () => number, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);
}

/** A base model, a mask over its two matrices, and "trained" weights that moved only inside the mask. */
function fixture(seed: number) {
  const random = seededRandom(seed);
  const base = new Map(
    Object.entries(SHAPES).map(([n, s]) => [
      n,
      randomArray(
        random,
        s.reduce((a, b) => a * b, 1),
      ),
    ]),
  );
  const deltas = new Map(['a.weight', 'b.weight'].map((n) => [n, randomArray(random, at(base, n).length, 1e-3)]));
  const { masks } = globalTopK(new Map([...deltas].map(([n, d]) => [n, d.slice()])), 0.8);
  const trained = new Map([...base].map(([n, v]) => [n, v.slice()]));
  for (const [n, mask] of masks) {
    const t = at(trained, n);
    const d = at(deltas, n);
    forEachSet(mask, (i) => {
      t[i] = (t[i] as number) + (d[i] as number);
    });
  }
  return { base, trained, masks };
}

async function writeBase(path: string, base: Map<string, Float32Array>, dtype: 'f32' | 'bf16' = 'f32') {
  const writer = await CheckpointWriter.create(
    path,
    [...base].map(([name]) => ({ name, dtype: 'F32' as const, shape: shapeOf(name) })),
    { dtype },
  );
  for (const [name, v] of base) await writer.write(name, v);
  await writer.close();
  writeFileSync(join(path, 'config.json'), '{"model_type":"llama"}');
}

function makeTicket(
  base: Map<string, Float32Array>,
  trained: Map<string, Float32Array>,
  masks: MaskSet,
  fp: string,
  dtype: 'F32' | 'F16' | 'BF16' = 'F32',
): Ticket {
  const tensors = new Map(
    [...masks].map(([n, m]) => [n, ticketTensor(n, shapeOf(n), at(base, n), at(trained, n), m, dtype)]),
  );
  return {
    info: { baseFingerprint: fp, sparsity: 0.8, method: 'lota', task: 'unit', source: 'test', valuesDtype: dtype },
    tensors,
  };
}

describe('tickets', () => {
  it('round-trips through safetensors and applies bit-exactly to the base checkpoint', async () => {
    const { base, trained, masks } = fixture(1);
    const baseDir = join(dir, 'base1');
    await writeBase(baseDir, base);
    const ckpt = await Checkpoint.open(baseDir);
    const fp = await fingerprintCheckpoint(ckpt);
    await ckpt.close();

    const ticket = makeTicket(base, trained, masks, fp);
    const path = join(dir, 'ticket1.safetensors');
    const { bytes } = await writeTicket(path, ticket);
    const back = await readTicket(path);
    expect(back.info).toEqual(ticket.info);
    for (const [n, t] of ticket.tensors) {
      expect(at(back.tensors, n).mask.bits).toEqual(t.mask.bits);
      expect(at(back.tensors, n).delta).toEqual(t.delta);
    }
    // The trained weights are base + δ, and applying the ticket reproduces them bit for bit.
    const materialized = new Map(
      [...base].map(([n, v]) => [n, ticket.tensors.has(n) ? applyTicketTensor(n, v, at(ticket.tensors, n)) : v]),
    );
    for (const [n, v] of trained) expect(Buffer.from(at(materialized, n).buffer)).toEqual(Buffer.from(v.buffer));

    const out = join(dir, 'applied1');
    const { changed } = await applyTickets(baseDir, [path], out);
    expect(changed).toBe(countSet(at(masks, 'a.weight')) + countSet(at(masks, 'b.weight')));
    const applied = await Checkpoint.open(out);
    for (const [n, v] of trained)
      expect(Buffer.from((await applied.readFloat32(n)).buffer)).toEqual(Buffer.from(v.buffer));
    await applied.close();

    const stats = inspectTicket(back);
    expect(stats.trainable).toBe(changed);
    expect(stats.total).toBe(8 * 13 + 5 * 7);
    expect(stats.tensors.map((t) => t.name)).toEqual(['a.weight', 'b.weight']);
    expect(bytes).toBeGreaterThan(0);
  });

  it('refuses a ticket made for another base model', async () => {
    const one = fixture(2);
    const other = fixture(3);
    const baseDir = join(dir, 'base2');
    const otherDir = join(dir, 'other2');
    await writeBase(baseDir, one.base);
    await writeBase(otherDir, other.base);
    const ckpt = await Checkpoint.open(baseDir);
    const path = join(dir, 'ticket2.safetensors');
    await writeTicket(path, makeTicket(one.base, one.trained, one.masks, await fingerprintCheckpoint(ckpt)));
    await ckpt.close();
    await expect(applyTickets(otherDir, [path], join(dir, 'never'))).rejects.toBeInstanceOf(BaseModelMismatchError);
    // Same weights stored in another dtype are another base, too.
    const bf16Dir = join(dir, 'bf16');
    await writeBase(bf16Dir, one.base, 'bf16');
    await expect(applyTickets(bf16Dir, [path], join(dir, 'never'))).rejects.toThrow(/made for base model/);
  });

  it('stores f16 values rounded, and the in-memory ticket already holds exactly what the file holds', async () => {
    const { base, trained, masks } = fixture(4);
    const ticket = makeTicket(base, trained, masks, 'x'.repeat(64), 'F16');
    const path = join(dir, 'ticket-f16.safetensors');
    await writeTicket(path, ticket);
    const back = await readTicket(path);
    for (const [n, t] of ticket.tensors) expect(at(back.tensors, n).delta).toEqual(t.delta);
    expect(back.info.valuesDtype).toBe('F16');
  });

  it('refuses to build a ticket when weights moved outside the mask', () => {
    const { base, trained, masks } = fixture(5);
    const a = at(trained, 'a.weight');
    const mask = at(masks, 'a.weight');
    let outside = 0;
    while (getBit(mask, outside)) outside++;
    a[outside] = (a[outside] as number) + 1;
    expect(() => ticketTensor('a.weight', shapeOf('a.weight'), at(base, 'a.weight'), a, mask, 'F32')).toThrow(
      /outside the mask/,
    );
  });

  it('rejects files that are not tickets, with the file and the reason', async () => {
    const notTicket = join(dir, 'plain.safetensors');
    await writeSafetensors(notTicket, [{ name: 'x', dtype: 'F32', shape: [1], data: Float32Array.from([1]) }]);
    await expect(readTicket(notTicket)).rejects.toThrow(/plain.safetensors: is not a LoTA ticket/);
    const { base, trained, masks } = fixture(6);
    const ticket = makeTicket(base, trained, masks, 'f'.repeat(64));
    const path = join(dir, 'short.safetensors');
    const broken = new Map(ticket.tensors);
    const a = at(broken, 'a.weight');
    broken.set('a.weight', { ...a, delta: a.delta.subarray(1) });
    await writeTicket(path, { ...ticket, tensors: broken });
    await expect(readTicket(path)).rejects.toThrow(/tensor 'a.weight': has \d+ values for \d+ mask entries/);
    await expect(readTicket(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing.safetensors/);
  });

  it('round-trips mask files', async () => {
    const { masks } = fixture(7);
    const path = join(dir, 'mask.safetensors');
    await writeMaskFile(path, masks, {
      baseFingerprint: 'b'.repeat(64),
      sparsity: 0.8,
      selection: 'global',
      threshold: 0.5,
      shapes: SHAPES,
    });
    const back = await readMaskFile(path);
    expect(back.info.threshold).toBe(0.5);
    for (const [n, m] of masks) expect(at(back.masks, n).bits).toEqual(m.bits);
  });
});
