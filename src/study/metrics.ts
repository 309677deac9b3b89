// The metric names the disparity study's experiment kinds record, one catalogue for the kinds, the
// pipeline rules (pipelines/disparity.yaml) and the report. Names are stable: the report builds its
// charts from them. Rows are long form (DESIGN.md §6): `model` is the model alias (base, opt, pythia),
// `language` an ISO 639-3 code; group-level rows use the language `@high` / `@low` (the mean over
// that group's languages); rows about the whole experiment have language null.
// Reference: DESIGN.md §4 (measurement), §5 (bit accounting), §7 (the study); issue 7.
//
// Dimensions that long form has no column for are encoded in the name, with helpers to build and
// parse them: the preservation curve of B-004 (`curve_p10_delta_bpb`: share 10 %) and the layer
// matrix of C-001 (`layer3_delta_bpb`: block 3 quantised alone).

/** Where a metric's rows sit. */
export type MetricScope = 'language' | 'group' | 'language+group' | 'experiment';

export interface MetricDoc {
  readonly unit: string;
  readonly scope: MetricScope;
  readonly doc: string;
}

const d = (unit: string, scope: MetricScope, doc: string): MetricDoc => Object.freeze({ unit, scope, doc });

/** Group-level languages. */
export const HIGH = '@high';
export const LOW = '@low';
/**
 * Study languages the model never saw (its training.json, or corpus.unseen): reported on their own, never pooled into
 * @low.
 */
export const UNSEEN = '@unseen';

// ---------------------------------------------------------------- baseline (A-001; validate D-001/2)

export const BASELINE_METRICS = Object.freeze({
  /** Σ NLL of the scored tokens of the language's evaluation text, nats. */
  nll_nats: d('nats', 'language', 'total negative log-likelihood of the scored tokens (full precision)'),
  /**
   * Scored tokens (every token of each unit with a BOS before it; without one, all but the first: see bos_prepended).
   */
  tokens: d('tokens', 'language', 'number of scored tokens'),
  /** UTF-8 bytes of the evaluation text. */
  bytes: d('bytes', 'language', 'UTF-8 bytes of the evaluation text'),
  /** Unicode code points of the evaluation text. */
  chars: d('code points', 'language', 'characters (code points) of the evaluation text'),
  /** nll_nats / tokens. */
  mean_nll: d('nats/token', 'language', 'mean NLL per scored token'),
  /** Token perplexity exp(mean_nll); group rows: mean over the group. */
  ppl: d('perplexity', 'language+group', 'token perplexity exp(NLL / tokens)'),
  /** Bits per byte NLL / (bytes · ln 2); group rows: mean over the group. */
  bpb: d('bits/byte', 'language+group', 'bits per UTF-8 byte'),
  /** Bits per character NLL / (chars · ln 2). */
  bpc: d('bits/char', 'language', 'bits per character'),
  /** tokens / bytes: how finely the tokenizer cuts the language. */
  tokens_per_byte: d('tokens/byte', 'language', 'tokenizer fertility on the evaluation text'),
  /** Variance of token perplexity across the study languages (full precision). */
  ppl_variance: d('perplexity²', 'experiment', 'variance of per-language token perplexity (population)'),
});

// ---------------------------------------------------------------- degradation (A-002, B-001..3, D-001/2)

