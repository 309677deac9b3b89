// Block-range graphs for layer scans (C-001): the full-precision body that also returns the hidden
// state entering every block, and graphs that start from such a state at block `from` and run to
// block `to` (or through the final norm when `to` is the last block). Built from the same
// architecture code as the whole body (arch/*.ts) through BodyCtx.enter, with everything before
// `from` pruned. A runner scores a variant whose first changed block is `from` with a chain of
// one-block graphs ('split', the default) or one graph for blocks from..L−1 ('range').
// Also the calibration graph: each linear's Σ_t x_tj² over a window (ortLinearSumSq).
// And GPTQ's/AWQ's sequential calibration pass (ortCalibrationPass): per block, each linear input's
// float64 Σ x xᵀ and Σ|x| over a window, and the state carried through the quantised block.
// Reference: src/quant/layers.ts (the sweep that uses the runner); build.ts (the whole body).

import { createHash } from 'node:crypto';
import { DataError } from '../../errors.ts';
import type { Model } from '../../model/model.ts';
import { weight } from '../../model/model.ts';
import { weightSpec } from '../../model/spec.ts';
import type { ScoreResult } from '../types.ts';
import { bloomBody } from './arch/bloom.ts';
import { gpt2Body } from './arch/gpt2.ts';
import { gptNeoxBody } from './arch/gpt_neox.ts';
import { llamaBody } from './arch/llama.ts';
import { optBody } from './arch/opt.ts';
import { xglmBody } from './arch/xglm.ts';
import { BODY_INPUT, BODY_OUTPUT, buildHead, HEAD_INPUTS, HEAD_OUTPUTS } from './build.ts';
import { createSession, type Session } from './engine.ts';
import { GraphBuilder, type EncodedGraph, type WeightMode } from './graph.ts';
import { prelude, type BodyCtx } from './layers.ts';
import { DataType } from './proto.ts';
import { headChunks, headIdentity, headRowsFor, loadOrt, threadsFor, weightModeFor, type Ort } from './runtime.ts';

export const STATE_INPUT = 'state_in';
export const STATE_OUTPUT = 'state_out';
/** Name of the output holding the state entering block `l` in the states graph. */
export const stateName = (l: number): string => `state_${l}`;

function archBody(ctx: BodyCtx, x: string): string {
  switch (ctx.model.config.arch) {
    case 'gpt2':
      return gpt2Body(ctx, x);
    case 'opt':
      return optBody(ctx, x);
    case 'gpt_neox':
      return gptNeoxBody(ctx, x);
    case 'llama':
    case 'qwen2':
    case 'mistral':
    case 'gemma':
      return llamaBody(ctx, x);
    case 'xglm':
      return xglmBody(ctx, x);
    case 'bloom':
      return bloomBody(ctx, x);
  }
}

function context(b: GraphBuilder, model: Model, x: string, fused: boolean, enter: BodyCtx['enter']): BodyCtx {
  const specs = new Map(weightSpec(model.config).map((s) => [s.name, s]));
  return { b, model, specs, fused, enter, ...prelude(b, x) };
}

/** token ids [1, T] → the state entering each block (`state_l`, [T, C]) and the final hidden states [T, P]. */
export function buildStates(model: Model, fused = true, weights: WeightMode = 'inputs'): EncodedGraph {
  const cfg = model.config;
  const b = new GraphBuilder(`${cfg.arch}_states`, weights);
  const ids = b.input(BODY_INPUT, DataType.INT64, [1, 'T']);
  const table = weightSpec(cfg).find((s) => s.kind === 'embedding')!.name;
  const x = b.node('Gather', [b.weight(weight(model, table), table), b.node('Reshape', [ids, b.i64([-1])])]);
  const enter = (l: number, s: string) => {
    b.output(s, stateName(l), DataType.FLOAT, ['T', cfg.hiddenSize]);
    return stateName(l);
  };
  b.output(archBody(context(b, model, x, fused, enter), x), BODY_OUTPUT, DataType.FLOAT, ['T', cfg.embedDim]);
  return b.encode();
}

/**
 * The state entering block `from` [T, C] → the state entering block `to` (`state_out`, when
 * to < L) or the final hidden states (`hidden`, when to = L). 0 ≤ from < to ≤ L.
 */
