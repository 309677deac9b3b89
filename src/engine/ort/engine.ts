// The fast engine: scores windows through onnxruntime-node (CPU execution provider) with graphs
// built from the model's own weights (build.ts). Two sessions are created once per model and
// reused for every window: the body (token ids → final hidden states) and the head (hidden rows
// → NLL of the target, argmax, and — only when asked — logits and log-probabilities), run over
// chunks of rows so the full [T, V] logits are never materialised for NLL alone. `score` can return
// the body's output and `head` runs the head alone on it later (a cache of full-precision hidden
// states makes KL against that model cost the output matrix only).
// NLL is computed in float32 inside the graph (log-softmax, then the target's entry) and widened
// to float64 for the caller.

import { DataError } from '../../errors.ts';
import type { Model } from '../../model/model.ts';
import { clampKl } from '../../kernels/softmax.ts';
import { checkKlReference } from '../reference.ts';
import type { Engine, HeadRequest, KlReference, ScoreRequest, ScoreResult } from '../types.ts';
import { BODY_INPUT, BODY_OUTPUT, buildBody, buildHead, HEAD_INPUTS, HEAD_OUTPUTS } from './build.ts';
import type { EncodedGraph, WeightMode } from './graph.ts';
import { headChunks, headIdentity, headRowsFor, loadOrt, threadsFor, weightModeFor, type Ort } from './runtime.ts';

export interface OrtEngineOptions {
  /** intra-op threads; default: one for a model at most 256 wide, else every available core (runtime.ts). */
  readonly threads?: number;
  /** Rows of the output matrix computed per head run (bounds the [rows, V] scratch); default runtime.ts headRowsFor. */
  readonly headRows?: number;
  /** How the weights reach onnxruntime (graph.ts WeightMode); default runtime.ts weightModeFor. */
  readonly weights?: WeightMode;
  /** onnxruntime's fused attention kernels where they apply; default true (false: standard ops). */
  readonly fusedAttention?: boolean;
  /**
   * The full-precision engine this one is compared with: when it is an onnxruntime engine with the
   * same threads, head chunking and weight mode, this engine runs its head itself for KL
   * (`klReferenceHidden`, Engine.klHeadOf), from the hidden states that engine returned.
   */
  readonly klHeadOf?: Engine;
}

/** What an onnxruntime engine's head is made of, for an engine that runs it as its KL reference. */
interface HeadOf {
  readonly model: Model;
  readonly threads: number;
  readonly headRows: number;
  readonly weights: WeightMode;
}
const headsOf = new WeakMap<Engine, HeadOf>();

type OrtSession = Awaited<ReturnType<Ort['InferenceSession']['create']>>;
type OrtTensor = InstanceType<Ort['Tensor']>;

/** A session and the weight tensors fed with each of its runs. */
export interface Session {
  readonly session: OrtSession;
  readonly weights: Record<string, OrtTensor>;
}

export async function createSession(ort: Ort, g: EncodedGraph, threads: number): Promise<Session> {
  const weights: Record<string, OrtTensor> = {};
  // Tensors over the model's own Float32Arrays, made once: onnxruntime reads them in place.
  for (const f of g.weightFeeds) weights[f.name] = new ort.Tensor('float32', f.data, f.dims);
  const session = await ort.InferenceSession.create(g.model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    // The arena keeps activation buffers between runs (windows of one length reuse them); a
    // precomputed memory pattern would hold a second, shape-specific block, so it is off.
    enableCpuMemArena: true,
    enableMemPattern: false,
    // Initialisers (WeightMode 'initializers') outside the arena, so the copies freed after
    // pre-packing go back to the system.
    extra: { session: { use_device_allocator_for_initializers: '1' } },
    logSeverityLevel: 3, // errors only: nothing below the CLI writes to the console
    // The weights arrive as in-memory external files; onnxruntime copies (or pre-packs) them
    // while creating the session, so nothing here has to outlive the call.
    externalData: g.externalData,
  });
  return { session, weights };
}