export const DEGRADATION_METRICS = Object.freeze({
  /** BPB_q − BPB_fp (primary degradation measure); group rows: mean over the group. */
  delta_bpb: d('bits/byte', 'language+group', 'ΔBPB = BPB of the treated model − BPB at full precision'),
  /** 2.5 % point of the bootstrap interval of delta_bpb (resampling the language's units). */
  delta_bpb_lo: d('bits/byte', 'language', 'lower end of the 95 % bootstrap interval of ΔBPB'),
  /** 97.5 % point of the bootstrap interval of delta_bpb. */
  delta_bpb_hi: d('bits/byte', 'language', 'upper end of the 95 % bootstrap interval of ΔBPB'),
  /** PPL_q / PPL_fp − 1 (as papers report it); group rows: mean over the group. */
  ppl_rel_increase: d('ratio', 'language+group', 'relative token-perplexity increase PPL_q / PPL_fp − 1'),
  /** 2.5 % and 97.5 % points of the bootstrap interval of ppl_rel_increase (resampling the language's units). */
  ppl_rel_increase_lo: d(
    'ratio',
    'language',
    'lower end of the 95 % bootstrap interval of the relative perplexity increase',
  ),
  ppl_rel_increase_hi: d(
    'ratio',
    'language',
    'upper end of the 95 % bootstrap interval of the relative perplexity increase',
  ),
  /** Mean NLL per token, treated − full precision. */
  delta_nll: d('nats/token', 'language', 'ΔNLL per scored token'),
  /** BPB of the treated model. */
  bpb_q: d('bits/byte', 'language', 'bits per byte of the treated model'),
  /** Token perplexity of the treated model. */
  ppl_q: d('perplexity', 'language', 'token perplexity of the treated model'),
  /** Mean KL(p_fp ‖ p_q) of next-token distributions over scored positions. */
  kl_mean: d('nats', 'language', 'mean KL divergence of next-token distributions'),
  kl_p50: d('nats', 'language', 'median KL divergence'),
  kl_p90: d('nats', 'language', '90th percentile of KL divergence'),
  kl_p99: d('nats', 'language', '99th percentile of KL divergence'),
  kl_max: d('nats', 'language', 'largest KL divergence'),
  /** Share of scored positions where the top-1 predictions agree. */
  top1_agree: d('share', 'language', 'top-1 agreement with the full-precision model'),
  /** Σ KL over scored positions / (bytes · ln 2): the second measure of degradation (never negative). */
  kl_per_byte: d('bits/byte', 'language', 'KL divergence per byte of text, Σ KL / (bytes · ln 2)'),
  /** Effective bits per weight of the quantised tensors (levels, scales, zeros, kept values, indices). */
  bits_per_weight: d('bits/weight', 'experiment', 'effective bits per quantised weight, everything counted'),
  /** Group means of ΔBPB on the selection (calibration) units: what B-004 chooses its share on. */
  sel_low_delta_bpb: d('bits/byte', 'experiment', 'low-resource mean ΔBPB on the selection (calibration) units'),
  sel_high_delta_bpb: d('bits/byte', 'experiment', 'high-resource mean ΔBPB on the selection (calibration) units'),
  /** Share of the quantised weights kept in full precision (0 for plain quantisation). */
  preserved_share: d('share', 'experiment', 'share of weights kept in full precision as selected'),
  /** Variance of the treated model's token perplexity across languages. */
  ppl_variance_q: d('perplexity²', 'experiment', 'variance of per-language token perplexity of the treated model'),
});

// ---------------------------------------------------------------- disparity (A-003, and inside B-001..3, D-001/2)

