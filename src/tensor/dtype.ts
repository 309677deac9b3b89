// Exact conversion of the checkpoint dtypes langquant reads (F32, F16, BF16) to float32, and back
// (round to nearest even) for writing. F16: IEEE 754 binary16 (subnormals, ±Inf, NaN kept).
// BF16: the top 16 bits of a float32, so widening is exact by construction.
// Also names every storage dtype a checkpoint may hold (safetensors' list), so that a file with a
// boolean mask buffer still validates and only a *needed* tensor of another dtype is refused.

/** The dtypes langquant converts to float32. */
export type DType = 'F32' | 'F16' | 'BF16';

export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

/** Every dtype the safetensors format defines (and PyTorch storages map onto), with its byte width. */
export const STORAGE_DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type StorageDType = keyof typeof STORAGE_DTYPE_BYTES;

export function isStorageDType(x: unknown): x is StorageDType {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(STORAGE_DTYPE_BYTES, x);
}

/** True for the dtypes decodeInto converts. */
export function isReadableDType(x: unknown): x is DType {
  return x === 'F32' || x === 'F16' || x === 'BF16';
}

/** Byte order of this machine (checkpoints are little-endian). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const f16Table = /* @__PURE__ */ (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0)
      v = frac * 2 ** -24; // subnormal (or zero)
    else if (exp === 31) v = frac === 0 ? Infinity : NaN;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  return t;
})();

/** Decodes `count` little-endian values of `dtype` from `bytes` into `out` (float32). */
export function decodeInto(out: Float32Array, bytes: Uint8Array, dtype: DType): void {
  const count = out.length;
  if (bytes.length !== count * DTYPE_BYTES[dtype]) {
    throw new Error(`decodeInto: ${bytes.length} bytes for ${count} ${dtype} values`);
  }
  if (dtype === 'F32' && LITTLE_ENDIAN) {
    // Same bit layout: a byte copy is the exact conversion.
    new Uint8Array(out.buffer, out.byteOffset, count * 4).set(bytes);
    return;
  }
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
    // Aligned 16-bit view: the common case (staging buffers start at offset 0), about 3× faster.
    const h = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
    if (dtype === 'F16') for (let i = 0; i < count; i++) out[i] = f16Table[h[i]];
    else {
      const u32 = new Uint32Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) u32[i] = h[i] << 16;
    }
    return;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = f16Table[dv.getUint16(i * 2, true)];
  } else {
    const u32 = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) u32[i] = dv.getUint16(i * 2, true) << 16;
  }
}

/**
 * Encodes `values` as little-endian `dtype` into `out` (length values.length × DTYPE_BYTES[dtype]).
 * F16/BF16 round to nearest even; values beyond the F16 range become ±Inf, NaN stays NaN.
 */
export function encodeInto(out: Uint8Array, values: Float32Array, dtype: DType): void {
  const count = values.length;
  if (out.length !== count * DTYPE_BYTES[dtype])
    throw new Error(`encodeInto: ${out.length} bytes for ${count} ${dtype} values`);
  if (dtype === 'F32' && LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, count * 4));
    return;
  }
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (dtype === 'F32') for (let i = 0; i < count; i++) dv.setFloat32(i * 4, values[i], true);
  else if (dtype === 'F16') for (let i = 0; i < count; i++) dv.setUint16(i * 2, f32ToF16Bits(values[i]), true);
  else for (let i = 0; i < count; i++) dv.setUint16(i * 2, f32ToBf16Bits(values[i]), true);
}

// One float32 reinterpreted as its bits, shared by the two encoders below (no allocation per value).
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 → binary16 bits, round to nearest even (for writing F16 checkpoints). */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** float32 → bfloat16 bits, round to nearest even. */
export function f32ToBf16Bits(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >>> 16) | 0x40;
  const rounding = 0x7fff + ((u >>> 16) & 1);
  return ((u + rounding) >>> 16) & 0xffff;
}
