// Matrix products in WebAssembly SIMD: raw sums S[i, j] = Σ_k A[i, k]·B[j, k] over 4×4 tiles, for
// the reference engine's matmul (matmul.ts, both weight layouts) and the trainer's gemmNT
// (src/train/kernels.ts), on Float32Array operands. The module (about 400 bytes) is written
// here byte by byte, so nothing is fetched or compiled outside the process.
//
// Bit-identical to the JavaScript tiles: those accumulate each output in a float64 (a JS number)
// as acc += x·y with x, y float32 values widened to float64, over k = 0, 1, … in order. Here each
// output is one lane of an f64x2 accumulator doing exactly those operations in that order
// (f32 → f64 promotion, f64 multiply — exact, 24 + 24 bits < 53 — and f64 add), vectorised across
// output columns, never across k. So no result (logits, trained weights, shipped models) depends on
// which path ran. Bias, accumulation and the float32 rounding stay in JavaScript, as before.
//
// Layout in the module's memory (offsets chosen by simdRawTiles):
//   A  float32 [M4, K] row-major; P float32 [N4/4][K][4]: B's rows j..j+3 interleaved along k, so one
//   8-byte load gives (B[j, k], B[j+1, k]) and the next (B[j+2, k], B[j+3, k]); S float64 [M4, N4].
// Reference: WebAssembly core spec 2.0 (binary format, fixed-width SIMD opcodes).

import type { Layout } from './types.ts';

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128 (i32 constants). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const I32 = 0x7f;
const V128 = 0x7b;
const simd = (op: number) => [0xfd, ...uleb(op)];
const OP = {
  v128Const: simd(12),
  v128Store: simd(11),
  load64Zero: simd(0x5d),
  promoteLow: simd(0x5f),
  f64x2Splat: simd(20),
  f64x2Add: simd(240),
  f64x2Mul: simd(242),
  get: 0x20,
  set: 0x21,
  i32Const: 0x41,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  i32GeU: 0x4f,
  f32Load: 0x2a,
  f64PromoteF32: 0xbb,
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  void: 0x40,
} as const;

/** The module: imports memory `m.mem`, exports `tiles(a, p, s, M4, N4, K)` (byte offsets). */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  // parameters 0..5: a, p, s, M4, N4, K; i32 locals 6..15; v128 locals 16..29.
  const [a, p, s, M4, N4, K] = [0, 1, 2, 3, 4, 5];
  const [i, j, k, pb, ps, rowBytes] = [6, 7, 8, 9, 10, 11];
  const pa = [12, 13, 14, 15]; // &A[i+r, k] for r = 0..3
  const acc = [16, 17, 18, 19, 20, 21, 22, 23]; // acc[2r]: columns j, j+1 of row i+r; acc[2r+1]: j+2, j+3
  const [b01, b23] = [24, 25];
  const av = [26, 27, 28, 29]; // splat(f64(A[i+r, k]))
  const code: number[] = [];
  const emit = (...parts: (number | number[])[]) => {
    for (const x of parts) code.push(...(typeof x === 'number' ? [x] : x));
  };
  const get = (x: number) => [OP.get, ...uleb(x)];
  const set = (x: number) => [OP.set, ...uleb(x)];
  const c = (v: number) => [OP.i32Const, ...sleb(v)];
  const loopWhileBelow = (counter: number, limit: number) => [
    OP.block,
    OP.void,
    OP.loop,
    OP.void,
    ...get(counter),
    ...get(limit),
    OP.i32GeU,
    OP.brIf,
    1,
  ];
  const endLoop = [OP.br, 0, OP.end, OP.end];
  const inc = (x: number, by: number) => [...get(x), ...c(by), OP.i32Add, ...set(x)];

  emit(get(K), c(4), OP.i32Mul, set(rowBytes));
  emit(c(0), set(i), loopWhileBelow(i, M4));
  emit(c(0), set(j), loopWhileBelow(j, N4));
  for (const x of acc) emit(OP.v128Const, new Array(16).fill(0), set(x));
  emit(get(a), get(i), get(rowBytes), OP.i32Mul, OP.i32Add, set(pa[0])); // &A[i, 0]
  for (let r = 1; r < 4; r++) emit(get(pa[r - 1]), get(rowBytes), OP.i32Add, set(pa[r]));
  emit(get(p), get(j), get(rowBytes), OP.i32Mul, OP.i32Add, set(pb)); // panel j/4 starts at j·K floats
  emit(c(0), set(k), loopWhileBelow(k, K));
  emit(get(pb), OP.load64Zero, [3, 0], OP.promoteLow, set(b01)); // (B[j,k], B[j+1,k]) as f64
  emit(get(pb), OP.load64Zero, [3, 8], OP.promoteLow, set(b23)); // (B[j+2,k], B[j+3,k])
  for (let r = 0; r < 4; r++) emit(get(pa[r]), OP.f32Load, 2, 0, OP.f64PromoteF32, OP.f64x2Splat, set(av[r]));
  for (let r = 0; r < 4; r++) {
    emit(get(acc[2 * r]), get(av[r]), get(b01), OP.f64x2Mul, OP.f64x2Add, set(acc[2 * r]));
    emit(get(acc[2 * r + 1]), get(av[r]), get(b23), OP.f64x2Mul, OP.f64x2Add, set(acc[2 * r + 1]));
  }
  for (const x of pa) emit(inc(x, 4));
  emit(inc(pb, 16), inc(k, 1), endLoop);
  for (let r = 0; r < 4; r++) {
    // &S[i+r, j]
    emit(get(i), c(r), OP.i32Add, get(N4), OP.i32Mul, get(j), OP.i32Add, c(8), OP.i32Mul, get(s), OP.i32Add, set(ps));
    emit(get(ps), get(acc[2 * r]), OP.v128Store, [4, 0]);
    emit(get(ps), get(acc[2 * r + 1]), OP.v128Store, [4, 16]);
  }
  emit(inc(j, 4), endLoop);
  emit(inc(i, 4), endLoop);
  emit(OP.end);
  const body = [
    ...vector([
      [...uleb(10), I32],
      [...uleb(14), V128],
    ]),
    ...code,
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vector([[0x60, ...vector([[I32], [I32], [I32], [I32], [I32], [I32]]), 0]])),
    ...section(2, vector([[...name('m'), ...name('mem'), 0x02, 0x00, 0x01]])),
    ...section(3, vector([[0]])),
    ...section(7, vector([[...name('tiles'), 0x00, 0]])),
    ...section(10, vector([[...uleb(body.length), ...body]])),
  ]);
}