export const DISPARITY_METRICS = Object.freeze({
  /** mean ΔBPB over low-resource languages / mean over high-resource ones (point estimate, even when unstable). */
  ratio_dbpb: d('ratio', 'experiment', 'disparity ratio of ΔBPB (low / high)'),
  ratio_dbpb_lo: d('ratio', 'experiment', 'lower end of its 95 % paired bootstrap interval (NaN when unstable)'),
  ratio_dbpb_hi: d('ratio', 'experiment', 'upper end of its 95 % paired bootstrap interval (NaN when unstable)'),
  /** 1 when the high-resource mean is ≤ 0 or its interval contains 0: the ratio is not a number to report. */
  ratio_dbpb_unstable: d('0/1', 'experiment', 'the ΔBPB ratio is unstable'),
  /** Language-level interval of the ΔBPB ratio: two-stage bootstrap (languages within each group, then units). */
  ratio_dbpb_lang_lo: d(
    'ratio',
    'experiment',
    'lower end of the 95 % language-level (two-stage bootstrap) interval of the ΔBPB ratio',
  ),
  ratio_dbpb_lang_hi: d('ratio', 'experiment', 'upper end of that interval'),
  ratio_dbpb_lang_unstable: d(
    '0/1',
    'experiment',
    'the ratio is unstable over languages (the high group’s two-stage interval reaches 0): its bounds are NaN',
  ),
  /** One-sided permutation p-value of the group labels for low − high mean ΔBPB over languages. */
  perm_p_dbpb: d('p', 'experiment', 'permutation test of the group labels: P(low − high mean ΔBPB ≥ observed)'),
  /** The same ratio, intervals and unstable rule for KL per byte (the second measure). */
  ratio_klpb: d('ratio', 'experiment', 'disparity ratio of KL per byte (low / high)'),
  ratio_klpb_lo: d('ratio', 'experiment', 'lower end of its 95 % paired bootstrap interval (NaN when unstable)'),
  ratio_klpb_hi: d('ratio', 'experiment', 'upper end of its 95 % paired bootstrap interval (NaN when unstable)'),
  ratio_klpb_unstable: d('0/1', 'experiment', 'the KL-per-byte ratio is unstable'),
  ratio_klpb_lang_lo: d('ratio', 'experiment', 'lower end of the language-level interval of the KL-per-byte ratio'),
  ratio_klpb_lang_hi: d('ratio', 'experiment', 'upper end of that interval'),
  ratio_klpb_lang_unstable: d('0/1', 'experiment', 'the KL-per-byte ratio is unstable over languages'),
  perm_p_klpb: d('p', 'experiment', 'permutation test of the group labels for KL per byte'),
  group_kl_per_byte: d('bits/byte', 'group', 'mean KL per byte over the group'),
  group_kl_per_byte_lo: d('bits/byte', 'group', 'lower end of its 95 % bootstrap interval'),
  group_kl_per_byte_hi: d('bits/byte', 'group', 'upper end of its 95 % bootstrap interval'),
  low_kl_per_byte_lo: d('bits/byte', 'experiment', 'lower end of the interval of the low-resource mean KL per byte'),
  high_kl_per_byte_lo: d('bits/byte', 'experiment', 'lower end of the interval of the high-resource mean KL per byte'),
  /** Group means of ΔBPB as experiment-level rows (the low group never holds unseen languages). */
  low_delta_bpb: d('bits/byte', 'experiment', 'mean ΔBPB of the low-resource languages the model saw'),
  high_delta_bpb: d('bits/byte', 'experiment', 'mean ΔBPB of the high-resource languages'),
  /** Languages the model never saw (group @unseen), their count and mean ΔBPB with its interval. */
  unseen_languages: d('count', 'experiment', 'study languages the model never saw (group @unseen)'),
  unseen_delta_bpb: d('bits/byte', 'experiment', 'mean ΔBPB of the unseen languages'),
  unseen_delta_bpb_lo: d('bits/byte', 'experiment', 'lower end of its 95 % bootstrap interval'),
  unseen_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of its 95 % bootstrap interval'),
  /** Same for the relative perplexity increase. */
  ratio_ppl: d('ratio', 'experiment', 'disparity ratio of the relative perplexity increase (low / high)'),
  ratio_ppl_lo: d('ratio', 'experiment', 'lower end of its 95 % bootstrap interval (NaN when unstable)'),
  ratio_ppl_hi: d('ratio', 'experiment', 'upper end of its 95 % bootstrap interval (NaN when unstable)'),
  ratio_ppl_unstable: d('0/1', 'experiment', 'the perplexity ratio is unstable'),
  /** Group means of ΔBPB with their bootstrap intervals (language @high / @low). */
  group_delta_bpb: d('bits/byte', 'group', 'mean ΔBPB over the group'),
  group_delta_bpb_lo: d('bits/byte', 'group', 'lower end of its 95 % bootstrap interval'),
  group_delta_bpb_hi: d('bits/byte', 'group', 'upper end of its 95 % bootstrap interval'),
  group_ppl_rel_increase: d('ratio', 'group', 'mean relative perplexity increase over the group'),
  group_ppl_rel_increase_lo: d('ratio', 'group', 'lower end of its 95 % bootstrap interval'),
  group_ppl_rel_increase_hi: d('ratio', 'group', 'upper end of its 95 % bootstrap interval'),
  /**
   * group_delta_bpb_lo/hi again as experiment-level rows (a rule's '@low' selects the group's languages, not the group
   * row).
   */
  low_delta_bpb_lo: d('bits/byte', 'experiment', 'lower end of the interval of the low-resource mean ΔBPB'),
  low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of the interval of the low-resource mean ΔBPB'),
  high_delta_bpb_lo: d('bits/byte', 'experiment', 'lower end of the interval of the high-resource mean ΔBPB'),
  high_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of the interval of the high-resource mean ΔBPB'),
  /** low mean − high mean of ΔBPB (the absolute gap, defined even when the ratio is unstable). */
  gap_dbpb: d('bits/byte', 'experiment', 'mean ΔBPB of low-resource minus high-resource languages'),
  /** Variance of token perplexity across languages at full precision and quantised (the tertiary metric). */
  ppl_variance_fp: d('perplexity²', 'experiment', 'variance of per-language token perplexity, full precision'),
  ppl_variance_q: d('perplexity²', 'experiment', 'variance of per-language token perplexity, quantised'),
});

