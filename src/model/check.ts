// `inspect --check`'s sanity pass: reads every tensor of a model folder, one at a time, and reports
// (1) NaN or ±Inf — an error in a tensor the architecture uses, a note in a buffer it ignores
//     (GPT-2's attn.masked_bias legitimately holds -1e4 or -inf);
// (2) all-zero tensors — a warning for a matrix (never all zero in a trained model), a note for a
//     vector (a bias or norm shift at zero can be legitimate);
// (3) tensors far from their siblings — the same tensor in the other blocks (name with the block
//     number replaced): a root mean square more than OUTLIER_RATIO times above or below the median of
//     its group (groups of 3 blocks or more), as a wiped, rescaled or foreign tensor would be.
// Statistics are over the finite values, summed in float64. The headers are validated first by the
// loader (load.ts), so a folder that would not load is refused as it would be anywhere else.

import { isReadableDType } from '../tensor/dtype.ts';
import { openCheckpoint } from './checkpoint/source.ts';
import { nonFiniteMessage, unravelIndex } from './finite.ts';
import { loadModel } from './load.ts';

/** How far (as a factor, either way) a tensor's RMS may sit from its siblings' median. */
export const OUTLIER_RATIO = 10;

export interface TensorCheck {
  /** Name as stored in the file. */
  readonly name: string;
  readonly file: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** False for a buffer the architecture ignores (never loaded). */
  readonly used: boolean;
  /** False when the dtype is not a float langquant reads (e.g. a BOOL mask): no statistics. */
  readonly read: boolean;
  readonly values: number;
  readonly nan: number;
  readonly posInf: number;
  readonly negInf: number;
  /** First NaN or ±Inf: flat index, element index and value (a string: JSON has no NaN). */
  readonly firstNonFinite: {
    readonly index: number;
    readonly element: readonly number[];
    readonly value: string;
  } | null;
  readonly zeros: number;
  /** Over the finite values; null when there are none. */
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly rms: number | null;
}

export interface CheckFinding {
  readonly severity: 'error' | 'warning' | 'note';
  readonly tensor: string;
  readonly message: string;
}

export interface WeightCheck {
  readonly tensors: readonly TensorCheck[];
  readonly findings: readonly CheckFinding[];
  /** The loader's one-line refusal for the first used tensor holding NaN or ±Inf; null when none. */
  readonly refusal: string | null;
}

/** Reads and checks every tensor of the model folder `dir`. */
export function checkWeights(dir: string, onProgress?: (done: number, total: number) => void): WeightCheck {
  // headers only: refuses what would not load
  const ignored = new Set(loadModel(dir, { keep: () => false }).info.ignored);
  const ckpt = openCheckpoint(dir);
  const tensors: TensorCheck[] = [];
  const findings: CheckFinding[] = [];
  let refusal: string | null = null;
  try {
    const all = [...ckpt.tensors.values()];
    all.forEach((st, k) => {
      const used = !ignored.has(st.name);
      if (!isReadableDType(st.dtype)) {
        tensors.push({
          name: st.name,
          file: st.file,
          dtype: st.dtype,
          shape: st.shape,
          used,
          read: false,
          values: 0,
          nan: 0,
          posInf: 0,
          negInf: 0,
          firstNonFinite: null,
          zeros: 0,
          min: null,
          max: null,
          mean: null,
          rms: null,
        });
        onProgress?.(k + 1, all.length);
        return;
      }
      const t = ckpt.read(st.name);
      const s = statistics(t.data);
      const first =
        s.first >= 0
          ? { index: s.first, element: unravelIndex(s.first, t.shape), value: String(t.data[s.first]) }
          : null;
      tensors.push({
        name: st.name,
        file: st.file,
        dtype: st.dtype,
        shape: st.shape,
        used,
        read: true,
        values: t.data.length,
        nan: s.nan,
        posInf: s.posInf,
        negInf: s.negInf,
        firstNonFinite: first,
        zeros: s.zeros,
        min: s.min,
        max: s.max,
        mean: s.mean,
        rms: s.rms,
      });
      if (first) {
        const counts = [
          s.nan && `NaN ×${s.nan}`,
          s.posInf && `Infinity ×${s.posInf}`,
          s.negInf && `-Infinity ×${s.negInf}`,
        ]
          .filter(Boolean)
          .join(', ');
        const where = `first at flat index ${first.index}${t.shape.length > 1 ? ` (element [${first.element.join(', ')}])` : ''}`;
        if (used) {
          findings.push({
            severity: 'error',
            tensor: st.name,
            message: `${s.nan + s.posInf + s.negInf} non-finite value(s) (${counts}), ${where}`,
          });
          refusal ??= nonFiniteMessage(st.name, t, first.index, { file: st.file });
        } else {
          findings.push({
            severity: 'note',
            tensor: st.name,
            message: `non-finite values (${counts}) in a buffer the architecture ignores; harmless`,
          });
        }
      } else if (used && t.data.length > 0 && s.zeros === t.data.length) {
        findings.push(
          t.shape.length > 1
            ? {
                severity: 'warning',
                tensor: st.name,
                message: `all ${t.data.length} values are zero (a trained matrix never is: a wiped or never-written tensor?)`,
              }
            : {
                severity: 'note',
                tensor: st.name,
                message: `all ${t.data.length} values are zero (legitimate for a bias at its initial value)`,
              },
        );
      }
      onProgress?.(k + 1, all.length);
    });
  } finally {
    ckpt.close();
  }
  findings.push(...siblingOutliers(tensors));
  const order = { error: 0, warning: 1, note: 2 };
  findings.sort((a, b) => order[a.severity] - order[b.severity]);
  return { tensors, findings, refusal };
}