interface Kernel {
  readonly memory: WebAssembly.Memory;
  readonly tiles: (a: number, p: number, s: number, M4: number, N4: number, K: number) => void;
}

let kernel: Kernel | null | undefined;

/** The compiled kernel, or null where WebAssembly SIMD is unavailable (the JavaScript tile is used). */
function getKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const memory = new WebAssembly.Memory({ initial: 16 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), { m: { mem: memory } });
    kernel = { memory, tiles: inst.exports['tiles'] as Kernel['tiles'] };
  } catch {
    kernel = null;
  }
  return kernel;
}

let enabled = true;

/** Turns the SIMD path off or on (tests compare both paths); returns whether it is available. */
export function setSimd(on: boolean): boolean {
  enabled = on;
  return getKernel() !== null;
}

/** Multiply-adds below which copying the operands into WebAssembly memory costs more than it saves. */
export const SIMD_MIN_WORK = 1 << 15;

/**
 * S[i·N4 + j] = Σ_k A[i·K + k]·B(j, k) (float64) for i < M4, j < N4 (multiples of 4), where B(j, k)
 * is B[j·K + k] for `bLayout` 'nk' (B is [N, K]) and B[k·N + j] for 'kn' (B is [K, N]). Null when
 * the SIMD path is off or unavailable. The returned view is valid until the next call.
 */
export function simdRawTiles(
  A: Float32Array,
  B: Float32Array,
  M4: number,
  N4: number,
  K: number,
  bLayout: 'nk' | 'kn' = 'nk',
  N = N4,
): Float64Array | null {
  const kern = enabled ? getKernel() : null;
  if (!kern) return null;
  const aBytes = M4 * K * 4;
  const pBytes = N4 * K * 4;
  const sOff = aBytes + pBytes + ((8 - ((aBytes + pBytes) % 8)) % 8);
  const need = sOff + M4 * N4 * 8;
  const have = kern.memory.buffer.byteLength;
  if (need > have) {
    try {
      kern.memory.grow(Math.ceil((need - have) / 65536));
    } catch {
      return null; // beyond what a 32-bit memory holds: the JavaScript tile does it
    }
  }
  const buf = kern.memory.buffer;
  new Float32Array(buf, 0, M4 * K).set(A.subarray(0, M4 * K));
  const P = new Float32Array(buf, aBytes, N4 * K);
  for (let j = 0; j < N4; j += 4) {
    const panel = j * K;
    if (bLayout === 'kn') {
      // Columns j..j+3 of row k are already adjacent.
      for (let k = 0; k < K; k++) P.set(B.subarray(k * N + j, k * N + j + 4), panel + 4 * k);
      continue;
    }
    const b0 = j * K,
      b1 = b0 + K,
      b2 = b1 + K,
      b3 = b2 + K;
    for (let k = 0; k < K; k++) {
      const o = panel + 4 * k;
      P[o] = B[b0 + k];
      P[o + 1] = B[b1 + k];
      P[o + 2] = B[b2 + k];
      P[o + 3] = B[b3 + k];
    }
  }
  kern.tiles(0, aBytes, sOff, M4, N4, K);
  return new Float64Array(buf, sOff, M4 * N4);
}

/**
 * matmul.ts's product through the SIMD tiles: out[T, outDim] = x · W (+ bias) for either layout,
 * with the same sums and the same float32 rounding as its JavaScript tiles (rows and columns past
 * the last multiple of 4 as single dot products, like its dotOne). False when not taken (too small,
 * or SIMD unavailable): the caller runs its own loops.
 */
export function matmulSimd(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  T: number,
  inDim: number,
  outDim: number,
  layout: Layout,
): boolean {
  const M4 = T - (T % 4);
  const N4 = outDim - (outDim % 4);
  if (M4 * N4 * inDim < SIMD_MIN_WORK) return false;
  const S = simdRawTiles(x, w, M4, N4, inDim, layout === 'out_in' ? 'nk' : 'kn', outDim);
  if (!S) return false;
  const wAt =
    layout === 'out_in' ? (o: number, i: number) => w[o * inDim + i] : (o: number, i: number) => w[i * outDim + o];
  const dot = (t: number, o: number) => {
    let acc = 0;
    const xr = t * inDim;
    for (let i = 0; i < inDim; i++) acc += x[xr + i] * wAt(o, i);
    out[t * outDim + o] = acc + (bias ? bias[o] : 0);
  };
  for (let t = 0; t < M4; t++) {
    const s = t * N4;
    const r = t * outDim;
    for (let o = 0; o < N4; o++) out[r + o] = S[s + o] + (bias ? bias[o] : 0);
    for (let o = N4; o < outDim; o++) dot(t, o);
  }
  for (let t = M4; t < T; t++) for (let o = 0; o < outDim; o++) dot(t, o);
  return true;
}