/** Creates the onnxruntime engine for `model`. Rejects with OrtUnavailableError when onnxruntime cannot load. */
export async function ortEngine(model: Model, opts: OrtEngineOptions = {}): Promise<Engine> {
  const ort = await loadOrt();
  const threads = threadsFor(model.config, opts.threads);
  const headRows = headRowsFor(model.config, opts.headRows);
  const cfg = model.config;
  const V = cfg.vocabSize;
  const E = cfg.embedDim;
  const weights = weightModeFor(cfg, opts.weights);
  let body: Session | undefined = await createSession(
    ort,
    buildBody(model, { weights, fusedAttention: opts.fusedAttention }),
    threads,
  );
  let head: Session | undefined = await createSession(ort, buildHead(model, weights), threads);
  // The head with a KL input, made on the first request that compares (klReference).
  let klHead: Promise<Session> | undefined;
  // The head with the reference model's head inside (klReferenceHidden), when that one can be reproduced.
  const refHead = opts.klHeadOf ? headsOf.get(opts.klHeadOf) : undefined;
  const canRunRefHead =
    refHead !== undefined &&
    refHead.threads === threads &&
    refHead.headRows === headRows &&
    refHead.weights === weights &&
    refHead.model.config.vocabSize === V;
  let klHiddenHead: Promise<Session> | undefined;
  let klRows = new Float32Array(0); // scratch: a chunk's reference rows, zero before `from`

  async function score(req: ScoreRequest): Promise<ScoreResult> {
    if (!body || !head) throw new Error('ort engine: score() after dispose()');
    const ids = req.ids;
    const T = ids.length;
    checkIds(ids);
    if (cfg.positions === 'learned' && cfg.maxPositions !== null && T > cfg.maxPositions) {
      throw new DataError(
        `a window of ${T} tokens is longer than the model's ${cfg.maxPositions} positions; use a shorter context`,
      );
    }
    const ids64 = new BigInt64Array(T);
    for (let t = 0; t < T; t++) ids64[t] = BigInt(ids[t]);
    const out = await body.session.run({ ...body.weights, [BODY_INPUT]: new ort.Tensor('int64', ids64, [1, T]) });
    const hidden = out[BODY_OUTPUT].data as Float32Array; // [T, E]
    const res = await runHead(hidden, req);
    // A copy: the caller may keep it after the session's next run.
    return req.wantHidden ? { ...res, hidden: hidden.slice(0, T * E) } : res;
  }

  /** A window needs 2 ids or more, each inside the vocabulary. */
  function checkIds(ids: Int32Array): void {
    const T = ids.length;
    if (T < 2) {
      throw new DataError(
        `a window of ${T} token${T === 1 ? '' : 's'} has nothing to score; give at least 2 token ids`,
      );
    }
    for (let t = 0; t < T; t++) {
      const id = ids[t];
      if (!(id >= 0 && id < V)) {
        throw new DataError(
          `token id ${id} at position ${t} is outside the vocabulary (0..${V - 1}); were the ids made with this model's tokenizer?`,
        );
      }
    }
  }

  /** The head over hidden [T, E] in chunks of `headRows` rows: what `score` and `head` both run. */
  async function runHead(
    hidden: Float32Array,
    req: Pick<ScoreRequest, 'ids' | 'wantLogProbs' | 'wantLogits' | 'klReference' | 'klReferenceHidden'>,
  ): Promise<ScoreResult> {
    if (!head) throw new Error('ort engine: score() after dispose()');
    const ids = req.ids;
    const T = ids.length;
    const refRows = req.klReference;
    if (refRows) checkKlReference(refRows, T, V, 'ort');
    const refHidden = req.klReferenceHidden;
    if (refHidden) checkKlReferenceHidden(refHidden, T);
    const ref = refRows ?? refHidden;
    // Comparing runs the same head with one more input and output: the other outputs are unchanged.
    const h = refRows
      ? await (klHead ??= createSession(ort, buildHead(model, weights, { kl: true }), threads))
      : refHidden
        ? await (klHiddenHead ??= createSession(
            ort,
            buildHead(model, weights, { kl: true, reference: refHead!.model }),
            threads,
          ))
        : head;
    const kl = ref ? new Float64Array(T - 1 - ref.from) : undefined;
    const nll = new Float64Array(T - 1);
    const top1 = new Int32Array(T - 1);
    const logits = req.wantLogits ? new Float32Array(T * V) : undefined; // [T, V]
    // [T−1, V]: a window in one chunk takes the head's output itself, a longer one is assembled
    let logProbs: Float32Array | undefined;
    const rows = logits ? T : T - 1; // the last row has no target: needed only for its logits
    const fetches: string[] = [HEAD_OUTPUTS.nll, HEAD_OUTPUTS.top1];
    if (logits) fetches.push(HEAD_OUTPUTS.logits);
    if (req.wantLogProbs) fetches.push(HEAD_OUTPUTS.logProbs);
    if (ref) fetches.push(HEAD_OUTPUTS.kl);
    for (const [s, e] of headChunks(rows, headRows)) {
      const R = e - s;
      const targets = new BigInt64Array(R); // row T−1 keeps target 0; its NLL is discarded
      for (let t = s; t < e && t < T - 1; t++) targets[t - s] = BigInt(ids[t + 1]);
      const feeds: Record<string, OrtTensor> = {
        ...h.weights,
        [HEAD_INPUTS.hidden]: new ort.Tensor('float32', hidden.subarray(s * E, e * E), [R, E]),
        [HEAD_INPUTS.targets]: new ort.Tensor('int64', targets, [R]),
      };
      if (refRows) feeds[HEAD_INPUTS.klReference] = new ort.Tensor('float32', referenceChunk(refRows, s, e, T), [R, V]);
      if (refHidden) {
        // Rows before `from` are context: their KL is computed and dropped, as with klReference's zeros.
        const Er = refHead!.model.config.embedDim;
        feeds[HEAD_INPUTS.klReferenceHidden] = new ort.Tensor('float32', refHidden.hidden.subarray(s * Er, e * Er), [
          R,
          Er,
        ]);
      }
      const r = await h.session.run(feeds, fetches);
      const n = r[HEAD_OUTPUTS.nll].data as Float32Array;
      const a = r[HEAD_OUTPUTS.top1].data as BigInt64Array;
      for (let t = s; t < e && t < T - 1; t++) {
        nll[t] = n[t - s];
        top1[t] = Number(a[t - s]);
      }
      if (kl) {
        const k = r[HEAD_OUTPUTS.kl].data as Float64Array;
        for (let t = Math.max(s, ref!.from); t < e && t < T - 1; t++) kl[t - ref!.from] = clampKl(k[t - s]);
      }
      if (logits) logits.set(r[HEAD_OUTPUTS.logits].data as Float32Array, s * V);
      if (req.wantLogProbs) {
        const lp = r[HEAD_OUTPUTS.logProbs].data as Float32Array;
        const keep = Math.min(e, T - 1) - s;
        if (s === 0 && keep === T - 1 && lp.length === keep * V) logProbs = lp;
        else if (keep > 0) (logProbs ??= new Float32Array((T - 1) * V)).set(lp.subarray(0, keep * V), s * V);
      }
    }
    return { nll, top1, logits, logProbs, kl };
  }

  function checkKlReferenceHidden(r: NonNullable<ScoreRequest['klReferenceHidden']>, T: number): void {
    if (!canRunRefHead) {
      throw new Error(
        'ort engine: klReferenceHidden needs an engine made with klHeadOf an onnxruntime engine of the same threads, head rows, weight mode and vocabulary',
      );
    }
    const Er = refHead!.model.config.embedDim;
    if (r.hidden.length !== T * Er || !(r.from >= 0 && r.from < T - 1)) {
      throw new Error(
        `ort engine: klReferenceHidden of ${r.hidden.length} values from position ${r.from} does not fit a window of ${T} ids (expected ${T}×${Er}, 0 ≤ from < ${T - 1})`,
      );
    }
  }

  /**
   * Rows s..e−1 of a head chunk's KL input: the reference rows from `ref.from` on, zeros before (and
   * for the last row when it is computed for its logits); their KL is computed and dropped. [R, V]
   */
  function referenceChunk(ref: KlReference, s: number, e: number, T: number): Float32Array {
    const n = (e - s) * V;
    if (klRows.length < n) klRows = new Float32Array(n);
    const out = klRows.subarray(0, n);
    const a = Math.min(Math.max(s, ref.from), e); // first row taken from ref
    const z = Math.min(e, T - 1); // rows at or after T−1 have no target
    out.fill(0, 0, (a - s) * V);
    if (z > a) out.set(ref.rows.subarray((a - ref.from) * V, (z - ref.from) * V), (a - s) * V);
    out.fill(0, Math.max(a, z) * V - s * V, n);
    return out;
  }

  async function headOnly(req: HeadRequest): Promise<ScoreResult> {
    if (!body || !head) throw new Error('ort engine: head() after dispose()');
    checkIds(req.ids);
    const T = req.ids.length;
    if (req.hidden.length !== T * E) {
      throw new Error(
        `ort engine: head() got ${req.hidden.length} hidden values for a window of ${T} ids (expected ${T}×${E})`,
      );
    }
    return runHead(req.hidden, req);
  }

  const engine: Engine = {
    name: 'ort',
    // Everything here changes how the float operations are grouped (threads split the matmuls, head
    // chunks change the shapes onnxruntime sees), so cached results are kept apart by it.
    identity:
      `ort ${ort.env.versions?.common ?? '?'} threads=${threads} ${headIdentity(headRows)} weights=${weights}` +
      ` fused=${opts.fusedAttention ?? true}`,
    hiddenWidth: E,
    klHeadOf: canRunRefHead ? opts.klHeadOf : undefined,
    score,
    head: headOnly,
    async dispose() {
      const sessions = [body, head, await klHead, await klHiddenHead];
      body = head = undefined;
      klHead = klHiddenHead = undefined;
      headsOf.delete(engine);
      for (const s of sessions) await s?.session.release();
    },
  };
  headsOf.set(engine, { model, threads, headRows, weights });
  return engine;
}
