// Builds the two ONNX graphs that run a loaded model through onnxruntime:
//  - the body: token ids [1, T] (int64) → hidden states before the output matrix [T, P]
//    (one graph per architecture, arch/*.ts);
//  - the head: hidden rows [R, P] and their targets [R] → per-row NLL of the target, argmax,
//    logits and log-probabilities [R, V] (the log-softmax and the gather happen in the graph).
// The head runs in row chunks, so the [T, V] logits never exist at once unless asked for.
// Reference: ONNX IR and operators (https://onnx.ai/onnx/); see graph.ts for how weights travel.

import type { Model } from '../../model/model.ts';
import { weight } from '../../model/model.ts';
import { weightSpec, type TensorSpec } from '../../model/spec.ts';
import { bloomBody } from './arch/bloom.ts';
import { gpt2Body } from './arch/gpt2.ts';
import { gptNeoxBody } from './arch/gpt_neox.ts';
import { llamaBody } from './arch/llama.ts';
import { optBody } from './arch/opt.ts';
import { xglmBody } from './arch/xglm.ts';
import { GraphBuilder, type EncodedGraph, type WeightMode } from './graph.ts';
import { prelude, type BodyCtx } from './layers.ts';
import { DataType } from './proto.ts';

export const BODY_INPUT = 'ids';
export const BODY_OUTPUT = 'hidden';
export const HEAD_INPUTS = {
  hidden: 'hidden',
  targets: 'targets',
  klReference: 'ref_logprobs',
  klReferenceHidden: 'ref_hidden',
} as const;
export const HEAD_OUTPUTS = { nll: 'nll', top1: 'top1', logits: 'logits', logProbs: 'logprobs', kl: 'kl' } as const;

/** The spec entry of the given kind (embedding, output matrix). */
function specOf(model: Model, kind: TensorSpec['kind']): TensorSpec {
  const s = weightSpec(model.config).find((x) => x.kind === kind);
  if (!s) throw new Error(`ort graph: ${model.config.arch} has no ${kind} tensor`);
  return s;
}

export interface BodyOptions {
  /** How the weights reach onnxruntime (default 'inputs': no copy). */
  readonly weights?: WeightMode;
  /** Use onnxruntime's fused attention kernels where they apply (default true). */
  readonly fusedAttention?: boolean;
}

export function buildBody(model: Model, opts: BodyOptions = {}): EncodedGraph {
  const cfg = model.config;
  const b = new GraphBuilder(`${cfg.arch}_body`, opts.weights ?? 'inputs');
  const E = cfg.embedDim;
  const ids = b.input(BODY_INPUT, DataType.INT64, [1, 'T']);
  const table = specOf(model, 'embedding').name;
  const x = b.node('Gather', [b.weight(weight(model, table), table), b.node('Reshape', [ids, b.i64([-1])])]); // [T, E]
  const specs = new Map(weightSpec(cfg).map((s) => [s.name, s]));
  const ctx: BodyCtx = { b, model, specs, fused: opts.fusedAttention ?? true, ...prelude(b, x) };
  let h: string;
  switch (cfg.arch) {
    case 'gpt2':
      h = gpt2Body(ctx, x);
      break;
    case 'opt':
      h = optBody(ctx, x);
      break;
    case 'gpt_neox':
      h = gptNeoxBody(ctx, x);
      break;
    case 'llama':
    case 'qwen2':
    case 'mistral':
    case 'gemma':
      h = llamaBody(ctx, x);
      break;
    case 'xglm':
      h = xglmBody(ctx, x);
      break;
    case 'bloom':
      h = bloomBody(ctx, x);
      break;
  }
  b.output(h, BODY_OUTPUT, DataType.FLOAT, ['T', E]);
  return b.encode();
}

/**
 * The head; with `kl`, also an input of another model's log-probabilities [R, V] and the output
 * KL(p_ref ‖ p_this) per row [R] (float64): terms p_ref(v)·(ln p_ref(v) − ln p_this(v)) in float32,
 * 0 where p_ref(v) = 0, summed in float64. The rest of the graph is the same as without. With
 * `reference` as well, the input is that model's head input [R, H_ref] instead, and its
 * log-probabilities are computed here by the same operations as its own head graph (Gemm, LogSoftmax).
 */
export function buildHead(
  model: Model,
  weights: WeightMode = 'inputs',
  opts: { kl?: boolean; reference?: Model } = {},
): EncodedGraph {
  const cfg = model.config;
  const spec = specOf(model, 'output');
  const b = new GraphBuilder(`${cfg.arch}_head`, weights);
  const h = b.input(HEAD_INPUTS.hidden, DataType.FLOAT, ['R', cfg.embedDim]);
  const targets = b.input(HEAD_INPUTS.targets, DataType.INT64, ['R']);
  const W = b.weight(weight(model, spec.name), spec.name);
  const logits = b.node('Gemm', [h, W], { transB: { i: spec.layout === 'out_in' ? 1 : 0 } }); // [R, V]
  const logProbs = b.node('LogSoftmax', [logits], { axis: { i: -1 } }); // [R, V]
  const picked = b.node('GatherElements', [logProbs, b.node('Unsqueeze', [targets, b.i64([1])])], { axis: { i: 1 } }); // [R, 1]
  const nll = b.node('Neg', [b.node('Reshape', [picked, b.i64([-1])])]); // [R]
  const top1 = b.node('ArgMax', [logits], { axis: { i: 1 }, keepdims: { i: 0 } }); // [R] int64
  b.output(nll, HEAD_OUTPUTS.nll, DataType.FLOAT, ['R']);
  b.output(top1, HEAD_OUTPUTS.top1, DataType.INT64, ['R']);
  b.output(logits, HEAD_OUTPUTS.logits, DataType.FLOAT, ['R', cfg.vocabSize]);
  b.output(logProbs, HEAD_OUTPUTS.logProbs, DataType.FLOAT, ['R', cfg.vocabSize]);
  if (opts.kl) {
    const ref = opts.reference
      ? referenceLogProbs(b, opts.reference)
      : b.input(HEAD_INPUTS.klReference, DataType.FLOAT, ['R', cfg.vocabSize]);
    const terms = b.node('Mul', [b.node('Exp', [ref]), b.node('Sub', [ref, logProbs])]); // [R, V]
    const noMass = b.node('IsInf', [ref], { detect_positive: { i: 0 }, detect_negative: { i: 1 } });
    const kept = b.node('Where', [noMass, b.scalarF(0, 'zero_f'), terms]); // 0 · (−Inf − x) would be NaN
    const kl = b.node('ReduceSum', [b.node('Cast', [kept], { to: { i: DataType.DOUBLE } }), b.i64([1])], {
      keepdims: { i: 0 },
    });
    b.output(kl, HEAD_OUTPUTS.kl, DataType.DOUBLE, ['R']);
  }
  return b.encode();
}

/** The reference model's log-probabilities [R, V] from its head input: its head graph's first two nodes. */
function referenceLogProbs(b: GraphBuilder, reference: Model): string {
  const spec = specOf(reference, 'output');
  const h = b.input(HEAD_INPUTS.klReferenceHidden, DataType.FLOAT, ['R', reference.config.embedDim]);
  const W = b.weight(weight(reference, spec.name), `reference.${spec.name}`);
  const logits = b.node('Gemm', [h, W], { transB: { i: spec.layout === 'out_in' ? 1 : 0 } });
  return b.node('LogSoftmax', [logits], { axis: { i: -1 } });
}
