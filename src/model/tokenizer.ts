// Text ↔ token ids for a Hugging Face model folder, through `@huggingface/tokenizers` (tokenizers.js,
// the tokenizer half of transformers.js) reading the folder's `tokenizer.json` (and
// `tokenizer_config.json` when present). Reference: the `tokenizers` library's JSON format,
// huggingface.co/docs/tokenizers/api/tokenizer.
//
// Folders published without tokenizer.json but with GPT-2 style `vocab.json` + `merges.txt`
// (e.g. facebook/opt-125m) get the equivalent byte-level BPE tokenizer built in memory — the same
// conversion transformers performs when it loads such a folder with a fast tokenizer.
//
// Public API:
//   loadTokenizer(dirOrFile) → Promise<TextTokenizer>
//   TextTokenizer.encode(text, opts?)  ids of the text; special tokens (BOS, …) only when
//                                      opts.addSpecialTokens is true (default false: raw text ids)
//   TextTokenizer.decode(ids)          the text back, without cleaning up spaces (so decode ∘ encode = id)
//   TextTokenizer.vocabSize            number of ids, added tokens included
//   TextTokenizer.bosId / eosId        ids of the BOS/EOS tokens named in tokenizer_config.json, if any
// Problems with the files are CheckpointErrors naming the file and what to do.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { CheckpointError } from '../errors.ts';

export interface TextTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[]): string;
  vocabSize: number;
  bosId?: number;
  eosId?: number;
  /** The file the tokenizer was read from (tokenizer.json, or vocab.json for the byte-level fallback). */
  source: string;
}

/** The tokenizer model types tokenizers.js implements. */
export const SUPPORTED_TOKENIZER_MODELS = ['BPE', 'WordPiece', 'Unigram'] as const;

/**
 * Loads the tokenizer of a model folder (or a tokenizer.json file given directly).
 * Async so that a future loader (e.g. one fetching or converting files) keeps the same signature.
 */
export async function loadTokenizer(dirOrFile: string): Promise<TextTokenizer> {
  if (!existsSync(dirOrFile)) {
    throw new CheckpointError(`tokenizer path ${dirOrFile} does not exist; pass a model folder holding tokenizer.json, or the tokenizer.json file itself`);
  }
  const isDir = statSync(dirOrFile).isDirectory();
  const dir = isDir ? dirOrFile : dirname(dirOrFile);
  const file = isDir ? join(dirOrFile, 'tokenizer.json') : dirOrFile;
  const config = readConfig(dir);
  if (!existsSync(file)) {
    if (isDir && existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) {
      return wrap(byteLevelFromVocabMerges(dir, config), config, join(dir, 'vocab.json'));
    }
    throw new CheckpointError(`${dir} has no tokenizer.json (nor vocab.json + merges.txt); copy the model's tokenizer.json into the folder or pass --tokenizer FILE`);
  }
  const json = readJson(file);
  if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof (json as { model?: unknown }).model !== 'object') {
    throw new CheckpointError(`${file} is not a tokenizer.json (no "model" object); use the tokenizer.json saved by the tokenizers library`);
  }
  const model = (json as { model: { type?: unknown } }).model;
  const type = typeof model.type === 'string' ? model.type : inferModelType(model);
  if (!SUPPORTED_TOKENIZER_MODELS.includes(type as (typeof SUPPORTED_TOKENIZER_MODELS)[number])) {
    throw new CheckpointError(`${file}: tokenizer model type "${type}" is not supported (supported: ${SUPPORTED_TOKENIZER_MODELS.join(', ')}); use a model whose tokenizer.json is one of these`);
  }
  // tokenizers.js requires the component keys to exist; files saved by older versions may omit them.
  const full = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...(json as object) };
  return wrap(build(full, config, file), config, file);
}

function build(json: object, config: Record<string, unknown>, file: string): Tokenizer {
  try {
    return new Tokenizer(json, config);
  } catch (e) {
    throw new CheckpointError(`${file}: cannot build the tokenizer (${(e as Error).message}); the file may use a component tokenizers.js lacks`);
  }
}

function wrap(tok: Tokenizer, config: Record<string, unknown>, source: string): TextTokenizer {
  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const idOf = (name: string): number | undefined => {
    const v = config[name];
    const content = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { content?: unknown }).content : undefined;
    return typeof content === 'string' ? tok.token_to_id(content) : undefined;
  };
  return {
    encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
      return tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
    },
    decode(ids: readonly number[]): string {
      return tok.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
    // Ids are 0-based and may have gaps (added tokens); the embedding must cover the largest.
    vocabSize: Math.max(vocab.size, maxId + 1),
    bosId: idOf('bos_token'),
    eosId: idOf('eos_token'),
    source,
  };
}

function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'tokenizer_config.json');
  if (!existsSync(path)) return {};
  const raw = readJson(path);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CheckpointError(`${path} is not a JSON object; download it again`);
  return raw as Record<string, unknown>;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${path} is not valid JSON (${(e as Error).message}); download ${basename(path)} again`);
  }
}

function inferModelType(model: Record<string, unknown>): string {
  // Files saved by early tokenizers versions omit model.type; the fields tell the type apart.
  if ('merges' in model) return 'BPE';
  if (Array.isArray(model.vocab)) return 'Unigram';
  if ('continuing_subword_prefix' in model || 'max_input_chars_per_word' in model) return 'WordPiece';
  return 'unknown';
}

/** GPT-2 style byte-level BPE from vocab.json + merges.txt, as transformers' GPT2 converter builds it. */
function byteLevelFromVocabMerges(dir: string, config: Record<string, unknown>): Tokenizer {
  const vocab = readJson(join(dir, 'vocab.json'));
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new CheckpointError(`${join(dir, 'vocab.json')} is not a JSON object of token → id`);
  const merges = readFileSync(join(dir, 'merges.txt'), 'utf8')
    .split('\n')
    .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
  // Special tokens named in tokenizer_config.json (e.g. OPT's "</s>") are matched whole, as added tokens.
  const specials = new Set<string>();
  for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const v = config[k];
    const content = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { content?: unknown }).content : undefined;
    if (typeof content === 'string' && typeof (vocab as Record<string, unknown>)[content] === 'number') specials.add(content);
  }
  const addedTokens = [...specials].map((content) => ({
    id: (vocab as Record<string, number>)[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: Boolean(config.add_prefix_space ?? false), trim_offsets: true, use_regex: true };
  const json = {
    version: '1.0',
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, vocab, merges },
  };
  return build(json, config, join(dir, 'vocab.json'));
}