export function buildRange(
  model: Model,
  from: number,
  to: number,
  fused = true,
  weights: WeightMode = 'inputs',
  opts: { canonical?: boolean } = {},
): EncodedGraph {
  const cfg = model.config;
  const L = cfg.numLayers;
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from < to && to <= L)) {
    throw new Error(`ort blocks: bad block range ${from}..${to} of ${L}`);
  }
  const b = new GraphBuilder(`${cfg.arch}_blocks_${from}_${to}`, weights);
  const input = b.input(STATE_INPUT, DataType.FLOAT, ['T', cfg.hiddenSize]);
  const enter = (l: number, s: string) => {
    if (l === from) return input;
    if (l === to) b.output(s, STATE_OUTPUT, DataType.FLOAT, ['T', cfg.hiddenSize]);
    return s;
  };
  // What the body does before block 0 (positions, embedding norms) acts on `input` too, but `enter`
  // replaces its result at block `from`, so it is pruned.
  const h = archBody(context(b, model, input, fused, enter), input);
  if (to === L) b.output(h, BODY_OUTPUT, DataType.FLOAT, ['T', cfg.embedDim]);
  return b.encode({ prune: true, canonical: opts.canonical });
}

export type BlockLayout = 'range' | 'split';

export interface BlockRunnerOptions {
  readonly threads?: number;
  /**
   * 'split' (default): one graph per block and weight source, chained — measured the faster (README
   * Performance: fewer, smaller sessions to create); 'range': one graph per first block (from..L−1).
   */
  readonly layout?: BlockLayout;
  /** Rows of the output matrix per head run (default: runtime.ts headRowsFor, as the engine's). */
  readonly headRows?: number;
  /** How the weights reach onnxruntime (default: runtime.ts weightModeFor, as the engine's). */
  readonly weights?: WeightMode;
  /**
   * 'split' with weights as feeds: one session for every block of the same structure (default true;
   * false: one per block and weight source, as before — kept for the test that they agree bit for bit).
   */
  readonly shareSessions?: boolean;
}

/** Full-precision states once per window, then variants that start at their first changed block. */
export interface BlockRunner {
  /** What decides its numbers besides the weights (runtime, threads, layout), for caches of its results. */
  readonly identity: string;
  /** states[l] [T, C]: the full-precision state entering block l, l = 0..L−1. */
  states(ids: Int32Array): Promise<Float32Array[]>;
  /**
   * NLL and top-1 of `ids` for the variant `key` (its weights: `model`), whose blocks before `from`
   * are full precision, starting from `state` entering block `from`.
   */
  finish(key: string, model: () => Model, from: number, state: Float32Array, ids: Int32Array): Promise<ScoreResult>;
  /** onnxruntime sessions made so far (each holds its own arena of activation buffers). */
  sessionsCreated(): number;
  dispose(): Promise<void>;
}

type OrtTensor = InstanceType<Ort['Tensor']>;

