// Layer scans that reuse every prefix (src/quant/layers.ts layerSweep, src/engine/ort/blocks.ts):
// the block-range graphs give the states and scores of the whole body; a sweep gives the same
// C-001 numbers (ΔBPB per block and language, sliding windows included) as scoring a whole
// quantised copy per block, on the ort engine in both graph layouts and on the reference engine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { ortBlockRunner } from '../../src/engine/ort/blocks.ts';
import { ortEngine } from '../../src/engine/ort/engine.ts';
import { block, embed } from '../../src/model/forward.ts';
import { loadModel } from '../../src/model/load.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import { quantizeModel } from '../../src/quant/apply.ts';
import { DEFAULT_SCOPE } from '../../src/quant/scope.ts';
import { layerPlans, layerSweep, mixedModel, type LayerMode } from '../../src/quant/layers.ts';
import { compareUnits, engineFor, referenceCache } from '../../src/study/compare.ts';
import { degradations } from '../../src/study/record.ts';
import type { UnitText } from '../../src/study/texts.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';

const ARCHS = ['gpt2-a', 'llama-a', 'opt-a', 'gpt_neox-a', 'bloom-a', 'xglm-a', 'gemma-a'];

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}

for (const name of ARCHS) {
  test(`${name}: block-range graphs give the body's states and the whole engine's NLL`, async () => {
    const model = loadModel(join(GOLDEN, 'models', name));
    const rng = new Rng(7);
    const ids = Int32Array.from({ length: 24 }, () => rng.int(model.config.vocabSize));
    const T = ids.length;
    const whole = await (await ortEngine(model)).score({ ids });
    for (const layout of ['range', 'split'] as const) {
      const r = await ortBlockRunner(model, { layout, threads: 1 });
      try {
        const states = await r.states(ids);
        assert.equal(states.length, model.config.numLayers);
        let x = embed(model, ids);
        for (let l = 0; l < model.config.numLayers; l++) {
          assert.ok(maxRel(states[l], x) < 1e-4, `${layout} state ${l}: ${maxRel(states[l], x)}`);
          x = block(model, l, x, T);
        }
        for (let from = 0; from < model.config.numLayers; from++) {
          const s = await r.finish('fp', () => model, from, states[from], ids);
          assert.ok(maxRel(s.nll, whole.nll) < 1e-5, `${layout} from ${from}: ${maxRel(s.nll, whole.nll)}`);
          assert.deepEqual([...s.top1], [...whole.top1]);
        }
      } finally {
        await r.dispose();
      }
    }
  });
}

const TEXTS: Record<string, string[]> = {
  eng: [
    'All human beings are born free and equal in dignity and rights. They are endowed with reason and conscience.',
    'Everyone has the right to life, liberty and security of person.',
  ],
  deu: [
    'Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit Vernunft und Gewissen begabt.',
    'Jeder hat das Recht auf Leben, Freiheit und Sicherheit der Person.',
  ],
  fin: [
    'Kaikki ihmiset syntyvät vapaina ja tasavertaisina arvoltaan ja oikeuksiltaan.',
    'Jokaisella on oikeus elämään, vapauteen ja henkilökohtaiseen turvallisuuteen.',
  ],
};

async function sweepAgainstCopies(
  mode: LayerMode,
  engine: 'ort' | 'reference',
  layout: 'range' | 'split',
): Promise<void> {
  const dir = join(import.meta.dirname, '../../models/gpt2-mini');
  const fp = loadModel(dir);
  const tok = await loadTokenizer(dir);
  const texts = new Map<string, UnitText[]>(
    Object.entries(TEXTS).map(([lang, xs]) => [
      lang,
      xs.map((text, i) => ({ id: `${lang}${i}`, text, ids: Int32Array.from(tok.encode(text)) })),
    ]),
  );
  // A short context and a stride: every unit spans several windows, each its own forward.
  const window = { context: 16, stride: 8 };
  const spec = { bits: 2, scheme: 'sym' as const, groupSize: 32 };
  const L = fp.config.numLayers;
  const plans = layerPlans(L, mode);
  const q = quantizeModel(fp, { spec, scope: DEFAULT_SCOPE }).model;
  const ref = await engineFor(fp, engine, { log: () => {} });
  const sweep = await layerSweep(fp, q, plans, { engine, layout, threads: 1 });
  const cache = referenceCache();
  try {
    for (let i = 0; i < plans.length; i++) {
      const copy = quantizeModel(fp, { spec, scope: { ...DEFAULT_SCOPE, layers: [...plans[i].quantised] } }).model;
      // the mixed model is the per-plan quantised copy, tensor for tensor
      const mixed = mixedModel(fp, q, plans[i].quantised);
      for (const [n, t] of copy.weights) assert.deepEqual(mixed.weights.get(n)!.data, t.data, n);
      const qe = await engineFor(copy, engine, { log: () => {} });
      try {
        const old = degradations(
          await compareUnits({ reference: ref, treated: qe, texts, window, kl: false, cache, modelKey: 'fp' }),
        );
        const neu = degradations(
          await compareUnits({
            reference: ref,
            treated: sweep.engines[i],
            texts,
            window,
            kl: false,
            cache,
            modelKey: 'fp',
          }),
        );
        let moved = 0;
        for (const [lang, d] of old) {
          const diff = Math.abs(neu.get(lang)!.deltaBpb - d.deltaBpb);
          assert.ok(diff < 1e-6, `${plans[i].label} ${lang}: ΔBPB ${d.deltaBpb} vs ${neu.get(lang)!.deltaBpb}`);
          moved = Math.max(moved, Math.abs(d.deltaBpb));
        }
        assert.ok(moved > 1e-3, `${plans[i].label}: the quantisation changes the scores (the test can fail): ${moved}`);
      } finally {
        await qe.dispose();
      }
    }
    // one full-precision states pass per distinct window, not one per plan
    const windows = new Set<string>();
    assert.ok(sweep.statesComputed() > 0);
    for (const units of texts.values()) for (const u of units) windows.add(u.id);
    assert.ok(sweep.statesComputed() < plans.length * windows.size * 4, String(sweep.statesComputed()));
  } finally {
    await sweep.dispose();
    await ref.dispose();
  }
}

