// Which tensors of a model are quantised: the scope. By default every linear weight inside the
// blocks (DESIGN.md §2/§5); options add the output matrix and the token embeddings and restrict the
// block linears by layer index and by role (attn_qkv, attn_out, mlp_in, mlp_out, from spec.ts).
// Reference: test/fixtures/golden/README.md, the variants `blocks`, `blocks+lm_head_untied`,
// `blocks+lm_head_tied`.
//
// A tied output matrix is the same Tensor object as the embedding. `output: 'untied'` quantises a copy
// used as the output projection while the embedding lookup keeps the original; `output: 'tied'`
// replaces the shared matrix itself (both names get the quantised tensor). For an untied model both
// mean "quantise the output matrix". Embeddings and the output matrix are [rows = vocabulary,
// cols = width] and are quantised like nn.Linear weights (`out_in`: one row is one output channel,
// groups run along the width). Position tables, norms, biases and OPT's project_in/out are never
// quantised.

import { ConfigError } from '../errors.ts';
import type { Model } from '../model/model.ts';
import { LINEAR_ROLES, linearDims, weightSpec, type Layout, type LinearRole } from '../model/spec.ts';

export type OutputMode = 'none' | 'untied' | 'tied';
export const OUTPUT_MODES: readonly OutputMode[] = ['none', 'untied', 'tied'];

export interface QuantScope {
  /** Quantise the linear weights inside the blocks (default true). */
  readonly blocks: boolean;
  /** Block indices to include (null/absent = all). Applies to block linears only. */
  readonly layers?: readonly number[] | null;
  /** Roles to include (null/absent = all). Applies to block linears only. */
  readonly roles?: readonly LinearRole[] | null;
  /** The output matrix: not quantised, a quantised untied copy, or the tied matrix itself. */
  readonly output: OutputMode;
  /** The token embedding matrix. */
  readonly embeddings: boolean;
}

export const DEFAULT_SCOPE: QuantScope = Object.freeze({
  blocks: true,
  layers: null,
  roles: null,
  output: 'none',
  embeddings: false,
});

export type TargetKind = 'linear' | 'output' | 'embedding';

/** One tensor to quantise. */
export interface QuantTarget {
  /** Name the weight is read from (and reported under). */
  readonly name: string;
  /** Names in the model that receive the quantised tensor. */
  readonly replace: readonly string[];
  readonly kind: TargetKind;
  readonly layout: Layout;
  readonly inDim: number;
  readonly outDim: number;
  readonly layer?: number;
  readonly role?: LinearRole;
}

/** Checks layer indices and roles against the model; throws ConfigError naming the bad value. */
export function checkScope(scope: QuantScope, numLayers: number): void {
  for (const l of scope.layers ?? []) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) {
      throw new ConfigError(
        `layer ${l} is not a block of this model (it has layers 0..${numLayers - 1}); fix the layer list`,
      );
    }
  }
  for (const r of scope.roles ?? []) {
    if (!LINEAR_ROLES.includes(r))
      throw new ConfigError(`unknown module role "${r}"; roles are ${LINEAR_ROLES.join(', ')}`);
  }
  if (!OUTPUT_MODES.includes(scope.output)) {
    throw new ConfigError(
      `output matrix mode must be one of ${OUTPUT_MODES.join(', ')}, got ${JSON.stringify(scope.output)}`,
    );
  }
}

/** The quantisation targets of `model` under `scope`, in checkpoint order. */
export function selectTargets(model: Model, scope: QuantScope): QuantTarget[] {
  const cfg = model.config;
  checkScope(scope, cfg.numLayers);
  const specs = weightSpec(cfg);
  const layers = scope.layers ? new Set(scope.layers) : null;
  const roles = scope.roles ? new Set(scope.roles) : null;
  const out: QuantTarget[] = [];
  const emb = specs.find((s) => s.kind === 'embedding')!;
  const outSpec = specs.find((s) => s.kind === 'output')!;
  // Tied when the loaded model shares one Tensor object between the two names.
  const tied = model.weights.get(outSpec.name) === model.weights.get(emb.name);

  if (scope.embeddings && !(tied && scope.output === 'tied')) {
    const [V, W] = emb.shape;
    out.push({ name: emb.name, replace: [emb.name], kind: 'embedding', layout: 'out_in', inDim: W, outDim: V });
  }
  if (scope.blocks) {
    for (const s of specs) {
      if (s.kind !== 'linear') continue;
      if (layers && !layers.has(s.layer!)) continue;
      if (roles && !roles.has(s.role!)) continue;
      const { inDim, outDim } = linearDims(s);
      out.push({
        name: s.name,
        replace: [s.name],
        kind: 'linear',
        layout: s.layout!,
        inDim,
        outDim,
        layer: s.layer,
        role: s.role,
      });
    }
  }
  if (scope.output !== 'none') {
    const [V, W] = outSpec.shape;
    const replace = tied && scope.output === 'tied' ? [outSpec.name, emb.name] : [outSpec.name];
    out.push({ name: outSpec.name, replace, kind: 'output', layout: 'out_in', inDim: W, outDim: V });
  }
  return out;
}

/** A short human label for a scope (manifests, logs). */
export function describeScope(scope: QuantScope): string {
  const parts: string[] = [];
  if (scope.blocks) {
    let s = 'block linears';
    if (scope.layers) s += ` of layers ${scope.layers.join(',')}`;
    if (scope.roles) s += ` (${scope.roles.join(',')})`;
    parts.push(s);
  }
  if (scope.output !== 'none') parts.push(`output matrix (${scope.output})`);
  if (scope.embeddings) parts.push('embeddings');
  return parts.length ? parts.join(' + ') : 'nothing';
}
