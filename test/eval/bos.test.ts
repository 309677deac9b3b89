// The BOS convention (src/eval/bos.ts, detectBos in src/model/tokenizer.ts) on tokenizer folders
// shaped like GPT-2, OPT, Llama-2/3, Qwen2 and RoBERTa (test/helpers/bos-tokenizers.ts), and what
// @huggingface/tokenizers itself does with their post-processors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bosOffset, describeBos, encodeWithBos, NO_BOS, parseBosMode, resolveBos } from '../../src/eval/bos.ts';
import { describeConvention } from '../../src/eval/windows.ts';
import { CheckpointError, ConfigError } from '../../src/errors.ts';
import { detectBos, loadTokenizer } from '../../src/model/tokenizer.ts';
import { byteIds, writeBosTokenizer, type BosShape } from '../helpers/bos-tokenizers.ts';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'langquant-bos-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

const TEXT = 'Hi there';
const load = (shape: BosShape) => loadTokenizer(writeBosTokenizer(join(dir, shape), shape));

test('the library: encode applies the post-processor only with add_special_tokens, and never reads add_bos_token', async () => {
  const llama = await load('llama');
  assert.deepEqual(llama.encode(TEXT), byteIds(TEXT), 'raw ids by default');
  assert.deepEqual(llama.encode(TEXT, { addSpecialTokens: true }), [1, ...byteIds(TEXT)], 'TemplateProcessing <s> $A');
  const roberta = await load('roberta');
  assert.deepEqual(
    roberta.encode(TEXT, { addSpecialTokens: true }),
    [0, ...byteIds(TEXT), 2],
    'RobertaProcessing: cls … sep',
  );
  const llama3 = await load('llama3');
  assert.deepEqual(
    llama3.encode(TEXT, { addSpecialTokens: true }),
    [0, ...byteIds(TEXT)],
    'Sequence[ByteLevel, TemplateProcessing]',
  );
  // OPT's folder (vocab.json + merges.txt) asks for its BOS only through add_bos_token, which the library ignores.
  const opt = await load('opt');
  assert.deepEqual(opt.encode(TEXT, { addSpecialTokens: true }), byteIds(TEXT));
});

test('auto follows each family: GPT-2 none, OPT </s>, Llama <s>, Llama-3 <|begin_of_text|>, Qwen2 none, RoBERTa <s>', async () => {
  const cases: [BosShape, string | null, number | null, RegExp][] = [
    ['gpt2', null, null, /no add_bos_token .* no leading special token/],
    ['opt', '</s>', 2, /add_bos_token true/],
    ['opt-fast', '</s>', 2, /add_bos_token true/],
    ['llama', '<s>', 1, /add_bos_token true/],
    ['llama3', '<|begin_of_text|>', 0, /Sequence|TemplateProcessing post-processor puts <\|begin_of_text\|> first/],
    ['llama-off', null, null, /add_bos_token false/],
    ['qwen2', null, null, /no add_bos_token/],
    ['roberta', '<s>', 0, /RobertaProcessing post-processor puts <s> first/],
  ];
  for (const [shape, token, id, reason] of cases) {
    const tok = await load(shape);
    const plan = resolveBos(tok, 'auto');
    assert.equal(plan.token, token, shape);
    assert.equal(plan.id, id, shape);
    assert.match(plan.reason, reason, shape);
    const ids = encodeWithBos(tok, TEXT, plan);
    // Exactly one BOS in front, never a trailing EOS/sep, never a doubled BOS.
    assert.deepEqual(ids, id === null ? byteIds(TEXT) : [id, ...byteIds(TEXT)], shape);
    assert.equal(ids.length - bosOffset(plan), byteIds(TEXT).length, shape);
  }
});

test("no double BOS: where the post-processor already adds it, the scored ids equal the library's own encoding", async () => {
  for (const shape of ['llama', 'opt-fast', 'llama3'] as const) {
    const tok = await load(shape);
    const withBos = encodeWithBos(tok, TEXT, resolveBos(tok, 'auto'));
    assert.deepEqual(withBos, tok.encode(TEXT, { addSpecialTokens: true }), shape);
    assert.equal(withBos.filter((i) => i === withBos[0]).length, 1, `${shape}: one BOS`);
  }
});

test('always and never; always without a BOS token is one clear line naming the tokenizer', async () => {
  const gpt2 = await load('gpt2');
  assert.deepEqual(
    encodeWithBos(gpt2, TEXT, resolveBos(gpt2, 'always')),
    [0, ...byteIds(TEXT)],
    'GPT-2: <|endoftext|> when forced',
  );
  const llama = await load('llama');
  assert.deepEqual(encodeWithBos(llama, TEXT, resolveBos(llama, 'never')), byteIds(TEXT));
  const offFirst = await load('llama-off');
  assert.equal(resolveBos(offFirst, 'always').token, '<s>');
  const qwen = await load('qwen2');
  assert.throws(
    () => resolveBos(qwen, 'always'),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message.includes(qwen.source) &&
      /has no BOS token.*use --bos auto or --bos never/.test(e.message) &&
      !e.message.includes('\n'),
  );
  assert.throws(
    () => resolveBos(qwen, 'always', 'params.bos'),
    /params\.bos always cannot prepend one; use params\.bos auto or params\.bos never/,
  );
  assert.throws(
    () => parseBosMode('maybe'),
    (e: Error) => e instanceof ConfigError && /--bos maybe is not a BOS mode; use auto, always, never/.test(e.message),
  );
  assert.deepEqual(encodeWithBos(gpt2, TEXT, NO_BOS), byteIds(TEXT));
  assert.deepEqual(encodeWithBos(gpt2, TEXT), byteIds(TEXT));
});

test('a config asking for a BOS it does not name is a CheckpointError under auto', () => {
  const b = detectBos(null, { add_bos_token: true, bos_token: '<nope>' }, () => undefined);
  assert.equal(b.byDefault, true);
  assert.equal(b.id, null);
  assert.throws(
    () => resolveBos({ bos: b, source: 'x/tokenizer.json' }, 'auto'),
    (e: Error) => e instanceof CheckpointError && /"<nope>" is not in the vocabulary.*--bos never/.test(e.message),
  );
  assert.equal(resolveBos({ bos: b, source: 'x' }, 'never').id, null);
});

test("the built-in models keep today's convention: no BOS under auto", async () => {
  for (const m of ['gpt2-mini', 'opt-mini', 'neox-mini']) {
    const tok = await loadTokenizer(fileURLToPath(new URL(`../../models/${m}/`, import.meta.url)));
    const plan = resolveBos(tok, 'auto');
    assert.equal(plan.id, null, m);
    assert.equal(tok.bos.token, '<|endoftext|>', `${m}: its bos_token is what always would use`);
  }
});

test('the printed convention says which token is unscored', () => {
  assert.match(describeConvention({ context: 8 }), /the first token of each text is never scored\.$/);
  assert.match(
    describeConvention({ context: 8 }, true),
    /the BOS put before the text, is never scored, so every token of the text is\.$/,
  );
  assert.match(
    describeBos({ mode: 'auto', token: '</s>', id: 2, reason: 'tokenizer_config.json: add_bos_token true' }),
    /^BOS: <\/s> \(id 2\) is put before each text \(--bos auto: tokenizer_config\.json: add_bos_token true\)/,
  );
  assert.match(describeBos(NO_BOS), /^BOS: none/);
});
