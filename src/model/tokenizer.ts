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
//   TextTokenizer.bos                  the model's BOS convention, read from its files (detectBos below);
//                                      src/eval/bos.ts turns it and a --bos mode into what is prepended
//
// BOS and @huggingface/tokenizers (0.2.0). Its Tokenizer.encode applies the tokenizer.json
// post-processor when add_special_tokens is true (its default): TemplateProcessing pushes the
// template's SpecialToken items (Llama's "<s> $A" gives [<s>, …]), BertProcessing and
// RobertaProcessing wrap the text in cls … sep, Sequence chains them, ByteLevel adds nothing. It
// never reads tokenizer_config.json's add_bos_token (OPT's vocab.json + merges.txt folders rely on
// it: transformers' GPT2Converter turns it into a "</s> $A" template). encode() here always passes
// add_special_tokens: false unless asked, so the library adds nothing; the BOS, when the convention
// wants one, is put in front once, by src/eval/bos.ts — never twice, and never a trailing EOS/sep.
// Problems with the files are CheckpointErrors naming the file and what to do.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { CheckpointError } from '../errors.ts';

export interface TextTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[]): string;
  vocabSize: number;
  bosId?: number;
  eosId?: number;
  /** The model's own BOS convention, as its tokenizer files state it (see detectBos). */
  bos: TokenizerBos;
  /** The file the tokenizer was read from (tokenizer.json, or vocab.json for the byte-level fallback). */
  source: string;
}

/** What a tokenizer's files say about a beginning-of-sequence token. */
export interface TokenizerBos {
  /**
   * The BOS token and its id: tokenizer_config.json's bos_token when add_bos_token is true, else the
   * post-processor's leading special token, else tokenizer_config.json's bos_token; null when none
   * of them names a token of the vocabulary.
   */
  token: string | null;
  id: number | null;
  /** Whether the model's own convention puts the BOS before every text (what `--bos auto` follows). */
  byDefault: boolean;
  /** Where that was read, e.g. "tokenizer_config.json: add_bos_token true", for messages and logs. */
  reason: string;
}

/** The tokenizer model types tokenizers.js implements. */
export const SUPPORTED_TOKENIZER_MODELS = ['BPE', 'WordPiece', 'Unigram'] as const;

/**
 * Tokenizers this process has loaded, by their path and the content of the files that define them:
 * a process that runs several jobs (a warm worker, src/pipeline/executor.ts) builds each tokenizer
 * once and keeps what it encoded. A changed file is another key, never a stale hit.
 */
const loaded = new Map<string, TextTokenizer>();
const MAX_LOADED = 8;

/** The files whose bytes decide a tokenizer (those loadTokenizerFiles reads). */
function definingFiles(dir: string, file: string): string[] {
  const files = [join(dir, 'tokenizer_config.json')];
  if (existsSync(file)) files.push(file);
  else files.push(join(dir, 'vocab.json'), join(dir, 'merges.txt'));
  return files.filter((f) => existsSync(f));
}

/**
 * Loads the tokenizer of a model folder (or a tokenizer.json file given directly).
 * Async so that a future loader (e.g. one fetching or converting files) keeps the same signature.
 */
export async function loadTokenizer(dirOrFile: string): Promise<TextTokenizer> {
  if (!existsSync(dirOrFile)) {
    throw new CheckpointError(
      `tokenizer path ${dirOrFile} does not exist; pass a model folder holding tokenizer.json, or the tokenizer.json file itself`,
    );
  }
  const isDir = statSync(dirOrFile).isDirectory();
  const dir = isDir ? dirOrFile : dirname(dirOrFile);
  const file = isDir ? join(dirOrFile, 'tokenizer.json') : dirOrFile;
  const h = createHash('sha256').update(resolve(dirOrFile));
  for (const f of definingFiles(dir, file)) h.update(`\0${basename(f)}\0`).update(readFileSync(f));
  const key = h.digest('hex');
  const hit = loaded.get(key);
  if (hit) return hit;
  const tok = loadTokenizerFiles(dir, file, isDir);
  loaded.set(key, tok);
  if (loaded.size > MAX_LOADED) loaded.delete(loaded.keys().next().value!);
  return tok;
}