// ---------------------------------------------------------------- optimal preservation (B-004)

export const OPTIMAL_METRICS = Object.freeze({
  /** The chosen share (0–1) by the stated rule: smallest share reaching `target` of the best drop. */
  optimal_share: d('share', 'experiment', 'the optimal preserved share'),
  /** Effective bits per weight at the optimal share. */
  optimal_bits_per_weight: d('bits/weight', 'experiment', 'bits per weight at the optimal share'),
  /** Its low-resource mean ΔBPB. */
  optimal_low_delta_bpb: d('bits/byte', 'experiment', 'low-resource mean ΔBPB at the optimal share'),
  /** Drop of low-resource mean ΔBPB from p = 0 at the optimal share, as a share of the largest drop. */
  optimal_reduction_share: d('share', 'experiment', 'its reduction as a share of the largest measured reduction'),
  /** Largest measured drop of low-resource mean ΔBPB (bits/byte) from p = 0. */
  max_reduction_low: d('bits/byte', 'experiment', 'largest measured reduction of low-resource mean ΔBPB'),
  /** max_reduction_low / the low-resource mean ΔBPB at p = 0 (share of the degradation removed). */
  max_reduction_low_rel: d(
    'share',
    'experiment',
    'largest reduction relative to the low-resource degradation at p = 0',
  ),
  /** Low-resource mean ΔBPB and bits per weight of plain quantisation (p = 0). */
  p0_low_delta_bpb: d('bits/byte', 'experiment', 'low-resource mean ΔBPB without preservation'),
  p0_bits_per_weight: d('bits/weight', 'experiment', 'bits per weight without preservation'),
  /** 95 % bootstrap interval of the low-resource mean ΔBPB without preservation (from A-003) and at the optimum. */
  p0_low_delta_bpb_lo: d(
    'bits/byte',
    'experiment',
    'lower end of the interval of the low-resource mean ΔBPB without preservation',
  ),
  p0_low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of that interval'),
  optimal_low_delta_bpb_lo: d(
    'bits/byte',
    'experiment',
    'lower end of the interval of the low-resource mean ΔBPB at the optimal share',
  ),
  optimal_low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of that interval'),
  /** 1 when the optimum's low-resource ΔBPB interval lies wholly below the share-0 interval (from A-003). */
  reduction_significant: d(
    '0/1',
    'experiment',
    'the reduction at the optimal share is significant (intervals do not overlap)',
  ),
  /** ΔBPB disparity ratio without preservation (from the disparity experiment, A-003) and at the optimum. */
  p0_ratio_dbpb: d('ratio', 'experiment', 'ΔBPB disparity ratio without preservation'),
  optimal_ratio_dbpb: d('ratio', 'experiment', 'ΔBPB disparity ratio at the optimal share'),
  /** 1 when that ratio is unstable (its high-resource mean within noise of 0): not a number to quote. */
  p0_ratio_dbpb_unstable: d('0/1', 'experiment', 'the ΔBPB ratio without preservation is unstable'),
  optimal_ratio_dbpb_unstable: d('0/1', 'experiment', 'the ΔBPB ratio at the optimal share is unstable'),
  /** 1 when the share was chosen on the selection (calibration) units, 0 when only evaluation values existed. */
  optimal_selected_on_selection: d(
    '0/1',
    'experiment',
    'the optimal share was chosen on the selection units, not the evaluation units',
  ),
  /** The rule's target fraction (default 0.9). */
  target_fraction: d('share', 'experiment', 'the fraction of the largest reduction the rule asks for'),
});

/** Fields of one point of the preservation curve (share p, in whole percent, in the name). */
export const CURVE_FIELDS = Object.freeze({
  /** Group means of ΔBPB (language @high / @low). */
  delta_bpb: d('bits/byte', 'group', 'mean ΔBPB of the group at this share'),
  bits_per_weight: d('bits/weight', 'experiment', 'effective bits per weight at this share'),
  ratio_dbpb: d('ratio', 'experiment', 'ΔBPB disparity ratio at this share'),
  share: d('share', 'experiment', 'the share itself (0–1)'),
});
export type CurveField = keyof typeof CURVE_FIELDS;