/** The onnxruntime runner for `fp`. Rejects with OrtUnavailableError when onnxruntime cannot load. */
export async function ortBlockRunner(fp: Model, opts: BlockRunnerOptions = {}): Promise<BlockRunner> {
  const ort = await loadOrt();
  const threads = threadsFor(fp.config, opts.threads);
  const headRows = headRowsFor(fp.config, opts.headRows);
  const layout = opts.layout ?? 'split';
  const cfg = fp.config;
  const L = cfg.numLayers;
  const V = cfg.vocabSize;
  const E = cfg.embedDim;
  const C = cfg.hiddenSize;
  const sessions = new Map<string, Session>();
  const session = async (key: string, make: () => EncodedGraph) => {
    let s = sessions.get(key);
    if (!s) sessions.set(key, (s = await createSession(ort, make(), threads)));
    return s;
  };
  const mode = weightModeFor(cfg, opts.weights);
  // 'split' with the weights as feeds: blocks of the same structure (every block of most models, and
  // a block's full-precision and quantised versions) share one session, fed each one's weights. Each
  // session's arena grows to the largest window it has run, so one session instead of two per block
  // keeps C-001's memory near one model's (README, Performance); the graphs, and so the numbers, are
  // the same (test/quant/layer-sweep.test.ts). With initialisers the weights are in the session.
  const shared = layout === 'split' && mode === 'inputs' && opts.shareSessions !== false;
  const byGraph = new Map<string, Promise<Session>>(); // by the canonical graph's bytes
  const blocks = new Map<string, Session>(); // by block and weight source: the shared session and that block's feeds
  const blockSession = async (l: number, m: Model): Promise<Session> => {
    const key = `block:${l}:${blockKey(m, fp, l)}`;
    if (!shared) return session(key, () => buildRange(m, l, l + 1, true, mode));
    let s = blocks.get(key);
    if (s) return s;
    const g = buildRange(m, l, l + 1, true, mode, { canonical: true });
    const h = createHash('sha256').update(g.model).digest('hex');
    let made = byGraph.get(h);
    if (!made) byGraph.set(h, (made = createSession(ort, g, threads)));
    const weights: Record<string, OrtTensor> = {};
    for (const f of g.weightFeeds) weights[f.name] = new ort.Tensor('float32', f.data, f.dims);
    blocks.set(key, (s = { session: (await made).session, weights }));
    return s;
  };
  const states = await session('states', () => buildStates(fp, true, mode));
  const head = await session('head', () => buildHead(fp, mode));

  const run = async (s: Session, feeds: Record<string, OrtTensor>, fetch: string) => {
    const out = await s.session.run({ ...s.weights, ...feeds }, [fetch]);
    return out[fetch].data as Float32Array;
  };
  const stateTensor = (x: Float32Array, T: number) => new ort.Tensor('float32', x, [T, C]);

  async function scoreHead(hidden: Float32Array, ids: Int32Array): Promise<ScoreResult> {
    const T = ids.length;
    const nll = new Float64Array(T - 1);
    const top1 = new Int32Array(T - 1);
    for (const [s, e] of headChunks(T - 1, headRows)) {
      const R = e - s;
      const targets = new BigInt64Array(R);
      for (let t = s; t < e; t++) targets[t - s] = BigInt(ids[t + 1]);
      const r = await head.session.run(
        {
          ...head.weights,
          [HEAD_INPUTS.hidden]: new ort.Tensor('float32', hidden.slice(s * E, e * E), [R, E]),
          [HEAD_INPUTS.targets]: new ort.Tensor('int64', targets, [R]),
        },
        [HEAD_OUTPUTS.nll, HEAD_OUTPUTS.top1],
      );
      const n = r[HEAD_OUTPUTS.nll].data as Float32Array;
      const a = r[HEAD_OUTPUTS.top1].data as BigInt64Array;
      for (let t = s; t < e; t++) {
        nll[t] = n[t - s];
        top1[t] = Number(a[t - s]);
      }
    }
    return { nll, top1 };
  }

  return {
    identity:
      `ort ${ort.env.versions?.common ?? '?'} threads=${threads} ${headIdentity(headRows)} weights=${mode}` +
      ` layout=${layout} fused=true`,
    async states(ids) {
      const T = ids.length;
      if (T < 2)
        throw new DataError(
          `a window of ${T} token${T === 1 ? '' : 's'} has nothing to score; give at least 2 token ids`,
        );
      if (cfg.maxPositions !== null && cfg.positions === 'learned' && T > cfg.maxPositions) {
        throw new DataError(
          `a window of ${T} tokens is longer than the model's ${cfg.maxPositions} positions; use a shorter context`,
        );
      }
      const ids64 = new BigInt64Array(T);
      for (let t = 0; t < T; t++) {
        if (!(ids[t] >= 0 && ids[t] < V))
          throw new DataError(`token id ${ids[t]} at position ${t} is outside the vocabulary (0..${V - 1})`);
        ids64[t] = BigInt(ids[t]);
      }
      const names = Array.from({ length: L }, (_, l) => stateName(l));
      const out = await states.session.run(
        { ...states.weights, [BODY_INPUT]: new ort.Tensor('int64', ids64, [1, T]) },
        names,
      );
      return names.map((n) => out[n].data as Float32Array);
    },
    async finish(key, model, from, state, ids) {
      const T = ids.length;
      let x = state;
      if (layout === 'range') {
        const s = await session(`range:${key}:${from}`, () => buildRange(model(), from, L, true, mode));
        x = await run(s, { [STATE_INPUT]: stateTensor(x, T) }, BODY_OUTPUT);
      } else {
        // One graph per block and per weight source; a block holds the same weights in every variant
        // that leaves it unchanged, so the sessions are keyed by the block's own tensors.
        const m = model();
        for (let l = from; l < L; l++) {
          const last = l === L - 1;
          const s = await blockSession(l, m);
          x = await run(s, { [STATE_INPUT]: stateTensor(x, T) }, last ? BODY_OUTPUT : STATE_OUTPUT);
        }
      }
      return scoreHead(x, ids);
    },
    sessionsCreated: () => sessions.size + byGraph.size,
    async dispose() {
      const all = [...sessions.values(), ...(await Promise.all(byGraph.values()))];
      sessions.clear();
      byGraph.clear();
      blocks.clear();
      for (const s of all) await s.session.release();
    },
  };
}

