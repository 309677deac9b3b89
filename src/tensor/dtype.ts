// Exact conversion of the checkpoint dtypes langquant reads (F32, F16, BF16) to float32.
// F16: IEEE 754 binary16 (subnormals, ±Inf, NaN kept). BF16: the top 16 bits of a float32.

export type DType = 'F32' | 'F16' | 'BF16';

export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

const f16Table = /* @__PURE__ */ (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24; // subnormal (or zero)
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

/** float32 → binary16 bits, round to nearest even (for writing F16 checkpoints). */
export function f32ToF16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** float32 → bfloat16 bits, round to nearest even. */
export function f32ToBf16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff)) return (u >>> 16) | 0x40;
  const rounding = 0x7fff + ((u >>> 16) & 1);
  return ((u + rounding) >>> 16) & 0xffff;
}
