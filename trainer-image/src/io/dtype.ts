// Safetensors element types, their sizes, and the float16/bfloat16 <-> float32 conversions (round to nearest even).

export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;
const FLOAT_DTYPES: readonly Dtype[] = ['F64', 'F32', 'F16', 'BF16'];

/**
 * The float types weights are written in, one vocabulary for every name they go by: the short name (CLI flags,
 * merge outputs), the safetensors dtype, and the PyTorch name (the API's output.dtype and config.json's dtype).
 */
export const OUTPUT_DTYPES = {
  f32: { dtype: 'F32', torch: 'float32' },
  f16: { dtype: 'F16', torch: 'float16' },
  bf16: { dtype: 'BF16', torch: 'bfloat16' },
} as const satisfies Record<string, { dtype: Dtype; torch: string }>;

export type OutputDtype = keyof typeof OUTPUT_DTYPES;
export const OUTPUT_DTYPE_NAMES = Object.keys(OUTPUT_DTYPES) as OutputDtype[];

/** The output dtype of a PyTorch name (float32, float16, bfloat16), or undefined. */
export function outputDtypeOfTorch(name: string): OutputDtype | undefined {
  return OUTPUT_DTYPE_NAMES.find((d) => OUTPUT_DTYPES[d].torch === name);
}

/** The output dtype of a safetensors dtype (F32, F16, BF16), or undefined for the others. */
export function outputDtypeOf(dtype: Dtype): OutputDtype | undefined {
  return OUTPUT_DTYPE_NAMES.find((d) => OUTPUT_DTYPES[d].dtype === dtype);
}

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value);
}

export function isFloatDtype(dtype: Dtype): boolean {
  return FLOAT_DTYPES.includes(dtype);
}

export type TensorArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** Views `bytes` (little-endian, as safetensors stores them; an aligned copy is made if needed) as `dtype`. */
export function viewAs(dtype: Dtype, bytes: Uint8Array): TensorArray {
  const size = DTYPE_BYTES[dtype];
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const { buffer, byteOffset } = aligned;
  const n = aligned.byteLength / size;
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer, byteOffset, n);
    case 'F32':
      return new Float32Array(buffer, byteOffset, n);
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, n);
    case 'U64':
      return new BigUint64Array(buffer, byteOffset, n);
    case 'I32':
      return new Int32Array(buffer, byteOffset, n);
    case 'U32':
      return new Uint32Array(buffer, byteOffset, n);
    case 'I16':
      return new Int16Array(buffer, byteOffset, n);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'I8':
      return new Int8Array(buffer, byteOffset, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, byteOffset, n);
  }
}

/** True when `array` is the typed array `viewAs(dtype, ...)` returns. */
export function matchesDtype(dtype: Dtype, array: TensorArray): boolean {
  switch (dtype) {
    case 'F64':
      return array instanceof Float64Array;
    case 'F32':
      return array instanceof Float32Array;
    case 'I64':
      return array instanceof BigInt64Array;
    case 'U64':
      return array instanceof BigUint64Array;
    case 'I32':
      return array instanceof Int32Array;
    case 'U32':
      return array instanceof Uint32Array;
    case 'I16':
      return array instanceof Int16Array;
    case 'F16':
    case 'BF16':
    case 'U16':
      return array instanceof Uint16Array;
    case 'I8':
      return array instanceof Int8Array;
    case 'U8':
    case 'BOOL':
      return array instanceof Uint8Array;
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float16 bit pattern -> float32, by a 64K-entry table built on first use. */
let halfTable: Float32Array | undefined;
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) table[h] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  halfTable = table;
  return table;
}

export function f16ToF32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const table = halfToFloatTable();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i] as number] as number;
  return out;
}

export function bf16ToF32(bits: Uint16Array, out = new Float32Array(bits.length)): Float32Array {
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) outBits[i] = (bits[i] as number) << 16;
  return out;
}

