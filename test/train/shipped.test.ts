// The three models shipped in models/: each loads through the model engine, is at most 10 MB, has
// learned (high-resource held-out bits per byte clearly below low-resource and far below 8), and
// scores as models/README.md says — rescored here with the engine (src/eval windows + the reference
// engine), not with the trainer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import { referenceEngine } from '../../src/engine/reference.ts';
import { scoreTokens } from '../../src/eval/score.ts';
import { mixTexts } from '../../src/train/data.ts';
import { makeMix } from '../../src/train/mix.ts';

const MODELS = fileURLToPath(new URL('../../models/', import.meta.url));
// Each model is rescored on one language (a high- and two low-resource ones between them) to stay fast.
const SHIPPED = [
  ['gpt2-mini', 'gpt2', 'cmn'],
  ['opt-mini', 'opt', 'zul'],
  ['neox-mini', 'gpt_neox', 'swh'],
] as const;
const readme = readFileSync(join(MODELS, 'README.md'), 'utf8');

/** The BPB the README's table gives for (language, model column). */
function readmeBpb(lang: string, model: string): number {
  const lines = readme.split('\n');
  const header = lines
    .find((l) => l.startsWith('| language |'))!
    .split('|')
    .map((c) => c.trim());
  const col = header.indexOf(`${model} BPB`);
  const row = lines.find((l) => l.startsWith(`| ${lang} |`));
  assert.ok(col > 0 && row, `README table has ${lang} × ${model}`);
  return Number(row.split('|').map((c) => c.trim())[col]);
}

for (const [name, arch, rescored] of SHIPPED) {
  test(`models/${name}: loads, ≤ 10 MB, has learned, scores as its README says`, async () => {
    const dir = join(MODELS, name);
    assert.ok(statSync(join(dir, 'model.safetensors')).size <= 10 * 1024 * 1024, 'at most 10 MB');
    const model = loadModel(dir);
    assert.equal(model.config.arch, arch);
    const training = JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8'));
    const held: { lang: string; share: number; bitsPerByte: number }[] = training.heldOut;
    const maxShare = Math.max(...held.map((h) => h.share));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const high = mean(held.filter((h) => h.share === maxShare).map((h) => h.bitsPerByte));
    const low = mean(held.filter((h) => h.share > 0 && h.share < maxShare).map((h) => h.bitsPerByte));
    assert.ok(high < low - 0.3, `high-resource mean BPB ${high} should be clearly below low-resource ${low}`);
    assert.ok(high < 5, `high-resource mean BPB ${high} should be far below 8`);

    // Rescore one language with the engine and compare with the README (3 decimals shown).
    const tok = await loadTokenizer(dir);
    const engine = referenceEngine(model);
    const texts = mixTexts(makeMix('shipped', { shares: training.mix.shares }));
    for (const lang of [rescored]) {
      const text = texts.find((t) => t.lang === lang)!.heldOut;
      const ids = tok.encode(text);
      const s = await scoreTokens(engine, ids, { context: model.config.maxPositions! });
      const bpb = s.nllSum / (Buffer.byteLength(text, 'utf8') * Math.LN2);
      assert.ok(
        Math.abs(bpb - readmeBpb(lang, name)) < 0.0006,
        `${name} ${lang}: engine ${bpb.toFixed(4)} vs README ${readmeBpb(lang, name)}`,
      );
    }
  });
}