/** One pass over `data`: non-finite counts and first index, zeros, and min/max/mean/RMS of the finite values. */
function statistics(data: Float32Array) {
  let nan = 0;
  let posInf = 0;
  let negInf = 0;
  let first = -1;
  let zeros = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      // NaN or ±Inf (v − v is NaN for both)
      if (first < 0) first = i;
      if (v === Infinity) posInf++;
      else if (v === -Infinity) negInf++;
      else nan++;
      continue;
    }
    if (v === 0) zeros++;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSq += v * v;
  }
  const finite = data.length - nan - posInf - negInf;
  return {
    nan,
    posInf,
    negInf,
    first,
    zeros,
    min: finite ? min : null,
    max: finite ? max : null,
    mean: finite ? sum / finite : null,
    rms: finite ? Math.sqrt(sumSq / finite) : null,
  };
}

/**
 * The name with its block number replaced by `*` (`transformer.h.3.ln_1.weight` → `transformer.h.*.ln_1.weight`); null
 * outside blocks.
 */
export function siblingKey(name: string): string | null {
  const key = name.replace(/\.\d+\./, '.*.');
  return key === name ? null : key;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Used tensors whose RMS is more than OUTLIER_RATIO× away from the median of their siblings'. */
export function siblingOutliers(tensors: readonly TensorCheck[]): CheckFinding[] {
  const groups = new Map<string, TensorCheck[]>();
  for (const t of tensors) {
    const key = siblingKey(t.name);
    if (!key || !t.used || t.rms === null) continue;
    const g = groups.get(key) ?? groups.set(key, []).get(key)!;
    g.push(t);
  }
  const out: CheckFinding[] = [];
  for (const [key, g] of groups) {
    if (g.length < 3) continue; // two blocks cannot say which of them is the odd one
    const med = median(g.map((t) => t.rms!));
    if (!(med > 0)) continue;
    for (const t of g) {
      if (t.rms === 0) continue; // all zero: reported as such
      const ratio = t.rms! / med;
      if (ratio > OUTLIER_RATIO || ratio < 1 / OUTLIER_RATIO) {
        out.push({
          severity: 'warning',
          tensor: t.name,
          message: `root mean square ${t.rms!.toPrecision(3)} is ${ratio >= 1 ? `${ratio.toPrecision(3)}× above` : `${(1 / ratio).toPrecision(3)}× below`} the median ${med.toPrecision(3)} of its ${g.length} siblings ${key}`,
        });
      }
    }
  }
  return out;
}
