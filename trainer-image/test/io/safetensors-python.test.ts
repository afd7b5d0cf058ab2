// Our files read by the reference implementation, and its files (and torch's float16/bfloat16 rounding) read by us.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Dtype,
  f32ToBf16,
  f32ToF16,
  SafetensorsReader,
  type TensorArray,
  writeSafetensors,
} from '../../src/io/safetensors.ts';
import { python } from '../helpers/python.ts';

const SCRIPT = fileURLToPath(new URL('./python/safetensors_check.py', import.meta.url));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-py-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function floats(): Float32Array {
  const special = [
    0,
    -0,
    1,
    -1,
    65504,
    65519.99,
    65520,
    1e-8,
    2 ** -24,
    2 ** -25,
    3 * 2 ** -26,
    5.96e-8,
    3.4028235e38,
    -Infinity,
    Infinity,
  ];
  const ties = Array.from({ length: 64 }, (_, i) => (1 + (2 * i + 1) * 2 ** -11) * 2 ** ((i % 20) - 10));
  const bf16Ties = Array.from({ length: 64 }, (_, i) => (1 + (2 * i + 1) * 2 ** -8) * 2 ** ((i % 40) - 20));
  let s = 99;
  const random = Array.from({ length: 4000 }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * 2 ** ((s % 60) - 30);
  });
  return Float32Array.from([...special, ...ties, ...bf16Ties, ...random]);
}

describe('safetensors against the Python reference implementation', () => {
  it('reads what we write (every dtype torch has), and we read what it writes, bit for bit', async () => {
    const values = floats();
    const tensors: { name: string; dtype: Dtype; shape: number[]; data: TensorArray }[] = [
      { name: 'w.f32', dtype: 'F32', shape: [values.length], data: values },
      { name: 'w.f16', dtype: 'F16', shape: [values.length], data: values },
      { name: 'w.bf16', dtype: 'BF16', shape: [values.length], data: values },
      { name: 'w.f64', dtype: 'F64', shape: [2, 2], data: Float64Array.from([1.5, -2.25, 1e300, -1e-300]) },
      { name: 'i.i64', dtype: 'I64', shape: [3], data: BigInt64Array.from([-(2n ** 62n), 0n, 2n ** 62n]) },
      { name: 'i.i32', dtype: 'I32', shape: [1, 3], data: Int32Array.from([-(2 ** 31), 7, 2 ** 31 - 1]) },
      { name: 'i.i16', dtype: 'I16', shape: [2], data: Int16Array.from([-32768, 32767]) },
      { name: 'i.i8', dtype: 'I8', shape: [2], data: Int8Array.from([-128, 127]) },
      { name: 'i.u8', dtype: 'U8', shape: [3], data: Uint8Array.from([0, 128, 255]) },
      { name: 'b.bool', dtype: 'BOOL', shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) },
      { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.from([3.5]) },
    ];
    const ours = join(dir, 'ours.safetensors');
    const theirs = join(dir, 'theirs.safetensors');
    await writeSafetensors(ours, tensors, { format: 'pt', model: 'tiny' });
    const seen = await python<{
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[] }>;
    }>(SCRIPT, [ours, theirs]);
    expect(seen.metadata).toEqual({ format: 'pt', model: 'tiny' });
    const torchDtype: Record<string, string> = {
      F32: 'torch.float32',
      F16: 'torch.float16',
      BF16: 'torch.bfloat16',
      F64: 'torch.float64',
      I64: 'torch.int64',
      I32: 'torch.int32',
      I16: 'torch.int16',
      I8: 'torch.int8',
      U8: 'torch.uint8',
      BOOL: 'torch.bool',
    };
    for (const t of tensors) expect(seen.tensors[t.name]).toEqual({ dtype: torchDtype[t.dtype], shape: t.shape });

    const reader = await SafetensorsReader.open(theirs);
    expect(reader.metadata).toEqual({ written_by: 'python safetensors', format: 'pt', model: 'tiny' });
    for (const t of tensors) {
      const expected = t.dtype === 'F16' ? f32ToF16(values) : t.dtype === 'BF16' ? f32ToBf16(values) : t.data;
      expect(await reader.read(t.name)).toEqual(expected);
    }
    // torch's float32 → float16 / bfloat16 rounding equals ours on every value (NaN-free input)
    expect(await reader.read('w.f32.as_f16')).toEqual(f32ToF16(values));
    expect(await reader.read('w.f32.as_bf16')).toEqual(f32ToBf16(values));
    expect(await reader.readFloat32('w.f32.as_bf16')).toEqual(await reader.readFloat32('w.bf16'));
    await reader.close();
  });
});