// Constants of the float32 -> float16 conversion (after F. Giesen, "float_to_half_fast3_rtne").
const F32_INF = 255 << 23;
const F16_OVERFLOW = (127 + 16) << 23; // first float32 magnitude that rounds to float16 infinity
const F16_MIN_NORMAL = 113 << 23; // 2^-14 as float32 bits
const DENORM_MAGIC = ((127 - 15 + (23 - 10) + 1) << 23) >>> 0;
f32[0] = 0;
u32[0] = DENORM_MAGIC;
const DENORM_MAGIC_FLOAT = f32[0];

/** One float32 bit pattern -> float16 bit pattern, rounding to nearest even; NaN stays NaN (quiet). */
function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  let x = bits & 0x7fffffff;
  let h: number;
  if (x >= F16_OVERFLOW) {
    h = x > F32_INF ? 0x7e00 : 0x7c00;
  } else if (x < F16_MIN_NORMAL) {
    // Subnormal or zero: adding the magic number lets the FPU round the mantissa into place.
    u32[0] = x;
    f32[0] = (f32[0] as number) + DENORM_MAGIC_FLOAT;
    h = ((u32[0] as number) - DENORM_MAGIC) >>> 0;
  } else {
    const mantOdd = (x >>> 13) & 1;
    x = (x + (((15 - 127) << 23) + 0xfff) + mantOdd) >>> 0;
    h = x >>> 13;
  }
  return h | sign;
}

export function f32ToF16(values: Float32Array, out = new Uint16Array(values.length)): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i] as number);
  return out;
}

/** One float32 bit pattern -> bfloat16 bit pattern, rounding to nearest even; NaN stays NaN (quiet). */
function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > F32_INF) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 -> bfloat16 bit patterns, rounding to nearest even; NaN stays NaN (quiet). */
export function f32ToBf16(values: Float32Array, out = new Uint16Array(values.length)): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBf16(bits[i] as number);
  return out;
}

/**
 * One float32 value -> what storing it as a float dtype and reading it back gives (the arrays' conversions, one
 * value at a time, for loops that touch only some entries of a tensor).
 */
export function storedFloat(dtype: Dtype): (x: number) => number {
  switch (dtype) {
    case 'F64':
    case 'F32':
      return (x) => x;
    case 'BF16':
      return (x) => {
        f32[0] = x;
        u32[0] = f32BitsToBf16(u32[0] as number) << 16;
        return f32[0] as number;
      };
    case 'F16': {
      const table = halfToFloatTable();
      return (x) => {
        f32[0] = x;
        return table[f32BitsToF16(u32[0] as number)] as number;
      };
    }
    default:
      throw new TypeError(`${dtype} is not a float dtype values are written in`);
  }
}

/** No NaN or infinity among the values: a whole-array test on the exponent bits, without a branch per value. */
export function allFinite(values: Float32Array): boolean {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let special = 0;
  for (let i = 0; i < bits.length; i++) special |= +(((bits[i] as number) & 0x7f800000) === 0x7f800000);
  return special === 0;
}

/** Any tensor array -> float32 (64-bit values are rounded, as in a PyTorch `.float()`). */
export function toFloat32(dtype: Dtype, array: TensorArray): Float32Array {
  if (dtype === 'F32') return array as Float32Array;
  if (dtype === 'F16') return f16ToF32(array as Uint16Array);
  if (dtype === 'BF16') return bf16ToF32(array as Uint16Array);
  const out = new Float32Array(array.length);
  if (array instanceof BigInt64Array || array instanceof BigUint64Array) {
    for (let i = 0; i < array.length; i++) out[i] = Number(array[i]);
  } else {
    out.set(array);
  }
  return out;
}

/** float32 -> the array a float dtype is stored as. */
export function fromFloat32(dtype: Dtype, values: Float32Array): TensorArray {
  switch (dtype) {
    case 'F32':
      return values;
    case 'F16':
      return f32ToF16(values);
    case 'BF16':
      return f32ToBf16(values);
    case 'F64':
      return Float64Array.from(values);
    default:
      throw new TypeError(`cannot store float32 values as ${dtype}`);
  }
}