// One session per block structure (weights as feeds): the same numbers, bit for bit, as one session per
// block and weight source, and fewer sessions (each holds an arena of activation buffers).
const SHARED: [string, string][] = [
  ...['gpt2-a', 'llama-a', 'mistral-a', 'qwen2-a', 'gpt_neox-a', 'bloom-a', 'opt-a'].map((n): [string, string] => [
    n,
    join(GOLDEN, 'models', n),
  ]),
  ['gpt2-mini', join(import.meta.dirname, '../../models/gpt2-mini')], // four blocks: three share one session
];
for (const [name, dir] of SHARED) {
  test(`${name}: blocks sharing one session score every variant as separate sessions do`, async () => {
    const fp = loadModel(dir);
    const L = fp.config.numLayers;
    const q = quantizeModel(fp, { spec: { bits: 2, scheme: 'sym', groupSize: 32 }, scope: DEFAULT_SCOPE }).model;
    const plans = layerPlans(L, 'one');
    const rng = new Rng(11);
    const ids = Int32Array.from({ length: 40 }, () => rng.int(fp.config.vocabSize));
    const o = { layout: 'split', threads: 1, weights: 'inputs' } as const;
    const shared = await ortBlockRunner(fp, o);
    const apart = await ortBlockRunner(fp, { ...o, shareSessions: false });
    try {
      const states = await shared.states(ids);
      let moved = 0;
      for (const [i, p] of plans.entries()) {
        const m = () => mixedModel(fp, q, p.quantised);
        const from = p.quantised[0];
        const a = await shared.finish(p.label, m, from, states[from], ids);
        const b = await apart.finish(p.label, m, from, states[from], ids);
        for (let t = 0; t < a.nll.length; t++) assert.ok(Object.is(a.nll[t], b.nll[t]), `${p.label} position ${t}`);
        assert.deepEqual([...a.top1], [...b.top1]);
        if (i === 0) {
          const f = await shared.finish('fp', () => fp, 0, states[0], ids);
          for (let t = 0; t < a.nll.length; t++) moved = Math.max(moved, Math.abs(a.nll[t] - f.nll[t]));
        }
      }
      assert.ok(moved > 1e-3, `quantising block 0 changes the scores (the test can fail): ${moved}`);
      // states and head, then the blocks: every block but the last (which also runs the final norm) has
      // one structure in these models (apart: the quantised version of every block and the
      // full-precision one of every block after the first)
      assert.equal(shared.sessionsCreated(), 4);
      assert.equal(apart.sessionsCreated(), 2 + L + (L - 1)); // block 0 only quantised
    } finally {
      await shared.dispose();
      await apart.dispose();
    }
  });
}

test('gpt2-mini: the sweep (ort, one graph per first block) equals a quantised copy per block', () =>
  sweepAgainstCopies('one', 'ort', 'range'));
test('gpt2-mini: the sweep (ort, one graph per block, chained) equals a quantised copy per block', () =>
  sweepAgainstCopies('one', 'ort', 'split'));
test('gpt2-mini: all blocks but one, ort', () => sweepAgainstCopies('all-but-one', 'ort', 'range'));
test('gpt2-mini: the sweep on the reference engine equals a quantised copy per block', () =>
  sweepAgainstCopies('one', 'reference', 'range'));