/** 'fp' when block `l` of `m` holds exactly `fp`'s tensors, otherwise 'q' (the sweep's one other source). */
function blockKey(m: Model, fp: Model, l: number): string {
  for (const s of weightSpec(m.config))
    if (s.layer === l && m.weights.get(s.name) !== fp.weights.get(s.name)) return 'q';
  return 'fp';
}

// ---------------------------------------------------------------- calibration statistics

/** Output name of Σ_t x_tj² over a window for the linear `name`'s input. */
const sumSqName = (i: number): string => `sumsq_${i}`;

/**
 * token ids [1, T] → for each linear in `names` (weight names), Σ_t x_tj² of its input over the
 * window ([in], float32; linears reading the same value share one reduction).
 */
export function buildLinearSumSq(model: Model, names: readonly string[], fused = true): EncodedGraph {
  const cfg = model.config;
  const b = new GraphBuilder(`${cfg.arch}_sumsq`, 'inputs');
  const ids = b.input(BODY_INPUT, DataType.INT64, [1, 'T']);
  const table = weightSpec(cfg).find((s) => s.kind === 'embedding')!.name;
  const x = b.node('Gather', [b.weight(weight(model, table), table), b.node('Reshape', [ids, b.i64([-1])])]);
  const index = new Map(names.map((n, i) => [n, i]));
  const reduced = new Map<string, string>();
  const seen = new Set<string>();
  const onLinearInput = (name: string, input: string) => {
    const i = index.get(name);
    if (i === undefined) return;
    let r = reduced.get(input);
    if (!r)
      reduced.set(
        input,
        (r = b.node('ReduceSum', [b.node('Mul', [input, input]), b.i64([0])], { keepdims: { i: 0 } })),
      );
    b.output(r, sumSqName(i), DataType.FLOAT, ['I']);
    seen.add(name);
  };
  const ctx = { ...context(b, model, x, fused, undefined), onLinearInput };
  archBody(ctx, x);
  const missing = names.filter((n) => !seen.has(n));
  if (missing.length) throw new Error(`ort calibration: the ${cfg.arch} graph has no linear ${missing[0]}`);
  return b.encode({ prune: true });
}

/**
 * diag(XᵀX) of every linear in `names` over the windows, run through onnxruntime: one forward per
 * window (float32 sums over its rows), accumulated across windows in float64.
 * Rejects with OrtUnavailableError when onnxruntime cannot load.
 */
export async function ortLinearSumSq(
  model: Model,
  windows: readonly Int32Array[],
  names: readonly string[],
  threads?: number,
): Promise<Map<string, Float64Array>> {
  const ort = await loadOrt();
  const n = threadsFor(model.config, threads);
  const s = await createSession(ort, buildLinearSumSq(model, names), n);
  const out = new Map<string, Float64Array>();
  const fetch = names.map((_, i) => sumSqName(i));
  try {
    for (const ids of windows) {
      const ids64 = BigInt64Array.from(ids, (v) => BigInt(v));
      const r = await s.session.run(
        { ...s.weights, [BODY_INPUT]: new ort.Tensor('int64', ids64, [1, ids.length]) },
        fetch,
      );
      names.forEach((name, i) => {
        const v = r[fetch[i]].data as Float32Array;
        let acc = out.get(name);
        if (!acc) out.set(name, (acc = new Float64Array(v.length)));
        for (let j = 0; j < v.length; j++) acc[j] += v[j];
      });
    }
  } finally {
    await s.session.release();
  }
  return out;
}

// ---------------------------------------------------------------- sequential calibration (GPTQ, AWQ)

