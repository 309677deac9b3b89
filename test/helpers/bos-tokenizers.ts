// Tiny tokenizer folders reproducing the BOS conventions of real checkpoints (src/eval/bos.ts):
// a byte-level BPE without merges (one id per byte, byte b → id 3 + b) plus the special tokens of
// each family at ids 0–2, with the post-processor and tokenizer_config.json fields those families
// publish. Ids stay below 259, inside the golden models' vocabularies (1000), so a folder plus a
// golden model's config.json and weights is a scorable model.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BYTE_ID_OFFSET = 3;

export type BosShape =
  /** GPT-2 / GPT-NeoX: ByteLevel post-processor, bos_token <|endoftext|>, no add_bos_token → no BOS. */
  | 'gpt2'
  /**
   * facebook/opt-125m: vocab.json + merges.txt, tokenizer_config add_bos_token true, bos_token </s> (an AddedToken
   * object).
   */
  | 'opt'
  /** OPT saved as a fast tokenizer: transformers' GPT2Converter writes TemplateProcessing "</s>:0 $A:0". */
  | 'opt-fast'
  /** Llama-2: TemplateProcessing "<s>:0 $A:0", add_bos_token true, add_eos_token false. */
  | 'llama'
  /** Llama-3: Sequence[ByteLevel, TemplateProcessing "<|begin_of_text|> $A"], no add_bos_token. */
  | 'llama3'
  /**
   * A Llama-style template switched off by add_bos_token false (LlamaTokenizerFast rebuilds its post-processor from
   * it).
   */
  | 'llama-off'
  /** Qwen2: ByteLevel post-processor, bos_token null → no BOS token at all. */
  | 'qwen2'
  /** RoBERTa: RobertaProcessing cls <s> … sep </s>. */
  | 'roberta';

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256, 257, … */
export function byteToUnicode(): string[] {
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return out;
}

const SPECIALS: Record<BosShape, string[]> = {
  gpt2: ['<|endoftext|>', '<pad>', '<unk>'],
  opt: ['<s>', '<pad>', '</s>'],
  'opt-fast': ['<s>', '<pad>', '</s>'],
  llama: ['<unk>', '<s>', '</s>'],
  llama3: ['<|begin_of_text|>', '<|end_of_text|>', '<pad>'],
  'llama-off': ['<unk>', '<s>', '</s>'],
  qwen2: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
  roberta: ['<s>', '<pad>', '</s>'],
};

const addedToken = (content: string) => ({
  __type: 'AddedToken',
  content,
  lstrip: false,
  normalized: false,
  rstrip: false,
  single_word: false,
});
const template = (bos: string, id: number) => ({
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
  pair: [
    { SpecialToken: { id: bos, type_id: 0 } },
    { Sequence: { id: 'A', type_id: 0 } },
    { Sequence: { id: 'B', type_id: 1 } },
  ],
  special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
});
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true };

function postProcessor(shape: BosShape): unknown {
  switch (shape) {
    case 'opt-fast':
      return template('</s>', 2);
    case 'llama':
    case 'llama-off':
      return template('<s>', 1);
    case 'llama3':
      return {
        type: 'Sequence',
        processors: [{ ...byteLevel, trim_offsets: false }, template('<|begin_of_text|>', 0)],
      };
    case 'roberta':
      return {
        type: 'RobertaProcessing',
        sep: ['</s>', 2],
        cls: ['<s>', 0],
        trim_offsets: true,
        add_prefix_space: false,
      };
    default:
      return byteLevel;
  }
}

function tokenizerConfig(shape: BosShape): Record<string, unknown> {
  switch (shape) {
    case 'gpt2':
      return {
        tokenizer_class: 'GPT2TokenizerFast',
        bos_token: '<|endoftext|>',
        eos_token: '<|endoftext|>',
        unk_token: '<|endoftext|>',
        add_prefix_space: false,
      };
    case 'opt':
    case 'opt-fast':
      // As facebook/opt-125m publishes it.
      return {
        errors: 'replace',
        unk_token: addedToken('</s>'),
        bos_token: addedToken('</s>'),
        eos_token: addedToken('</s>'),
        pad_token: addedToken('<pad>'),
        add_prefix_space: false,
        add_bos_token: true,
      };
    case 'llama':
      return {
        tokenizer_class: 'LlamaTokenizer',
        add_bos_token: true,
        add_eos_token: false,
        bos_token: '<s>',
        eos_token: '</s>',
        unk_token: '<unk>',
      };
    case 'llama-off':
      return {
        tokenizer_class: 'LlamaTokenizer',
        add_bos_token: false,
        add_eos_token: false,
        bos_token: '<s>',
        eos_token: '</s>',
        unk_token: '<unk>',
      };
    case 'llama3':
      return {
        tokenizer_class: 'PreTrainedTokenizerFast',
        bos_token: '<|begin_of_text|>',
        eos_token: '<|end_of_text|>',
      };
    case 'qwen2':
      return {
        tokenizer_class: 'Qwen2Tokenizer',
        bos_token: null,
        eos_token: '<|endoftext|>',
        pad_token: '<|endoftext|>',
      };
    case 'roberta':
      return {
        tokenizer_class: 'RobertaTokenizer',
        bos_token: '<s>',
        eos_token: '</s>',
        cls_token: '<s>',
        sep_token: '</s>',
      };
  }
}

/** Writes the tokenizer files of `shape` into `dir` (created if needed) and returns `dir`. */
export function writeBosTokenizer(dir: string, shape: BosShape): string {
  mkdirSync(dir, { recursive: true });
  const vocab: Record<string, number> = {};
  SPECIALS[shape].forEach((t, i) => (vocab[t] = i));
  byteToUnicode().forEach((c, b) => (vocab[c] = BYTE_ID_OFFSET + b));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig(shape)));
  if (shape === 'opt') {
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\n');
    return dir;
  }
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS[shape].map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: postProcessor(shape),
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [],
    },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  return dir;
}

/** The text's ids under these fixtures (no BOS): one per UTF-8 byte. */
export function byteIds(text: string): number[] {
  return [...Buffer.from(text, 'utf8')].map((b) => BYTE_ID_OFFSET + b);
}
