// Exact dtype conversion: every binary16 bit pattern against an independent decoding, round trips,
// round-to-nearest-even at ties, subnormals, ±Inf and NaN for F16 and BF16.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeInto, encodeInto, f32ToBf16Bits, f32ToF16Bits } from '../../src/tensor/dtype.ts';

/** binary16 → number by the IEEE 754 definition, written independently of dtype.ts. */
function f16ByDefinition(h: number): number {
  const s = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * Math.pow(2, -14) * (m / 1024) : s * Math.pow(2, e - 15) * (1 + m / 1024);
}

function decodeF16(bits: number[]): Float32Array {
  const b = Buffer.alloc(bits.length * 2);
  bits.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  const out = new Float32Array(bits.length);
  decodeInto(out, b, 'F16');
  return out;
}

test('F16: all 65536 bit patterns decode exactly and re-encode to the same bits', () => {
  const all = Array.from({ length: 65536 }, (_, i) => i);
  const out = decodeF16(all);
  for (let h = 0; h < 65536; h++) {
    const want = f16ByDefinition(h);
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(out[h]), `0x${h.toString(16)} should be NaN`);
      assert.ok(Number.isNaN(decodeF16([f32ToF16Bits(out[h])])[0]));
      continue;
    }
    assert.ok(Object.is(out[h], want), `0x${h.toString(16)}: ${out[h]} ≠ ${want}`);
    assert.equal(f32ToF16Bits(out[h]), h, `re-encoding 0x${h.toString(16)}`);
  }
});

test('F16: subnormals, signed zero, Inf, and round-half-to-even on encoding', () => {
  const [tiny, minNormal, negZero, inf, negInf] = decodeF16([0x0001, 0x0400, 0x8000, 0x7c00, 0xfc00]);
  assert.equal(tiny, 2 ** -24);
  assert.equal(minNormal, 2 ** -14);
  assert.ok(Object.is(negZero, -0));
  assert.equal(inf, Infinity);
  assert.equal(negInf, -Infinity);
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // half of the smallest subnormal: tie → even (0)
  assert.equal(f32ToF16Bits(1.5 * 2 ** -24), 0x0002); // tie between 1 and 2 ulps → even (2)
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even mantissa
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f32ToF16Bits(65520), 0x7c00); // rounds up past the largest finite (65504)
  assert.equal(f32ToF16Bits(65519), 0x7bff);
  assert.equal(f32ToF16Bits(-1e9), 0xfc00);
  assert.equal(f32ToF16Bits(2 ** -26), 0x0000);
});

test('BF16: widening is exact (top 16 bits of a float32) and encoding rounds to nearest even', () => {
  const bits = [0x0000, 0x8000, 0x0001, 0x007f, 0x0080, 0x3f80, 0xbf80, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x4049];
  const b = Buffer.alloc(bits.length * 2);
  bits.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  const out = new Float32Array(bits.length);
  decodeInto(out, b, 'BF16');
  const u32 = new Uint32Array(out.buffer);
  bits.forEach((v, i) => {
    if (v === 0x7fc0) assert.ok(Number.isNaN(out[i]));
    else assert.equal(u32[i], (v << 16) >>> 0, `0x${v.toString(16)}`);
  });
  assert.equal(out[2], 2 ** -133); // smallest bf16 subnormal
  assert.equal(out[8], Infinity);
  assert.equal(out[9], -Infinity);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
  assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.ok(Number.isNaN(new Float32Array(new Uint32Array([f32ToBf16Bits(NaN) << 16]).buffer)[0]));
  assert.equal(f32ToBf16Bits(3.4028234663852886e38), 0x7f80); // rounds to Inf
});

test('encodeInto and decodeInto round-trip float32 exactly and F16/BF16 to the rounded value', () => {
  const v = new Float32Array([0, -0, 1, -2.5, 1e-8, 3.14159, 65504, -1e-30, Infinity, NaN]);
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const bytes = Buffer.alloc(v.length * (dtype === 'F32' ? 4 : 2));
    encodeInto(bytes, v, dtype);
    const back = new Float32Array(v.length);
    decodeInto(back, bytes, dtype);
    for (let i = 0; i < v.length; i++) {
      const want =
        dtype === 'F32'
          ? v[i]
          : dtype === 'F16'
            ? decodeF16([f32ToF16Bits(v[i])])[0]
            : new Float32Array(new Uint32Array([f32ToBf16Bits(v[i]) << 16]).buffer)[0];
      assert.ok(Object.is(back[i], want), `${dtype} ${v[i]}: ${back[i]} ≠ ${want}`);
    }
  }
});

test('decoding from an odd byte offset (unaligned view) gives the same values', () => {
  const bits = [0x0001, 0x3c00, 0xfc00, 0x7bff, 0x8400];
  const b = Buffer.alloc(1 + bits.length * 2);
  bits.forEach((v, i) => b.writeUInt16LE(v, 1 + i * 2));
  for (const dtype of ['F16', 'BF16'] as const) {
    const unaligned = new Float32Array(bits.length);
    decodeInto(unaligned, b.subarray(1), dtype);
    const aligned = new Float32Array(bits.length);
    decodeInto(aligned, Buffer.from(b.subarray(1)), dtype);
    assert.deepEqual(unaligned, aligned, dtype);
  }
  assert.deepEqual([...decodeF16([0x3c00, 0xc000])], [1, -2]);
});