function loadTokenizerFiles(dir: string, file: string, isDir: boolean): TextTokenizer {
  const config = readConfig(dir);
  if (!existsSync(file)) {
    if (isDir && existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) {
      return wrap(byteLevelFromVocabMerges(dir, config), config, join(dir, 'vocab.json'), null);
    }
    throw new CheckpointError(
      `${dir} has no tokenizer.json (nor vocab.json + merges.txt); copy the model's tokenizer.json into the folder or pass --tokenizer FILE`,
    );
  }
  const json = readJson(file);
  if (
    typeof json !== 'object' ||
    json === null ||
    Array.isArray(json) ||
    typeof (json as { model?: unknown }).model !== 'object'
  ) {
    throw new CheckpointError(
      `${file} is not a tokenizer.json (no "model" object); use the tokenizer.json saved by the tokenizers library`,
    );
  }
  const model = (json as { model: { type?: unknown } }).model;
  const type = typeof model.type === 'string' ? model.type : inferModelType(model);
  if (!SUPPORTED_TOKENIZER_MODELS.includes(type as (typeof SUPPORTED_TOKENIZER_MODELS)[number])) {
    throw new CheckpointError(
      `${file}: tokenizer model type "${type}" is not supported (supported: ${SUPPORTED_TOKENIZER_MODELS.join(', ')}); use a model whose tokenizer.json is one of these`,
    );
  }
  // tokenizers.js requires the component keys to exist; files saved by older versions may omit them.
  const full = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    added_tokens: [],
    ...(json as object),
  };
  return wrap(build(full, config, file), config, file, (full as { post_processor: unknown }).post_processor);
}

function build(json: object, config: Record<string, unknown>, file: string): Tokenizer {
  try {
    return new Tokenizer(json, config);
  } catch (e) {
    throw new CheckpointError(
      `${file}: cannot build the tokenizer (${(e as Error).message}); the file may use a component tokenizers.js lacks`,
    );
  }
}

/** Bound of a tokenizer's encode memo: ids plus characters of the texts kept (a few tens of MB at most). */
const ENCODE_MEMO_BOUND = 4_000_000;

function wrap(tok: Tokenizer, config: Record<string, unknown>, source: string, postProcessor: unknown): TextTokenizer {
  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const idOf = (name: string): number | undefined => {
    const v = config[name];
    const content =
      typeof v === 'string'
        ? v
        : typeof v === 'object' && v !== null
          ? (v as { content?: unknown }).content
          : undefined;
    return typeof content === 'string' ? tok.token_to_id(content) : undefined;
  };
  // What this tokenizer has encoded (tokenizing is pure): the units of a study are encoded again by
  // every experiment, here once per process. Bounded: cleared when it would pass ENCODE_MEMO_BOUND.
  const memo = new Map<string, number[]>();
  let memoIds = 0;
  return {
    encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
      const special = opts.addSpecialTokens ?? false;
      const k = (special ? '1' : '0') + text;
      const hit = memo.get(k);
      if (hit) return hit.slice();
      const ids = tok.encode(text, { add_special_tokens: special }).ids;
      const cost = ids.length + text.length;
      if (memoIds + cost > ENCODE_MEMO_BOUND) {
        memo.clear();
        memoIds = 0;
      }
      memo.set(k, ids);
      memoIds += cost;
      return ids.slice();
    },
    decode(ids: readonly number[]): string {
      return tok.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
    // Ids are 0-based and may have gaps (added tokens); the embedding must cover the largest.
    vocabSize: Math.max(vocab.size, maxId + 1),
    bosId: idOf('bos_token'),
    eosId: idOf('eos_token'),
    bos: detectBos(postProcessor, config, (t) => tok.token_to_id(t)),
    source,
  };
}

function tokenContent(v: unknown): string | undefined {
  const content =
    typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { content?: unknown }).content : undefined;
  return typeof content === 'string' ? content : undefined;
}

/**
 * The special token a post-processor puts before a single text, or null: the first item of a
 * TemplateProcessing's `single` template when it is a SpecialToken, the `cls` of BertProcessing and
 * RobertaProcessing, the first such token of a Sequence's processors. ByteLevel and unknown types: null.
 */