/** `curve_p{percent}_{field}`, e.g. curve_p10_delta_bpb. Percent is written with up to two decimals. */
export function curveMetric(share: number, field: CurveField): string {
  const pct = Number((share * 100).toFixed(2));
  return `curve_p${String(pct).replace('.', '_')}_${field}`;
}

/** The share and field of a curve metric name, or null. */
export function parseCurveMetric(name: string): { share: number; field: CurveField } | null {
  const m = /^curve_p(\d+(?:_\d+)?)_(\w+)$/.exec(name);
  if (!m || !(m[2] in CURVE_FIELDS)) return null;
  return { share: Number(m[1].replace('_', '.')) / 100, field: m[2] as CurveField };
}

// ---------------------------------------------------------------- controls of preservation (B-011)

export const CONTROLS_METRICS = Object.freeze({
  controls_shares: d('count', 'experiment', 'preserved shares compared with their controls'),
  controls_helping_shares: d(
    'count',
    'experiment',
    'shares that beat both equal-bits RTN and random selection (paired intervals below 0)',
  ),
});

/** Fields of one preserved share against its controls (share p, in whole percent, in the name). */
export const CONTROL_FIELDS = Object.freeze({
  share: d('share', 'experiment', 'the preserved share'),
  bits_per_weight: d('bits/weight', 'experiment', 'bits per weight of the preserved model'),
  rtn_bits_per_weight: d(
    'bits/weight',
    'experiment',
    'bits per weight of its equal-bits RTN control (≤ the preserved model’s)',
  ),
  vs_rtn: d(
    'bits/byte',
    'experiment',
    'low-resource mean ΔBPB, preserved − equal-bits RTN (negative: preservation better)',
  ),
  vs_rtn_lo: d('bits/byte', 'experiment', 'lower end of its 95 % paired bootstrap interval'),
  vs_rtn_hi: d('bits/byte', 'experiment', 'upper end of that interval'),
  vs_random: d('bits/byte', 'experiment', 'low-resource mean ΔBPB, preserved − random selection of the same share'),
  vs_random_lo: d('bits/byte', 'experiment', 'lower end of its 95 % paired bootstrap interval'),
  vs_random_hi: d('bits/byte', 'experiment', 'upper end of that interval'),
  gap_narrowing: d(
    'bits/byte',
    'experiment',
    'low-resource reduction − high-resource reduction of ΔBPB from the unpreserved model (positive: the gap narrows)',
  ),
  gap_narrowing_lo: d('bits/byte', 'experiment', 'lower end of its 95 % paired bootstrap interval'),
  gap_narrowing_hi: d('bits/byte', 'experiment', 'upper end of that interval'),
  helps: d('0/1', 'experiment', 'the share beats both controls'),
});
export type ControlField = keyof typeof CONTROL_FIELDS;

/** `ctrl_p{percent}_{field}`, e.g. ctrl_p5_vs_rtn. */
export function controlMetric(share: number, field: ControlField): string {
  const pct = Number((share * 100).toFixed(2));
  return `ctrl_p${String(pct).replace('.', '_')}_${field}`;
}

export function parseControlMetric(name: string): { share: number; field: ControlField } | null {
  const m = /^ctrl_p(\d+(?:_\d+)?)_(\w+)$/.exec(name);
  if (!m || !(m[2] in CONTROL_FIELDS)) return null;
  return { share: Number(m[1].replace('_', '.')) / 100, field: m[2] as ControlField };
}

// ---------------------------------------------------------------- layer sensitivity (C-001)

export const LAYER_SENSITIVITY_METRICS = Object.freeze({
  /** Number of blocks of the model (the matrix has columns 0 … num_layers − 1). */
  num_layers: d('blocks', 'experiment', 'number of transformer blocks'),
  /** Index of the block whose quantisation alone degrades the language most (group rows: from the group mean). */
  critical_layer: d('block index', 'language+group', 'the most sensitive block'),
  /** critical_layer of the @low / @high group as experiment-level rows (selectable by pipeline rules). */
  low_critical_layer: d('block index', 'experiment', 'the most sensitive block for the low-resource group'),
  high_critical_layer: d('block index', 'experiment', 'the most sensitive block for the high-resource group'),
  /** The blocks chosen as critical for C-002 (count), by the rule in its params. */
  critical_count: d('blocks', 'experiment', 'number of blocks named critical'),
  /**
   * The weakest critical block − the next-ranked block, low-resource mean ΔBPB on the selection units (paired
   * bootstrap).
   */
  critical_gap: d(
    'bits/byte',
    'experiment',
    'low-resource ΔBPB of the weakest critical block minus the next block, on the selection units',
  ),
  critical_gap_lo: d('bits/byte', 'experiment', 'lower end of its 95 % paired bootstrap interval'),
  critical_gap_hi: d('bits/byte', 'experiment', 'upper end of that interval'),
  /** 1 when that interval lies above 0: the critical set is separated from the rest, not a pick among equals. */
  critical_separated: d('0/1', 'experiment', 'the critical blocks separate from the next block (gap interval above 0)'),
  critical_next_layer: d('block index', 'experiment', 'the block ranked just below the critical set'),
  /** Spearman correlation of the high-resource and low-resource sensitivity profiles across blocks. */
  profile_rank_corr: d('rho', 'experiment', 'rank correlation of @high and @low sensitivity across blocks'),
});