/** token ids [1, T] → the state entering block 0 (`state_out`, [T, C]). */
export function buildEntry(model: Model, fused = true): EncodedGraph {
  const cfg = model.config;
  const b = new GraphBuilder(`${cfg.arch}_entry`, 'inputs');
  const ids = b.input(BODY_INPUT, DataType.INT64, [1, 'T']);
  const table = weightSpec(cfg).find((s) => s.kind === 'embedding')!.name;
  const x = b.node('Gather', [b.weight(weight(model, table), table), b.node('Reshape', [ids, b.i64([-1])])]);
  const enter = (l: number, s: string) => {
    if (l === 0) b.output(s, STATE_OUTPUT, DataType.FLOAT, ['T', cfg.hiddenSize]);
    return s;
  };
  archBody(context(b, model, x, fused, enter), x);
  return b.encode({ prune: true });
}

/** Which distinct input k (outputs `gram_k`, `abssum_k`) each wanted linear reads, in call order. */
export interface StatsLayout {
  readonly linears: readonly { name: string; input: number }[];
}

/** Output names of the float64 Σ x xᵀ [in, in] and Σ_t |x_tj| [in] of the `k`-th distinct linear input. */
export const gramName = (k: number): string => `gram_${k}`;
export const absSumName = (k: number): string => `abssum_${k}`;

/**
 * The state entering block `layer` [T, C] → for each distinct input of the linears in `names`, Σ_t x_t x_tᵀ
 * (`gram_k`, [in, in]) and Σ_t |x_tj| (`abssum_k`, [in]), both in float64 (the float32 rows cast first:
 * every product is exact and the sums are float64, as accumulateGram's). A linear's layout entry
 * gives its input's k.
 */
export function buildBlockStats(
  model: Model,
  layer: number,
  names: readonly string[],
  fused = true,
): { graph: EncodedGraph; layout: StatsLayout } {
  const cfg = model.config;
  const b = new GraphBuilder(`${cfg.arch}_stats_${layer}`, 'inputs');
  const input = b.input(STATE_INPUT, DataType.FLOAT, ['T', cfg.hiddenSize]);
  const wanted = new Set(names);
  const inputOf = new Map<string, number>();
  const linears: { name: string; input: number }[] = [];
  const enter = (l: number, s: string) => (l === layer ? input : s);
  const onLinearInput = (name: string, value: string) => {
    if (!wanted.has(name)) return;
    let k = inputOf.get(value);
    if (k === undefined) {
      k = inputOf.size;
      inputOf.set(value, k);
      const x = b.node('Cast', [value], { to: { i: DataType.DOUBLE } });
      const xt = b.node('Transpose', [x], { perm: { ints: [1, 0] } });
      b.output(b.node('MatMul', [xt, x]), gramName(k), DataType.DOUBLE, ['I', 'I']);
      const abs = b.node('ReduceSum', [b.node('Abs', [x]), b.i64([0])], { keepdims: { i: 0 } });
      b.output(abs, absSumName(k), DataType.DOUBLE, ['I']);
    }
    linears.push({ name, input: k });
  };
  archBody({ ...context(b, model, input, fused, enter), onLinearInput }, input);
  const missing = names.filter((n) => !linears.some((x) => x.name === n));
  if (missing.length) {
    throw new Error(`ort calibration: block ${layer} of the ${cfg.arch} graph has no linear ${missing[0]}`);
  }
  return { graph: b.encode({ prune: true }), layout: { linears } };
}

/** One distinct linear input's float64 statistics over one window (buildBlockStats). */
export interface InputSums {
  /** The linears reading it, in call order. */
  readonly names: readonly string[];
  /** Σ_t x_t x_tᵀ [inDim, inDim] (symmetric) and Σ_t |x_tj| [inDim]. */
  readonly gram: Float64Array;
  readonly absSum: Float64Array;
  readonly inDim: number;
}

const QUADRATIC_INPUTS = { d: 'd', gram: 'gram' } as const;
const QUADRATIC_OUTPUT = 'quadratic';

