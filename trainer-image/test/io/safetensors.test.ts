import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../../src/cli/errors.ts';
import {
  allFinite,
  bf16ToF32,
  DTYPE_BYTES,
  type Dtype,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  InvalidArtifactError,
  SafetensorsReader,
  SafetensorsWriter,
  storedFloat,
  type TensorArray,
  writeSafetensors,
} from '../../src/io/safetensors.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sample(dtype: Dtype, n: number): TensorArray {
  const ints = Array.from({ length: n }, (_, i) => (i * 37) % 101);
  switch (dtype) {
    case 'F64':
      return Float64Array.from(ints, (v) => v / 7 - 3);
    case 'F32':
      return Float32Array.from(ints, (v) => v / 7 - 3);
    case 'F16':
    case 'BF16':
    case 'U16':
      return Uint16Array.from(ints, (v) => v * 600);
    case 'I64':
      return BigInt64Array.from(ints, (v) => BigInt(v) * -(1n << 40n));
    case 'U64':
      return BigUint64Array.from(ints, (v) => BigInt(v) << 50n);
    case 'I32':
      return Int32Array.from(ints, (v) => v * -1_000_000);
    case 'U32':
      return Uint32Array.from(ints, (v) => v * 40_000_000);
    case 'I16':
      return Int16Array.from(ints, (v) => v * -300);
    case 'I8':
      return Int8Array.from(ints, (v) => v - 50);
    case 'U8':
      return Uint8Array.from(ints, (v) => v * 2);
    case 'BOOL':
      return Uint8Array.from(ints, (v) => v % 2);
  }
}