/** Fields of the layer × language matrix (block index in the name). */
export const LAYER_FIELDS = Object.freeze({
  delta_bpb: d('bits/byte', 'language+group', 'ΔBPB when only block i is quantised'),
  delta_bpb_lo: d(
    'bits/byte',
    'language+group',
    'lower end of its 95 % bootstrap interval (group rows: paired over units)',
  ),
  delta_bpb_hi: d('bits/byte', 'language+group', 'upper end of that interval'),
  /** The group mean on the selection (calibration) units: what the critical set is chosen on. */
  sel_delta_bpb: d('bits/byte', 'group', 'group mean ΔBPB when only block i is quantised, on the selection units'),
  ppl_rel_increase: d('ratio', 'language+group', 'relative perplexity increase when only block i is quantised'),
  critical: d('0/1', 'experiment', 'block i is in the critical set'),
});
export type LayerField = keyof typeof LAYER_FIELDS;

/** `layer{i}_{field}`, e.g. layer3_delta_bpb. */
export function layerMetric(layer: number, field: LayerField): string {
  return `layer${layer}_${field}`;
}

export function parseLayerMetric(name: string): { layer: number; field: LayerField } | null {
  const m = /^layer(\d+)_(\w+)$/.exec(name);
  if (!m || !(m[2] in LAYER_FIELDS)) return null;
  return { layer: Number(m[1]), field: m[2] as LayerField };
}

// ---------------------------------------------------------------- layer vs uniform preservation (C-002)