/** Σ (D ⊙ (D·G)) over every entry, in float64: D [O, I], G [I, I] → a scalar. */
function buildQuadratic(): EncodedGraph {
  const b = new GraphBuilder('gram_quadratic');
  const d = b.input(QUADRATIC_INPUTS.d, DataType.DOUBLE, ['O', 'I']);
  const g = b.input(QUADRATIC_INPUTS.gram, DataType.DOUBLE, ['I', 'I']);
  const dg = b.node('MatMul', [d, g]); // [O, I]
  const total = b.node('ReduceSum', [b.node('Mul', [d, dg])], { keepdims: { i: 0 } });
  b.output(total, QUADRATIC_OUTPUT, DataType.DOUBLE, []);
  return b.encode();
}

const MATMUL_INPUTS = { a: 'a', b: 'b' } as const;
const MATMUL_OUTPUT = 'c';

/** C = A·B in float64: A [M, K], B [K, N]. */
function buildMatMul(): EncodedGraph {
  const b = new GraphBuilder('matmul_f64');
  const a = b.input(MATMUL_INPUTS.a, DataType.DOUBLE, ['M', 'K']);
  const m = b.input(MATMUL_INPUTS.b, DataType.DOUBLE, ['K', 'N']);
  b.output(b.node('MatMul', [a, m]), MATMUL_OUTPUT, DataType.DOUBLE, ['M', 'N']);
  return b.encode();
}

/**
 * The float64 products of the calibrated solvers on onnxruntime (CalibrationPass.quadratic and .matmul),
 * for callers without a calibration pass (benchmarks, tests).
 */
export interface Float64Kernels {
  quadratic(d: Float64Array, outDim: number, inDim: number, gram: Float64Array): Promise<number>;
  /** C = A·B, A [m, k], B [k, n], row-major (quant/gptq.ts MatMul64). */
  matmul(a: Float64Array, m: number, k: number, b: Float64Array, n: number): Promise<Float64Array>;
  dispose(): Promise<void>;
}

/**
 * The float64 kernels' sessions on `threads` intra-op threads. Rejects with OrtUnavailableError when
 * onnxruntime cannot load.
 */
export async function ortFloat64Kernels(threads = 1): Promise<Float64Kernels> {
  const ort = await loadOrt();
  const nThreads = Math.max(1, Math.floor(threads));
  // each session made on first use: GPTQ without its reported errors needs only the product
  let quad: Promise<Session> | undefined;
  let mm: Promise<Session> | undefined;
  return {
    async matmul(a, m, k, b, n) {
      if (a.length !== m * k || b.length !== k * n) {
        throw new Error(`matmul: A has ${a.length} values for [${m}, ${k}], B ${b.length} for [${k}, ${n}]`);
      }
      const session = (await (mm ??= createSession(ort, buildMatMul(), nThreads))).session;
      const r = await session.run(
        {
          [MATMUL_INPUTS.a]: new ort.Tensor('float64', a, [m, k]),
          [MATMUL_INPUTS.b]: new ort.Tensor('float64', b, [k, n]),
        },
        [MATMUL_OUTPUT],
      );
      return r[MATMUL_OUTPUT].data as Float64Array;
    },
    async quadratic(d, outDim, inDim, gram) {
      if (d.length !== outDim * inDim || gram.length !== inDim * inDim) {
        throw new Error(
          `quadratic: D has ${d.length} values for [${outDim}, ${inDim}], G ${gram.length} for [${inDim}, ${inDim}]`,
        );
      }
      const session = (await (quad ??= createSession(ort, buildQuadratic(), nThreads))).session;
      const r = await session.run(
        {
          [QUADRATIC_INPUTS.d]: new ort.Tensor('float64', d, [outDim, inDim]),
          [QUADRATIC_INPUTS.gram]: new ort.Tensor('float64', gram, [inDim, inDim]),
        },
        [QUADRATIC_OUTPUT],
      );
      return (r[QUADRATIC_OUTPUT].data as Float64Array)[0];
    },
    async dispose() {
      const made = [quad, mm];
      quad = mm = undefined;
      for (const m of made) await (await m)?.session.release();
    },
  };
}

/**
 * The steps of GPTQ's/AWQ's sequential calibration on onnxruntime, one block at a time: the state
 * entering block 0, one block's statistics of its linears' inputs (with the weights of the model
 * given), and a block's output state. Sessions for a block are created on first use and released by `releaseBlock`.
 */