describe('safetensors round trip', () => {
  it('writes and reads back every dtype with metadata, in any write order', async () => {
    const dtypes = Object.keys(DTYPE_BYTES) as Dtype[];
    const tensors = dtypes.map((dtype, i) => ({
      name: `t.${dtype}`,
      dtype,
      shape: [3, i + 1],
      data: sample(dtype, 3 * (i + 1)),
    }));
    tensors.push({ name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([2.5]) });
    tensors.push({ name: 'empty', dtype: 'I32', shape: [0, 4], data: new Int32Array(0) });
    const path = join(dir, 'all.safetensors');
    const writer = await SafetensorsWriter.create(path, tensors, { format: 'pt', note: 'ünïcode' });
    for (const t of [...tensors].reverse()) await writer.write(t.name, t.data);
    await writer.close();

    const reader = await SafetensorsReader.open(path);
    expect(reader.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(reader.names()).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      expect(reader.info(t.name)).toMatchObject({ dtype: t.dtype, shape: t.shape });
      const back = await reader.read(t.name);
      expect(back.constructor).toBe(t.data.constructor);
      expect(Array.from(back as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    const i16 = tensors.find((t) => t.dtype === 'I16');
    expect(Array.from(await reader.readFloat32('t.I16'))).toEqual(Array.from(i16?.data as Int16Array));
    await reader.close();
  });

  it('pads the header to 8 bytes and stores float32 input as F16/BF16 with round-to-nearest-even', async () => {
    const values = new Float32Array([
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      1 + 2 ** -8,
      1 + 3 * 2 ** -8,
      65520,
      -0,
      2 ** -130,
    ]);
    const path = join(dir, 'half.safetensors');
    await writeSafetensors(path, [
      { name: 'h', dtype: 'F16', shape: [7], data: values },
      { name: 'b', dtype: 'BF16', shape: [7], data: values },
    ]);
    const reader = await SafetensorsReader.open(path);
    expect((reader.info('h').begin - 8) % 8).toBe(0);
    // ties go to the even neighbour; 65520 overflows to infinity; 2^-130 underflows to zero in f16, not in bf16 (keeps its sign)
    expect(Array.from(await reader.readFloat32('h'))).toEqual([
      1,
      1 + 2 ** -9,
      1 + 2 ** -8,
      1 + 3 * 2 ** -8,
      Infinity,
      -0,
      0,
    ]);
    expect(Array.from(await reader.readFloat32('b'))).toEqual([1, 1, 1, 1 + 2 ** -6, 65536, -0, 2 ** -130]);
    await reader.close();
  });
});

describe('float16 / bfloat16 conversion', () => {
  // Node 24 ships Float16Array (round-to-nearest-even per ECMAScript); our bit-level code must agree exactly.
  const NativeF16 = (
    globalThis as unknown as { Float16Array: new (a: ArrayLike<number>) => ArrayLike<number> & { buffer: ArrayBuffer } }
  ).Float16Array;

  it('agrees with the native Float16Array on every float16 value, midpoints and random float32s', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const widened = f16ToF32(all);
    const native = new Uint16Array(new NativeF16(widened).buffer);
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (nan) expect(Number.isNaN(widened[i])).toBe(true);
      else expect(native[i]).toBe(i);
    }
    const bits = new Uint32Array(200_000);
    let s = 12345;
    for (let i = 0; i < bits.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bits[i] = i % 2 ? s : (((s >>> 8) & 0x3fffffff) | 0x1000) & ~0xfff; // also exact midpoints
    }
    const floats = new Float32Array(bits.buffer);
    const ours = f32ToF16(floats);
    const theirs = new Uint16Array(new NativeF16(floats).buffer);
    for (let i = 0; i < floats.length; i++) {
      if (Number.isNaN(floats[i])) expect((ours[i] as number) & 0x7fff).toBeGreaterThan(0x7c00);
      else if (ours[i] !== theirs[i]) expect.fail(`f16 of ${floats[i]}: ours ${ours[i]}, native ${theirs[i]}`);
    }
  });

  it('rounds bfloat16 to nearest even and keeps NaN a NaN', () => {
    const f = new Float32Array([
      1 + 2 ** -8,
      1 + 3 * 2 ** -8,
      -(1 + 2 ** -7 + 2 ** -9),
      Number.NaN,
      -Infinity,
      3.4028235e38,
    ]);
    const back = bf16ToF32(f32ToBf16(f));
    expect(Array.from(back.subarray(0, 3))).toEqual([1, 1 + 2 ** -6, -(1 + 2 ** -7)]);
    expect(Number.isNaN(back[3])).toBe(true);
    expect(back[4]).toBe(-Infinity);
    expect(back[5]).toBe(Infinity); // float32's largest value rounds past bf16's largest finite one
  });
});

describe('one value at a time', () => {
  it('storedFloat gives what the array conversions give, value by value', () => {
    const bits = new Uint32Array(100_000);
    let s = 777;
    for (let i = 0; i < bits.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bits[i] = i % 3 ? s : (s & 0x807fffff) | (((i % 60) + 100) << 23); // and many near 1, where deltas live
    }
    const floats = new Float32Array(bits.buffer);
    const arrays = { F16: f16ToF32(f32ToF16(floats)), BF16: bf16ToF32(f32ToBf16(floats)), F32: floats };
    for (const [dtype, expected] of Object.entries(arrays)) {
      const one = storedFloat(dtype as Dtype);
      for (let i = 0; i < floats.length; i++) {
        if (!Object.is(one(floats[i] as number), expected[i])) {
          expect.fail(`${dtype} of ${floats[i]}: ${one(floats[i] as number)}, the array gives ${expected[i]}`);
        }
      }
    }
    expect(() => storedFloat('I32')).toThrow(/not a float dtype/);
  });

  it('allFinite finds a NaN or an infinity anywhere, also in a view into a larger buffer', () => {
    const values = Float32Array.from({ length: 1001 }, (_, i) => (i - 500) * 1e-3);
    values[3] = 3.4028234663852886e38;
    values[4] = -0;
    values[5] = 1e-45; // subnormal
    expect(allFinite(values)).toBe(true);
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      for (const at of [0, 517, 1000]) {
        const copy = values.slice();
        copy[at] = bad;
        expect(allFinite(copy)).toBe(false);
      }
    }
    const withNaN = values.slice();
    withNaN[20] = Number.NaN;
    expect(allFinite(withNaN.subarray(21, 900))).toBe(true);
    expect(allFinite(withNaN.subarray(20, 900))).toBe(false);
  });
});

