// Mask coding of tickets: LEB128 gaps at high sparsity, the bitmask when denser (the file says which), version-1
// files still readable, and python/lota_ticket.py reading the same entries and values as our reader.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsReader, writeSafetensors } from '../../src/io/safetensors.ts';
import { emptyMask, forEachSet, type PackedMask, setBit } from '../../src/lota/mask.ts';
import { seededRandom } from '../../src/lota/random.ts';
import { decodeGaps, encodeGaps, readTicket, type Ticket, writeTicket } from '../../src/lota/ticket.ts';
import { python } from '../helpers/python.ts';

const dir = mkdtempSync(join(tmpdir(), 'lota-ticket-coding-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const READER = fileURLToPath(new URL('../../../python/lota_ticket.py', import.meta.url));

function randomMask(size: number, density: number, seed: number): PackedMask {
  const random = seededRandom(seed);
  const mask = emptyMask(size);
  for (let i = 0; i < size; i++) if (random() < density) setBit(mask, i);
  return mask;
}

function indices(mask: PackedMask): number[] {
  const out: number[] = [];
  forEachSet(mask, (i) => out.push(i));
  return out;
}

function ticketOf(
  masks: Record<string, PackedMask>,
  seed: number,
  valuesDtype: 'F32' | 'F16' | 'BF16' = 'F32',
): Ticket {
  const random = seededRandom(seed);
  return {
    info: { baseFingerprint: 'f'.repeat(64), sparsity: 0.9, method: 'lota', task: 't', source: 'test', valuesDtype },
    tensors: new Map(
      Object.entries(masks).map(([name, mask]) => {
        const n = indices(mask).length;
        const delta = Float32Array.from({ length: n }, () => (random() - 0.5) * 1e-3);
        return [name, { shape: [mask.size], mask, delta }];
      }),
    ),
  };
}

describe('gap coding', () => {
  it('round-trips masks of any density, including the first and last entry and gaps of 3+ bytes', () => {
    const cases: PackedMask[] = [
      emptyMask(0),
      emptyMask(100),
      randomMask(10_000, 0.001, 1),
      randomMask(10_000, 0.01, 2),
      randomMask(4_096, 0.5, 3),
      randomMask(77, 1, 4),
    ];
    const far = emptyMask(3_000_000);
    for (const i of [0, 1, 200, 20_000, 2_999_999]) setBit(far, i);
    cases.push(far);
    for (const mask of cases) {
      const back = decodeGaps(encodeGaps(mask), mask.size);
      expect(indices(back)).toEqual(indices(mask));
    }
    // 1 + 1 + 2 + 3 + 4 bytes: gaps 0, 0, 198, 19799, 2979978.
    expect(encodeGaps(far).length).toBe(11);
  });

  it('refuses indices out of range and a truncated varint', () => {
    expect(() => decodeGaps(Uint8Array.of(10), 5)).toThrow(/out of range/);
    expect(() => decodeGaps(Uint8Array.of(0x81), 500)).toThrow(/inside a varint/);
  });
});

describe('ticket mask coding', () => {
  const sparse = randomMask(20_000, 0.01, 5);
  const dense = randomMask(4_000, 0.4, 6);

  it('stores each tensor in the smaller coding, says which in the metadata, and reads both back', async () => {
    const path = join(dir, 'mixed.safetensors');
    const ticket = ticketOf({ 'sparse.weight': sparse, 'dense.weight': dense }, 7);
    await writeTicket(path, ticket);
    const reader = await SafetensorsReader.open(path);
    expect(JSON.parse(reader.metadata.mask_coding as string)).toEqual({
      'dense.weight': 'bitmask',
      'sparse.weight': 'gaps',
    });
    expect(reader.metadata.format_version).toBe('2');
    expect(reader.tensors.has('index/sparse.weight')).toBe(true);
    expect(reader.tensors.has('mask/dense.weight')).toBe(true);
    // The gaps of a 1% mask take about 1.2 bytes per entry: a tenth of the 2500-byte bitmask.
    expect(reader.tensors.get('index/sparse.weight')?.size).toBeLessThan(0.15 * (20_000 / 8));
    await reader.close();
    const back = await readTicket(path);
    for (const [name, t] of ticket.tensors) {
      const r = back.tensors.get(name);
      expect(indices(r?.mask as PackedMask)).toEqual(indices(t.mask));
      expect(r?.delta).toEqual(t.delta);
    }
  });

  it('still reads version-1 tickets (bitmask only, no mask_coding)', async () => {
    const path = join(dir, 'v1.safetensors');
    const delta = Float32Array.from(indices(dense), (i) => i * 1e-6);
    await writeSafetensors(
      path,
      [
        { name: 'mask/dense.weight', dtype: 'U8', shape: [dense.bits.length], data: dense.bits },
        { name: 'delta/dense.weight', dtype: 'F32', shape: [delta.length], data: delta },
      ],
      {
        format: 'lota-ticket',
        format_version: '1',
        base_fingerprint: 'f'.repeat(64),
        sparsity: '0.6',
        values_dtype: 'F32',
        shapes: JSON.stringify({ 'dense.weight': [dense.size] }),
      },
    );
    const back = await readTicket(path);
    expect(indices(back.tensors.get('dense.weight')?.mask as PackedMask)).toEqual(indices(dense));
    expect(back.tensors.get('dense.weight')?.delta).toEqual(delta);
  });

  it('python/lota_ticket.py loads the same entries and values into torch tensors: both codings, bf16, version 1', async () => {
    const paths = [join(dir, 'v1.safetensors')];
    for (const dtype of ['F32', 'BF16'] as const) {
      const path = join(dir, `py-${dtype}.safetensors`);
      await writeTicket(path, ticketOf({ 'sparse.weight': sparse, 'dense.weight': dense }, 8, dtype));
      paths.push(path);
    }
    type Dump = Record<string, { tensors: Record<string, { shape: number[]; indices: number[]; values: number[] }> }>;
    const dumps = await python<Dump>(READER, ['--json', ...paths]);
    for (const path of paths) {
      const ours = await readTicket(path);
      const theirs = dumps[path]?.tensors ?? {};
      expect(Object.keys(theirs).sort()).toEqual([...ours.tensors.keys()].sort());
      for (const [name, t] of ours.tensors) {
        expect(theirs[name]?.shape).toEqual(t.shape);
        expect(theirs[name]?.indices).toEqual(indices(t.mask));
        expect(theirs[name]?.values).toEqual([...t.delta]);
      }
    }
  });
});
