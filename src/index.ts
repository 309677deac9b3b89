// langquant as a library: the public API, the package's only entry (`import … from 'langquant'`).
// Everything not exported here is internal and may change without notice. README "As a library".

export { VERSION } from './version.ts';
export { UserError, ConfigError, DataError, CheckpointError } from './errors.ts';

// Models: a Hugging Face folder (config.json + safetensors / pytorch_model.bin), its tokenizer, writing one.
export { loadModel, loadConfig, type LoadOptions } from './model/load.ts';
export type { Model, LoadInfo } from './model/model.ts';
export type { ModelConfig } from './model/config.ts';
export { loadTokenizer, type TextTokenizer } from './model/tokenizer.ts';
export { writeModelDir } from './model/checkpoint/write.ts';

// Engines: onnxruntime (`ort`), the TypeScript reference, or `auto` (ort, else reference).
export { createEngine, ENGINE_NAMES, type CreateEngineOptions } from './engine/select.ts';
export type { Engine, EngineName, KlReference, KlReferenceHidden, ScoreRequest, ScoreResult } from './engine/types.ts';

// Scoring ids and texts.
export { scoreIds } from './api.ts';
export { scoreText, type ScoreTextOptions, type TextScore } from './eval/text.ts';
export { scoreTokens, type ScoreOptions, type TokenScores } from './eval/score.ts';
export { BOS_MODES, resolveBos, encodeWithBos, type BosMode, type BosPlan } from './eval/bos.ts';
export { measures, textTotals, sumTotals, type TextMeasures, type TextTotals } from './eval/metrics.ts';
export {
  compareOnText,
  summarizeDegradation,
  ReferenceCache,
  type CompareOptions,
  type TextComparison,
  type Degradation,
} from './eval/degradation.ts';

// Quantisation, optionally preserving a share of weights in full precision.
export {
  quantizeModel,
  type QuantizeModelOptions,
  type QuantizeResult,
  type PreservePlan,
  type TensorReport,
} from './quant/apply.ts';
export {
  CRITERIA,
  GRANULARITIES,
  type Criterion,
  type Granularity,
  type Budget,
  type PreserveOptions,
} from './quant/preserve.ts';
export { SCHEMES, type Scheme, type QuantSpec } from './quant/rtn.ts';
export type { QuantScope } from './quant/scope.ts';

// Corpora: the built-in UDHR, a folder of <lang>.txt, FLORES-200, JSONL.
export { openCorpus, type OpenCorpusOptions } from './data/user.ts';
export { udhrCorpus, type UdhrCorpusOptions } from './data/udhr.ts';
export { alignedUnitIds, unitsById, joinUnits, type Corpus, type CorpusUnit } from './data/corpus.ts';

// Pipelines: load a pipeline file, plan it, run it, read its store.
export { loadPipeline, type PipelineSpec, type ExperimentSpec, type Overrides } from './pipeline/spec.ts';
export { KindRegistry, defineKind, type Kind, type KindContext } from './pipeline/kind.ts';
export { planRun, studyRegistry, BUILTIN_PIPELINE } from './api.ts';
export { planPipeline, type Plan, type PlanEntry, type Selection } from './pipeline/plan.ts';
export { runPipeline, type RunOptions, type RunEvent, type RunSummary } from './pipeline/runner.ts';
export { readStatus, type StatusReport } from './pipeline/status.ts';
export { Store, STORE_FILE } from './pipeline/store.ts';