describe('hashing while writing', () => {
  const specs = [
    { name: 'a', dtype: 'F32' as const, shape: [3] },
    { name: 'b', dtype: 'I64' as const, shape: [2] },
    { name: 'c', dtype: 'F32' as const, shape: [0] },
    { name: 'd', dtype: 'BF16' as const, shape: [5] },
  ];
  const data: Record<string, TensorArray> = {
    a: Float32Array.of(1, 2, 3),
    b: BigInt64Array.of(-1n, 7n),
    c: new Float32Array(0),
    d: Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5),
  };

  it('gives the sha256 of the finished file when the tensors come in declared order', async () => {
    const path = join(dir, 'hashed.safetensors');
    const writer = await SafetensorsWriter.create(path, specs, { format: 'pt' }, { sha256: true });
    for (const { name } of specs) await writer.write(name, data[name] as TensorArray);
    expect(writer.sha256).toBeUndefined();
    await writer.close();
    expect(writer.sha256).toBe(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );
  });

  it('takes a tensor in pieces, reads it back in pieces, and still hashes the file', async () => {
    const path = join(dir, 'pieces.safetensors');
    const writer = await SafetensorsWriter.create(path, specs, {}, { sha256: true });
    await writer.write('a', data.a as TensorArray);
    const b = new Uint8Array((data.b as BigInt64Array).buffer);
    await writer.writePart('b', b.subarray(0, 5));
    await expect(writer.write('b', data.b as TensorArray)).rejects.toThrow(/being written in parts/);
    await expect(writer.writePart('b', new Uint8Array(12))).rejects.toThrow(/has 16 bytes; got 17/);
    await writer.writePart('b', b.subarray(5, 16));
    await expect(writer.writePart('b', b.subarray(0, 1))).rejects.toThrow(/already written/);
    await writer.writePart('c', new Uint8Array(0));
    await writer.write('d', data.d as TensorArray);
    await writer.close();
    expect(writer.sha256).toBe(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
    );
    const reader = await SafetensorsReader.open(path);
    const into = new Uint8Array(6);
    const parts = [Array.from(await reader.readPart('b', 0, into)), Array.from(await reader.readPart('b', 6, into))];
    expect(parts.map((p) => p.length)).toEqual([6, 6]);
    expect(Array.from(await reader.readPart('b', 12, into))).toEqual(Array.from(b.subarray(12)));
    expect([...parts.flat()]).toEqual(Array.from(b.subarray(0, 12)));
    expect((await reader.readPart('b', 16, into)).length).toBe(0);
    await expect(reader.readPart('b', 17, into)).rejects.toThrow(RangeError);
    await reader.close();
  });

  it('gives none when a tensor came out of order, or when not asked', async () => {
    const path = join(dir, 'unordered.safetensors');
    const writer = await SafetensorsWriter.create(path, specs, {}, { sha256: true });
    for (const name of ['a', 'd', 'b', 'c']) await writer.write(name, data[name] as TensorArray);
    await writer.close();
    expect(writer.sha256).toBeUndefined();
    const plain = await SafetensorsWriter.create(join(dir, 'plain.safetensors'), specs);
    for (const { name } of specs) await plain.write(name, data[name] as TensorArray);
    await plain.close();
    expect(plain.sha256).toBeUndefined();
  });
});

/** Assembles a file: 8-byte length (or an override), header text, data bytes. */
async function rawFile(name: string, header: unknown, data: number, lengthOverride?: bigint): Promise<string> {
  const text = typeof header === 'string' ? Buffer.from(header) : Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(text.length));
  const path = join(dir, name);
  await writeFile(path, Buffer.concat([prefix, text, Buffer.alloc(data)]));
  return path;
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