export const LAYER_PRESERVATION_METRICS = Object.freeze({
  /** Per-language ΔBPB with preservation concentrated on the critical blocks; group rows: means. */
  layer_delta_bpb: d('bits/byte', 'language+group', 'ΔBPB, preservation on the critical blocks'),
  /**
   * Per-language ΔBPB with uniform preservation (the same share in every block) at the same effective bits per weight.
   */
  uniform_delta_bpb: d(
    'bits/byte',
    'language+group',
    'ΔBPB, uniform preservation (same share in every block) at the same bits',
  ),
  /** The third arm: the same number of weights by one global top-k by saliency (may pile into one block). */
  global_delta_bpb: d('bits/byte', 'language+group', 'ΔBPB, global top-k preservation at the same bits'),
  global_bits_per_weight: d('bits/weight', 'experiment', 'effective bits per weight, global top-k'),
  global_kept_weights: d('weights', 'experiment', 'weights kept in full precision, global top-k'),
  global_preserved_share: d('share', 'experiment', 'share of the quantised weights kept, global top-k'),
  global_low_delta_bpb_lo: d(
    'bits/byte',
    'experiment',
    'lower end of the interval of the low-resource mean ΔBPB, global top-k',
  ),
  global_low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of that interval, global top-k'),
  global_ratio_dbpb: d('ratio', 'experiment', 'ΔBPB disparity ratio, global top-k'),
  global_ratio_dbpb_unstable: d('0/1', 'experiment', 'the global top-k ratio is unstable'),
  diff_global_low_delta_bpb: d('bits/byte', 'experiment', 'low-resource mean ΔBPB, layer-specific − global top-k'),
  diff_global_low_delta_bpb_lo: d('bits/byte', 'experiment', 'lower end of its 95 % paired bootstrap interval'),
  diff_global_low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of its 95 % paired bootstrap interval'),
  layer_bits_per_weight: d('bits/weight', 'experiment', 'effective bits per weight, layer-specific'),
  uniform_bits_per_weight: d('bits/weight', 'experiment', 'effective bits per weight, uniform'),
  /** Weights each plan actually kept in full precision (the uniform plan matches the layer plan's count). */
  layer_kept_weights: d('weights', 'experiment', 'weights kept in full precision, layer-specific'),
  uniform_kept_weights: d('weights', 'experiment', 'weights kept in full precision, uniform'),
  layer_preserved_share: d('share', 'experiment', 'share of the quantised weights kept, layer-specific'),
  uniform_preserved_share: d('share', 'experiment', 'share of the quantised weights kept, uniform'),
  /** Non-critical blocks that took the budget a capped critical block could not (no block keeps more than 99 %). */
  layer_spill_blocks: d('blocks', 'experiment', 'non-critical blocks given the excess over the 99 % cap per block'),
  /** 95 % bootstrap interval of each plan's low-resource mean ΔBPB. */
  layer_low_delta_bpb_lo: d(
    'bits/byte',
    'experiment',
    'lower end of the interval of the low-resource mean ΔBPB, layer-specific',
  ),
  layer_low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of that interval, layer-specific'),
  uniform_low_delta_bpb_lo: d(
    'bits/byte',
    'experiment',
    'lower end of the interval of the low-resource mean ΔBPB, uniform',
  ),
  uniform_low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of that interval, uniform'),
  layer_ratio_dbpb: d('ratio', 'experiment', 'ΔBPB disparity ratio, layer-specific'),
  uniform_ratio_dbpb: d('ratio', 'experiment', 'ΔBPB disparity ratio, uniform'),
  layer_ratio_dbpb_unstable: d('0/1', 'experiment', 'the layer-specific ratio is unstable'),
  uniform_ratio_dbpb_unstable: d('0/1', 'experiment', 'the uniform ratio is unstable'),
  /** layer − uniform of the low-resource mean ΔBPB (negative: layer-specific is better), paired bootstrap. */
  diff_low_delta_bpb: d('bits/byte', 'experiment', 'low-resource mean ΔBPB, layer-specific − uniform'),
  diff_low_delta_bpb_lo: d('bits/byte', 'experiment', 'lower end of its 95 % paired bootstrap interval'),
  diff_low_delta_bpb_hi: d('bits/byte', 'experiment', 'upper end of its 95 % paired bootstrap interval'),
  /** 1 when that interval excludes 0. */
  diff_significant: d('0/1', 'experiment', 'the difference is significant (interval excludes 0)'),
});

// ---------------------------------------------------------------- validation (D-001, D-002)

export const VALIDATION_METRICS = Object.freeze({
  /** Spearman correlation of per-language ΔBPB of this model with the base model's. */
  rank_corr_delta_bpb: d('rho', 'experiment', 'rank correlation of per-language ΔBPB with the base model'),
  rank_corr_delta_bpb_lo: d('rho', 'experiment', 'lower end of its 95 % bootstrap interval over languages'),
  rank_corr_delta_bpb_hi: d('rho', 'experiment', 'upper end of that interval'),
  /** The base model's ΔBPB disparity ratio, for comparison. */
  base_ratio_dbpb: d('ratio', 'experiment', "the base model's ΔBPB disparity ratio"),
  /** 1 when this model's ΔBPB ratio interval lies wholly above 1 (stable and lo > 1). */
  ratio_excludes_1: d('0/1', 'experiment', 'the ΔBPB disparity interval excludes 1'),
});

// ---------------------------------------------------------------- checks of the evaluation text (every measuring kind)

export const CHECK_METRICS = Object.freeze({
  /**
   * Findings of src/data/adequacy.ts on the evaluation texts (a language shorter than one scoring window, or with fewer
   * than corpus.minUnits units); each is also a line of the experiment log.
   */
  adequacy_warnings: d('count', 'experiment', 'adequacy warnings on the evaluation texts (0: every language adequate)'),
  /**
   * params.bos applied to the model's tokenizer (src/eval/bos.ts): 1 when a BOS token is put before each unit (every
   * token of the unit scored), 0 when not (the first token of each unit is context only).
   */
  bos_prepended: d('0/1', 'experiment', 'a BOS token was put before each evaluation unit (1) or not (0)'),
});