export function leadingSpecialToken(
  pp: unknown,
  tokenToId: (t: string) => number | undefined,
): { token: string; id: number | null; type: string } | null {
  if (typeof pp !== 'object' || pp === null) return null;
  const p = pp as Record<string, unknown>;
  const idOf = (token: string, ids?: unknown): number | null => {
    if (Array.isArray(ids) && ids.length === 1 && Number.isInteger(ids[0])) return ids[0] as number;
    return tokenToId(token) ?? null;
  };
  switch (p.type) {
    case 'TemplateProcessing': {
      const first = Array.isArray(p.single) ? (p.single[0] as Record<string, unknown> | undefined) : undefined;
      const special =
        first && typeof first === 'object' ? (first.SpecialToken as { id?: unknown } | undefined) : undefined;
      if (!special || typeof special.id !== 'string') return null;
      const entry = (p.special_tokens as Record<string, { ids?: unknown }> | undefined)?.[special.id];
      return { token: special.id, id: idOf(special.id, entry?.ids), type: 'TemplateProcessing' };
    }
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const cls = p.cls;
      if (!Array.isArray(cls) || typeof cls[0] !== 'string') return null;
      return { token: cls[0], id: Number.isInteger(cls[1]) ? (cls[1] as number) : idOf(cls[0]), type: p.type };
    }
    case 'Sequence': {
      for (const sub of Array.isArray(p.processors) ? p.processors : []) {
        const l = leadingSpecialToken(sub, tokenToId);
        if (l) return l;
      }
      return null;
    }
    default:
      return null;
  }
}

/**
 * The BOS convention of a tokenizer, as transformers applies it: tokenizer_config.json's
 * `add_bos_token`, when present, decides (LlamaTokenizerFast rebuilds its post-processor from it,
 * GPT2Tokenizer/OPT prepend `bos_token` when it is true); otherwise the tokenizer.json post-processor
 * does (a leading special token: Llama-3's Sequence[ByteLevel, TemplateProcessing], BERT/RoBERTa's
 * cls); otherwise no BOS (GPT-2, GPT-NeoX, Qwen2, the built-in mini models).
 */
export function detectBos(
  postProcessor: unknown,
  config: Record<string, unknown>,
  tokenToId: (t: string) => number | undefined,
): TokenizerBos {
  const leading = leadingSpecialToken(postProcessor, tokenToId);
  const named = tokenContent(config.bos_token);
  const configBos =
    named !== undefined && tokenToId(named) !== undefined ? { token: named, id: tokenToId(named)! } : null;
  const leadingBos = leading && leading.id !== null ? { token: leading.token, id: leading.id } : null;
  const none = { token: null, id: null };
  const flag = config.add_bos_token;
  if (flag === true) {
    const t = configBos ?? leadingBos;
    const why = t
      ? ''
      : named !== undefined
        ? ` but its bos_token "${named}" is not in the vocabulary`
        : ' but it names no bos_token';
    return { ...(t ?? none), byDefault: true, reason: `tokenizer_config.json: add_bos_token true${why}` };
  }
  if (flag === false)
    return {
      ...(configBos ?? leadingBos ?? none),
      byDefault: false,
      reason: 'tokenizer_config.json: add_bos_token false',
    };
  if (leading) {
    return {
      ...(leadingBos ?? none),
      byDefault: true,
      reason: `tokenizer.json: the ${leading.type} post-processor puts ${leading.token} first${leadingBos ? '' : ', a token not in the vocabulary'}`,
    };
  }
  return {
    ...(configBos ?? none),
    byDefault: false,
    reason: 'no add_bos_token in tokenizer_config.json and no leading special token in the post-processor',
  };
}

function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'tokenizer_config.json');
  if (!existsSync(path)) return {};
  const raw = readJson(path);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CheckpointError(`${path} is not a JSON object; download it again`);
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
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab))
    throw new CheckpointError(`${join(dir, 'vocab.json')} is not a JSON object of token → id`);
  const merges = readFileSync(join(dir, 'merges.txt'), 'utf8')
    .split('\n')
    .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
  // Special tokens named in tokenizer_config.json (e.g. OPT's "</s>") are matched whole, as added tokens.
  const specials = new Set<string>();
  for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const v = config[k];
    const content =
      typeof v === 'string'
        ? v
        : typeof v === 'object' && v !== null
          ? (v as { content?: unknown }).content
          : undefined;
    if (typeof content === 'string' && typeof (vocab as Record<string, unknown>)[content] === 'number')
      specials.add(content);
  }
  const addedTokens = [...specials].map((content) => ({
    id: (vocab as Record<string, number>)[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = {
    type: 'ByteLevel',
    add_prefix_space: Boolean(config.add_prefix_space ?? false),
    trim_offsets: true,
    use_regex: true,
  };
  const json = {
    version: '1.0',
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      vocab,
      merges,
    },
  };
  return build(json, config, join(dir, 'vocab.json'));
}