describe('malformed safetensors files are refused with the file and tensor named', () => {
  const cases: [string, () => Promise<string>, RegExp, string?][] = [
    [
      'shorter than 8 bytes',
      async () => {
        const p = join(dir, 'short.st');
        await writeFile(p, Buffer.alloc(5));
        return p;
      },
      /shorter than the 8-byte/,
    ],
    ['header length over 100 MB', () => rawFile('huge.st', {}, 0, 1n << 62n), /exceeds the 100000000-byte limit/],
    [
      'header length past the end of the file',
      () => rawFile('past.st', { a: f32([1], 0, 4) }, 4, 4096n),
      /runs past the end/,
    ],
    ['header length too small', () => rawFile('tiny.st', '{}', 0, 1n), /too small/],
    ['non-JSON header', () => rawFile('nojson.st', '{"a": {dtype', 0), /not valid UTF-8 JSON/],
    ['header not an object', () => rawFile('array.st', '[1, 2]', 0), /not a JSON object/],
    [
      'invalid UTF-8 in header',
      () => rawFile('utf8.st', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), 0),
      /not valid UTF-8|not valid/,
    ],
    [
      'unknown dtype',
      () => rawFile('dtype.st', { w: { dtype: 'F8_E9M9', shape: [1], data_offsets: [0, 1] } }, 1),
      /unknown dtype "F8_E9M9"/,
      'w',
    ],
    [
      'negative dimension',
      () => rawFile('neg.st', { w: f32([-1, 4], 0, 16) }, 16),
      /not a list of non-negative integers/,
      'w',
    ],
    [
      'shape/size mismatch',
      () => rawFile('mismatch.st', { w: f32([2, 3], 0, 20) }, 20),
      /needs 24 bytes but data_offsets span 20/,
      'w',
    ],
    ['offsets reversed', () => rawFile('rev.st', { w: f32([0], 8, 4) }, 8), /begin <= end/, 'w'],
    ['overlapping offsets', () => rawFile('overlap.st', { a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), /overlap/, 'b'],
    [
      'hole between tensors',
      () => rawFile('hole.st', { a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12),
      /hole of 4 bytes/,
      'b',
    ],
    ['truncated data', () => rawFile('trunc.st', { a: f32([1], 0, 4), b: f32([4], 4, 20) }, 12), /truncated/, 'b'],
    ['offsets far out of range', () => rawFile('range.st', { a: f32([2 ** 40], 0, 2 ** 42) }, 4), /truncated/, 'a'],
    ['bytes no tensor claims', () => rawFile('trail.st', { a: f32([1], 0, 4) }, 9), /5 bytes after the last tensor/],
    [
      'metadata value not a string',
      () => rawFile('meta.st', { __metadata__: { n: 1 } }, 0),
      /__metadata__ value for 'n'/,
    ],
    ['entry not an object', () => rawFile('entry.st', { w: 3 }, 0), /header entry is not an object/, 'w'],
    ['missing file', async () => join(dir, 'nope.safetensors'), /file not found/],
  ];
  for (const [title, make, message, tensor] of cases) {
    it(title, async () => {
      const path = await make();
      const error = await SafetensorsReader.open(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidArtifactError);
      const e = error as InvalidArtifactError;
      expect(e.message).toMatch(message);
      expect(e.message.startsWith(path)).toBe(true);
      expect(e.file).toBe(path);
      expect(e.tensor).toBe(tensor);
      expect(e.reason).toBe('InvalidModel');
      expect(classify(e)).toEqual({ exitCode: 11, reason: 'InvalidModel' });
    });
  }

  it('a file truncated after opening fails on read, naming the tensor', async () => {
    const path = join(dir, 'shrinks.safetensors');
    await writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [64], data: new Float32Array(64) }]);
    const reader = await SafetensorsReader.open(path, { reason: 'InvalidTicket' });
    const { truncate } = await import('node:fs/promises');
    await truncate(path, 100);
    await expect(reader.read('w')).rejects.toThrow(/tensor 'w': file ended inside the tensor data/);
    await expect(reader.read('x')).rejects.toMatchObject({ reason: 'InvalidTicket', tensor: 'x' });
    await reader.close();
  });
});