/** Every fixed metric name with its documentation (curve_* and layer* names are built by helpers). */
/** Phase E (`method`, ./method.ts): GPTQ / AWQ against the RTN arm. */
export const METHOD_METRICS = Object.freeze({
  gap_reduction: d(
    'bits/byte',
    'experiment',
    'low-resource reduction − high-resource reduction of ΔBPB from the RTN arm (positive: the method narrows the gap)',
  ),
  gap_reduction_lo: d('bits/byte', 'experiment', 'lower end of its 95 % paired bootstrap interval over units'),
  gap_reduction_hi: d('bits/byte', 'experiment', 'upper end of that interval'),
  calibration_tokens: d('tokens', 'experiment', 'calibration tokens used (equal across sources of a replicate)'),
  calibration_budget: d(
    'tokens',
    'experiment',
    "the replicate's equal calibration budget: min(calibrationTokens, each study language's calibration-split " +
      'tokens); every source uses exactly this many',
  ),
});

export const METRICS: Readonly<Record<string, MetricDoc>> = Object.freeze({
  ...METHOD_METRICS,
  ...BASELINE_METRICS,
  ...DEGRADATION_METRICS,
  ...DISPARITY_METRICS,
  ...OPTIMAL_METRICS,
  ...LAYER_SENSITIVITY_METRICS,
  ...LAYER_PRESERVATION_METRICS,
  ...CONTROLS_METRICS,
  ...VALIDATION_METRICS,
  ...CHECK_METRICS,
});

/** The documentation of any metric name the study writes, including curve_* and layer* names. */
export function describeMetric(name: string): MetricDoc | undefined {
  if (METRICS[name]) return METRICS[name];
  const c = parseCurveMetric(name);
  if (c) return CURVE_FIELDS[c.field];
  const l = parseLayerMetric(name);
  if (l) return LAYER_FIELDS[l.field];
  const k = parseControlMetric(name);
  if (k) return CONTROL_FIELDS[k.field];
  return undefined;
}

/** Which metrics each kind records (the report's index; per-kind key metrics live in the kind modules). */
export const KIND_METRICS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  baseline: [...Object.keys(BASELINE_METRICS), ...Object.keys(CHECK_METRICS)],
  quantize: [...Object.keys(DEGRADATION_METRICS), ...Object.keys(CHECK_METRICS)],
  disparity: [...Object.keys(DISPARITY_METRICS), 'delta_bpb', 'ppl_rel_increase'],
  preserve: [
    ...Object.keys(DEGRADATION_METRICS),
    ...Object.keys(CHECK_METRICS),
    'ratio_dbpb',
    'ratio_dbpb_lo',
    'ratio_dbpb_hi',
    'ratio_dbpb_unstable',
    'ratio_ppl',
    'ratio_ppl_lo',
    'ratio_ppl_hi',
    'ratio_ppl_unstable',
    'group_delta_bpb',
    'group_delta_bpb_lo',
    'group_delta_bpb_hi',
    'group_ppl_rel_increase',
    'group_ppl_rel_increase_lo',
    'group_ppl_rel_increase_hi',
    'low_delta_bpb_lo',
    'low_delta_bpb_hi',
    'high_delta_bpb_lo',
    'high_delta_bpb_hi',
    'gap_dbpb',
  ],
  optimalPreservation: [...Object.keys(OPTIMAL_METRICS), 'curve_p{pct}_{delta_bpb|bits_per_weight|ratio_dbpb|share}'],
  layerSensitivity: [
    ...Object.keys(LAYER_SENSITIVITY_METRICS),
    ...Object.keys(CHECK_METRICS),
    'layer{i}_{delta_bpb|delta_bpb_lo|delta_bpb_hi|sel_delta_bpb|ppl_rel_increase|critical}',
  ],
  layerPreservation: [...Object.keys(LAYER_PRESERVATION_METRICS), ...Object.keys(CHECK_METRICS)],
  preservationControls: [
    ...Object.keys(CONTROLS_METRICS),
    'ctrl_p{pct}_{share|bits_per_weight|rtn_bits_per_weight|vs_rtn|vs_random|gap_narrowing|helps}[_lo|_hi]',
  ],
  method: [...Object.keys(DEGRADATION_METRICS), ...Object.keys(METHOD_METRICS)],
  validate: [
    ...Object.keys(BASELINE_METRICS),
    ...Object.keys(DEGRADATION_METRICS),
    ...Object.keys(DISPARITY_METRICS),
    ...Object.keys(VALIDATION_METRICS),
    ...Object.keys(CHECK_METRICS),
  ],
});