export interface CalibrationPass {
  entry(ids: Int32Array): Promise<Float32Array>;
  /** The float64 statistics of each distinct input of `names` (in block `layer`), in order of first use. */
  sums(model: Model, layer: number, names: readonly string[], state: Float32Array, T: number): Promise<InputSums[]>;
  carry(model: Model, layer: number, state: Float32Array, T: number): Promise<Float32Array>;
  /**
   * Σ_r d_rᵀ G d_r for D [out, in] (row-major) and a symmetric G [in, in], float64 throughout: one
   * matrix product D·G, the elementwise product with D, one sum (quant/gptq.ts GramQuadratic).
   */
  quadratic(d: Float64Array, outDim: number, inDim: number, gram: Float64Array): Promise<number>;
  /** C = A·B in float64, A [m, k], B [k, n], row-major (GPTQ's blocked solver, quant/gptq.ts MatMul64). */
  matmul(a: Float64Array, m: number, k: number, b: Float64Array, n: number): Promise<Float64Array>;
  /** Releases the sessions of `layer` (its statistics and carry graphs). */
  releaseBlock(layer: number): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * The onnxruntime calibration pass for models of `model`'s shape (its embedding for `entry`).
 * Rejects with OrtUnavailableError when onnxruntime cannot load.
 */
export async function ortCalibrationPass(model: Model, threads?: number): Promise<CalibrationPass> {
  const ort = await loadOrt();
  const n = threadsFor(model.config, threads);
  const C = model.config.hiddenSize;
  const sessions = new Map<string, Session>();
  const layouts = new Map<string, StatsLayout>();
  const session = async (key: string, make: () => EncodedGraph) => {
    let s = sessions.get(key);
    if (!s) sessions.set(key, (s = await createSession(ort, make(), n)));
    return s;
  };
  const release = async (key: string) => {
    const s = sessions.get(key);
    sessions.delete(key);
    await s?.session.release();
  };
  const state = (x: Float32Array, T: number) => new ort.Tensor('float32', x, [T, C]);
  let f64: Promise<Float64Kernels> | undefined;
  return {
    async entry(ids) {
      const s = await session('entry', () => buildEntry(model));
      const ids64 = BigInt64Array.from(ids, (v) => BigInt(v));
      const r = await s.session.run({ ...s.weights, [BODY_INPUT]: new ort.Tensor('int64', ids64, [1, ids.length]) }, [
        STATE_OUTPUT,
      ]);
      return r[STATE_OUTPUT].data as Float32Array;
    },
    async sums(m, layer, names, x, T) {
      const key = `sums:${layer}`;
      const s = await session(key, () => {
        const { graph, layout } = buildBlockStats(m, layer, names);
        layouts.set(key, layout);
        return graph;
      });
      const groups = new Map<number, string[]>();
      for (const { name, input } of layouts.get(key)!.linears) {
        groups.set(input, [...(groups.get(input) ?? []), name]);
      }
      const fetch = [...groups.keys()].flatMap((k) => [gramName(k), absSumName(k)]);
      const r = await s.session.run({ ...s.weights, [STATE_INPUT]: state(x, T) }, fetch);
      return [...groups].map(([k, group]) => {
        const absSum = r[absSumName(k)].data as Float64Array;
        return { names: group, gram: r[gramName(k)].data as Float64Array, absSum, inDim: absSum.length };
      });
    },
    async carry(m, layer, x, T) {
      const s = await session(`carry:${layer}`, () => buildRange(m, layer, layer + 1));
      const r = await s.session.run({ ...s.weights, [STATE_INPUT]: state(x, T) }, [STATE_OUTPUT]);
      return r[STATE_OUTPUT].data as Float32Array;
    },
    async quadratic(d, outDim, inDim, gram) {
      return (await (f64 ??= ortFloat64Kernels(n))).quadratic(d, outDim, inDim, gram);
    },
    async matmul(a, m, k, b, cols) {
      return (await (f64 ??= ortFloat64Kernels(n))).matmul(a, m, k, b, cols);
    },
    async releaseBlock(layer) {
      for (const kind of ['sums', 'carry']) {
        await release(`${kind}:${layer}`);
        layouts.delete(`${kind}:${layer}`);
      }
    },
    async dispose() {
      for (const k of [...sessions.keys()]) await release(k);
      const k = f64;
      f64 = undefined;
      await (await k)?.dispose();
    },
  };
}
